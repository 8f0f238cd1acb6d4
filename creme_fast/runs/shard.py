"""``--shard K/N``: a deterministic split of a run's loci by line.

The selected rows of the TSS table (after ``--query`` and ``--top``, which see the
whole table), in the order an unsharded run takes them (the order of their lines in
the file; under ``--top``, rank order, ties in line order), are dealt out in turn:
the first to shard 1, the second to shard 2, ..., the N-th to shard N, the (N+1)-th
to shard 1 again. The N shards together hold every selected row exactly once; the
same file and options always give the same split, and ``creme-fast merge`` deals
them back into the unsharded order. A shard may be empty (a normal outcome: its run
directory holds an empty summary).
"""
from __future__ import annotations

import argparse

import pandas as pd

__all__ = ["MAX_SHARDS", "parse_shard", "shard_rows"]

MAX_SHARDS = 1_000_000  # more shards than any table has rows is a typo


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` with ``1 <= K <= N`` -> ``(K, N)``."""
    k, sep, n = text.partition("/")
    try:
        if not sep:
            raise ValueError
        shard, count = int(k), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not K/N: {text!r} (e.g. 3/10: the third of ten "
                                         "shards)") from None
    if count > MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"{text}: at most {MAX_SHARDS:,} shards (N)")
    if count < 1 or not 1 <= shard <= count:
        raise argparse.ArgumentTypeError(f"{text}: K must be between 1 and N (N >= 1)")
    return shard, count


def shard_rows(table: pd.DataFrame, shard: int, count: int) -> pd.DataFrame:
    """Shard ``shard`` of ``count`` of the selected rows ``table``, in their order
    (see the module docstring)."""
    return table.iloc[list(range(shard - 1, len(table), count))].reset_index(drop=True)
