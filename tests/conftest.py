"""Shared helpers for the test suite."""
from __future__ import annotations

import logging

import numpy as np
import pytest


def dinuc_counts(tokens: np.ndarray, k_alpha: int = 5) -> np.ndarray:
    """(k_alpha, k_alpha) counts of adjacent pairs, for each row of tokens."""
    tokens = np.atleast_2d(tokens).astype(np.int64)
    pairs = tokens[:, :-1] * k_alpha + tokens[:, 1:]
    return np.stack([np.bincount(p, minlength=k_alpha * k_alpha) for p in pairs])


def random_tokens(rng: np.random.RandomState, length: int, *, n_runs: int = 0,
                  absent: int | None = None) -> np.ndarray:
    """Random tokens with optional runs of N and an optional base left out."""
    bases = [b for b in range(4) if b != absent]
    tokens = rng.choice(bases, size=length).astype(np.uint8)
    for _ in range(n_runs):
        if length < 2:
            break
        start = rng.randint(0, length - 1)
        tokens[start:start + rng.randint(1, max(2, length // 10))] = 4
    return tokens


@pytest.fixture
def rs() -> np.random.RandomState:
    return np.random.RandomState(1234)


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """pytest's caplog, also fed by the ``creme_fast`` logger, which the CLI stops
    from propagating to the root logger (where caplog listens)."""
    package = logging.getLogger("creme_fast")
    package.addHandler(caplog.handler)
    yield caplog
    package.removeHandler(caplog.handler)
