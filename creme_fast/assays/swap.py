"""Test 2, context swap: the TSS tile of one sequence in the context of another."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays._common import (
    AssayResult,
    activity,
    as_loci,
    check_arguments,
    default_tss,
    predict_plan,
)
from creme_fast.pipeline import PlanBuilder
from creme_fast.runtime.base import Predictor

__all__ = ["ContextSwapResult", "context_swap"]


@dataclass
class ContextSwapResult(AssayResult):
    """All-vs-all swap predictions.

    Attributes
    ----------
    pred : numpy.ndarray, shape=(n_sources, n_targets, bins, tracks)
        ``pred[i, j]``: target j's context with source i's TSS tile (the
        diagonal is each sequence unchanged).
    tss_tile : tuple of int
    """

    kind: ClassVar[str] = "context_swap"
    pred: np.ndarray
    tss_tile: tuple[int, int]

    @property
    def activity(self) -> np.ndarray:
        """(n_sources, n_targets, tracks)."""
        return activity(self.pred)

    def to_frame(self) -> pd.DataFrame:
        act = self.activity
        s, t, k = np.meshgrid(*(np.arange(n) for n in act.shape), indexing="ij")
        return pd.DataFrame({"source": s.ravel(), "target": t.ravel(), "track": k.ravel(),
                             "activity": act.ravel()})


def context_swap(predictor: Predictor, sources: Any, targets: Any | None = None, *,
                 tss_tile: Sequence[int] | None = None, tile_size: int = 5000,
                 **options: Any) -> ContextSwapResult:
    """Put every source's TSS tile into every target at the same position.

    Parameters
    ----------
    predictor : Predictor
    sources : tokens (L,) or (n, L)
    targets : tokens, optional
        Default: the sources themselves (all-vs-all).
    tss_tile, tile_size
        The swapped tile (default: the centred tile).
    **options
        Engine options.
    """
    check_arguments(predictor, options, tile_size=tile_size)
    src = as_loci(sources)
    tgt = src if targets is None else as_loci(targets)
    if src.shape[1] != tgt.shape[1]:
        raise ValueError(f"sources are {src.shape[1]} bp but targets {tgt.shape[1]} bp")
    tss = default_tss(src.shape[1], tile_size, tss_tile)
    builder = PlanBuilder()
    bases = [builder.base(t) for t in tgt]
    for i in range(src.shape[0]):
        tile = builder.source(src[i, tss[0]:tss[1]])
        rows = builder.rows(tgt.shape[0], np.array(bases), source=i,
                            target=np.arange(tgt.shape[0]))
        builder.copy(rows, tss[0], tss[1], tile)
    pred = predict_plan(builder.build(), predictor, options, "context swap")
    return ContextSwapResult(pred=pred.reshape(src.shape[0], tgt.shape[0], *pred.shape[1:]),
                             tss_tile=tss)
