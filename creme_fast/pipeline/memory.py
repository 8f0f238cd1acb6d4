"""What a batch costs in memory, and the budget it must fit."""
from __future__ import annotations

import re

import numpy as np

__all__ = ["DEFAULT_BATCH_BUDGET", "batch_bytes", "format_bytes", "parse_bytes"]

DEFAULT_BATCH_BUDGET = 4 << 30  # 4 GiB


def batch_bytes(batch_size: int, seq_length: int, input_kind: str, input_dtype: object,
                n_outputs: int, prefetch: int = 2) -> int:
    """Bytes the engine holds for batches of ``batch_size``: ``prefetch + 1`` slots of
    uint8 tokens and, for a one-hot model, of one-hot input, plus one batch of
    outputs (``n_outputs`` = bins x tracks floats per sequence). The model's own
    working memory comes on top (for Enformer on CPU, of the same order per
    sequence as its one-hot input)."""
    slots = prefetch + 1
    per_seq = seq_length  # tokens
    if input_kind == "onehot":
        itemsize = np.dtype(input_dtype).itemsize if input_dtype is not None else 4
        per_seq += 4 * seq_length * itemsize
    return batch_size * (slots * per_seq + 4 * n_outputs)


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int:
    """``"4G"``, ``"512M"``, ``"1.5G"`` or a byte count -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 4G, 512M)")
    value = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if value < 1:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover
