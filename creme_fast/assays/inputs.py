"""A test's inputs as the engine takes them: loci as tokens, tiles, stream keys, labels.

Every design normalises its inputs with these, so a test given the wrong thing
fails the same way whichever test it is.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from creme_fast._validate import as_tokens
from creme_fast.pipeline.plan import name_key
from creme_fast.sequence.tiles import tile_layout
from creme_fast.sequence.tokens import encode

__all__ = ["as_loci", "as_tile", "as_tiles", "default_tss", "locus_keys", "run_label",
           "single_key"]


def as_loci(seqs: object) -> np.ndarray:
    """One or several sequences (tokens or strings) as (n_loci, L) uint8."""
    if isinstance(seqs, (str, bytes)):
        seqs = encode(seqs)[None]
    elif isinstance(seqs, (list, tuple)) and seqs and isinstance(seqs[0], (str, bytes)):
        seqs = np.stack([encode(s) for s in seqs])
    tokens = as_tokens(seqs, "seqs")
    return tokens[None] if tokens.ndim == 1 else tokens


def as_tile(tile: Sequence[int], length: int, name: str) -> tuple[int, int]:
    """Validate ``(start, end)`` inside a sequence: whole numbers, never truncated."""
    if not hasattr(tile, "__len__") or len(tile) != 2:
        raise ValueError(f"{name} must be (start, end), got {tile!r}")
    for v in tile:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise ValueError(f"{name} must be whole numbers (start, end), got {tuple(tile)!r}")
    start, end = (int(v) for v in tile)
    if not 0 <= start < end <= length:
        raise ValueError(f"{name} [{start}, {end}) is not inside a sequence of {length} bp")
    return start, end


def as_tiles(tiles: object, length: int, tile_size: int) -> np.ndarray:
    """Tiles ``(n, 2)``; None gives the paper's layout without the TSS tile. An
    empty set (given, or a ``tile_size`` that leaves no tile beside the TSS tile)
    is a ValueError."""
    if tiles is None:
        out = tile_layout(length, tile_size).tiles
        if not len(out):
            raise ValueError(f"tile_size {tile_size} leaves no tile beside the TSS tile in "
                             f"a {length:,} bp sequence; give a smaller tile_size")
        return out
    raw = tiles if isinstance(tiles, np.ndarray) else np.asarray(tiles, dtype=object)
    if raw.size == 0:
        raise ValueError("tiles is empty: give at least one (start, end), or None for the "
                         "paper's layout")
    if raw.ndim == 1 and raw.size == 2:
        raw = raw.reshape(1, 2)
    if raw.ndim != 2 or raw.shape[1] != 2:
        raise ValueError(f"tiles must be (start, end) pairs, got shape {raw.shape}")
    return np.array([as_tile(tuple(t), length, f"tiles[{i}]") for i, t in enumerate(raw)],
                    dtype=np.int64).reshape(-1, 2)


def default_tss(length: int, tile_size: int, tss_tile: Sequence[int] | None) -> tuple[int, int]:
    """``tss_tile`` checked, else the layout's centred tile of ``tile_size``."""
    if tss_tile is None:
        return tile_layout(length, tile_size).tss
    return as_tile(tss_tile, length, "tss_tile")


def locus_keys(n_loci: int, keys: Sequence[int] | None,
               names: Sequence[str] | None = None) -> np.ndarray:
    """Per-locus stream keys: from ``names`` (a hash of each name, as ``creme-fast
    run`` keys its loci), else ``keys``, else 0..n-1. Stable keys make a locus's
    shuffles independent of which other loci share the call."""
    if names is not None:
        if keys is not None:
            raise ValueError("give names or locus_keys_, not both")
        if isinstance(names, str):
            names = [names]
        names = [str(n) for n in names]
        if len(names) != n_loci:
            raise ValueError(f"names has {len(names)} names for {n_loci} sequences")
        return np.array([name_key(n) for n in names], dtype=np.int64)
    if keys is None:
        return np.arange(n_loci, dtype=np.int64)
    arr = np.asarray(keys, dtype=np.int64).reshape(-1)
    if arr.shape[0] != n_loci:
        raise ValueError(f"locus_keys has {arr.shape[0]} keys for {n_loci} sequences")
    return arr


def single_key(locus_key: int, name: str | None) -> int:
    """A one-locus assay's stream key: ``name``'s (as :func:`locus_keys`), else
    ``locus_key``."""
    if name is None:
        return int(locus_key)
    if locus_key != 0:
        raise ValueError("give name or locus_key, not both")
    return name_key(str(name))


def run_label(test: str, names: Sequence[str] | None, n_loci: int = 1,
              key: int | None = None) -> str:
    """Progress label naming the test and the locus (or loci)."""
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        where = (names[0] if len(names) == 1 else
                 f"{names[0]}..{names[-1]} ({len(names)} loci)")
    elif n_loci != 1:
        where = f"{n_loci} loci"
    else:
        where = f"locus {key if key is not None else 0}"
    return f"{test} {where}"
