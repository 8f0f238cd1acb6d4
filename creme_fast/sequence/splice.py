"""Build a whole batch of mutant sequences from bases and edits in one call.

A mutant is a base sequence plus an ordered list of edits. Edits are rows of
an int64 array with columns ``(row, op, start, end, arg)``:

``OP_COPY``
    Write ``pool[arg:arg + end - start]`` into ``[start, end)``: restore a
    tile from the wild type, insert a tile, take a region of another sequence.
``OP_SHUFFLE_FAST`` / ``OP_SHUFFLE_UNIFORM``
    Dinucleotide-shuffle the current ``[start, end)`` of the row with native
    stream ``(seed, arg)`` ("fast" or "uniform" algorithm, see
    :mod:`creme_fast.sequence.shuffle`).

Edits apply in the order given within a row, so "shuffle the whole sequence,
then put the TSS tile back" is two edits. Because every shuffle names its own
stream, a mutant's bits do not depend on the batch it lands in or on the
thread count.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from creme_fast import _native
from creme_fast._threads import run_chunked
from creme_fast._validate import as_tokens, check_int, check_seed

__all__ = ["OP_COPY", "OP_SHUFFLE_FAST", "OP_SHUFFLE_UNIFORM", "EditList", "splice"]

OP_COPY: int = _native.OP_COPY
OP_SHUFFLE_FAST: int = _native.OP_SHUFFLE_FAST
OP_SHUFFLE_UNIFORM: int = _native.OP_SHUFFLE_UNIFORM
_OPS = (OP_COPY, OP_SHUFFLE_FAST, OP_SHUFFLE_UNIFORM)
_SHUFFLE_OPS = {"fast": OP_SHUFFLE_FAST, "uniform": OP_SHUFFLE_UNIFORM}


@dataclass
class EditList:
    """Accumulates edits and the token pool they copy from.

    Arguments broadcast, so one call can add an edit to many rows. Edits keep
    the order they were added in (splice applies them in that order per row).

    Examples
    --------
    >>> edits = EditList()
    >>> tss = edits.source(wt[95_000:100_000])
    >>> edits.shuffle(row=0, start=0, end=len(wt), stream=0)
    >>> edits.copy(row=0, start=95_000, end=100_000, src=tss)
    >>> batch = splice(wt, *edits.build(), n_rows=1, seed=7)
    """

    _edits: list[np.ndarray] = field(default_factory=list)
    _pool: list[np.ndarray] = field(default_factory=list)
    _pool_size: int = 0

    def source(self, tokens: np.ndarray) -> int:
        """Add tokens to the pool; return the pool offset of their first token."""
        tokens = as_tokens(tokens, "source tokens", ndim=(1,))
        offset = self._pool_size
        self._pool.append(tokens)
        self._pool_size += tokens.shape[0]
        return offset

    def _add(self, row, op, start, end, arg) -> None:
        cols = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64)
                                     for v in (row, op, start, end, arg)))
        self._edits.append(np.stack([c.reshape(-1) for c in cols], axis=1))

    def copy(self, row, start, end, src) -> None:
        """Copy ``pool[src:src + end - start]`` into ``[start, end)`` of ``row``."""
        self._add(row, OP_COPY, start, end, src)

    def shuffle(self, row, start, end, stream, mode: str = "fast") -> None:
        """Dinucleotide-shuffle ``[start, end)`` of ``row`` with native stream ``stream``."""
        if mode not in _SHUFFLE_OPS:
            raise ValueError(f"mode must be 'fast' or 'uniform', got {mode!r}")
        self._add(row, _SHUFFLE_OPS[mode], start, end, stream)

    def build(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(edits, pool)``: int64 (E, 5) in insertion order and uint8 (P,)."""
        edits = (np.concatenate(self._edits) if self._edits
                 else np.zeros((0, 5), dtype=np.int64))
        pool = np.concatenate(self._pool) if self._pool else np.zeros(0, dtype=np.uint8)
        return edits, pool


def _check_edits(edits: np.ndarray, n_rows: int, length: int, pool_size: int) -> None:
    """Vectorised validation; names the first bad edit."""
    row, op, start, end, arg = edits.T

    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise ValueError(f"edit {i} {tuple(int(v) for v in edits[i])} (row, op, start, "
                             f"end, arg): {what}")

    fail((row < 0) | (row >= n_rows), f"row outside [0, {n_rows})")
    fail(~np.isin(op, _OPS), f"unknown op; expected one of {_OPS}")
    fail((start < 0) | (end < start) | (end > length),
         f"region is not inside a sequence of length {length}")
    is_copy = op == OP_COPY
    fail(is_copy & ((arg < 0) | (arg + (end - start) > pool_size)),
         f"copy source runs outside the pool of {pool_size} tokens")
    fail(~is_copy & (arg < 0), "shuffle stream must be >= 0")


def splice(bases: np.ndarray, edits: np.ndarray, pool: np.ndarray | None = None, *,
           base_index: np.ndarray | None = None, n_rows: int | None = None,
           seed: int = 0, out: np.ndarray | None = None, n_threads: int = 1) -> np.ndarray:
    """Materialise a batch of mutants.

    Parameters
    ----------
    bases : numpy.ndarray of uint8, shape=(L,) or (n_bases, L)
        Sequences the mutants start from.
    edits : numpy.ndarray of int64, shape=(E, 5)
        Columns ``(row, op, start, end, arg)``; see the module docstring.
    pool : numpy.ndarray of uint8, shape=(P,), optional
        Tokens that ``OP_COPY`` edits copy from.
    base_index : numpy.ndarray of int, shape=(B,), optional
        Which base each row starts from; default all zeros.
    n_rows : int, optional
        Number of mutants B when ``base_index`` is not given; default
        ``max(edits.row) + 1``.
    seed : int, default=0
        Native seed of the shuffle edits.
    out : numpy.ndarray of uint8, shape=(B, L), optional
        C-contiguous buffer to write into (reused across batches).
    n_threads : int, default=1
        Threads over rows; results do not depend on it.

    Returns
    -------
    numpy.ndarray of uint8, shape=(B, L)
    """
    bases = as_tokens(bases, "bases")
    if bases.ndim == 1:
        bases = bases.reshape(1, -1)
    length = bases.shape[1]
    pool = np.zeros(0, dtype=np.uint8) if pool is None else as_tokens(pool, "pool", ndim=(1,))
    edits = np.asarray(edits)
    if edits.ndim != 2 or edits.shape[1] != 5 or (edits.size and edits.dtype.kind not in "iu"):
        raise ValueError(f"edits must be an integer array of shape (E, 5), got "
                         f"{edits.dtype} {edits.shape}")
    edits = np.ascontiguousarray(edits, dtype=np.int64)
    seed = check_seed(seed)
    n_threads = check_int(n_threads, "n_threads", minimum=1)
    if base_index is None:
        if n_rows is None:
            n_rows = int(edits[:, 0].max()) + 1 if edits.shape[0] else 0
        n_rows = check_int(n_rows, "n_rows", minimum=0)
        base_index = np.zeros(n_rows, dtype=np.int64)
    else:
        base_index = np.ascontiguousarray(base_index, dtype=np.int64).reshape(-1)
        if n_rows is not None and n_rows != base_index.shape[0]:
            raise ValueError(f"n_rows={n_rows} but base_index has {base_index.shape[0]} rows")
        n_rows = base_index.shape[0]
        bad = np.flatnonzero((base_index < 0) | (base_index >= bases.shape[0]))
        if bad.size:
            raise ValueError(f"base_index[{bad[0]}] = {base_index[bad[0]]} is outside "
                             f"[0, {bases.shape[0]})")
    _check_edits(edits, n_rows, length, pool.shape[0])
    if out is None:
        out = np.empty((n_rows, length), dtype=np.uint8)
    elif (out.shape != (n_rows, length) or out.dtype != np.uint8
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous uint8 array of shape "
                         f"{(n_rows, length)}, got {out.dtype} {out.shape}")
    order = np.argsort(edits[:, 0], kind="stable")
    edits = np.ascontiguousarray(edits[order])
    is_shuffle = edits[:, 1] != OP_COPY
    max_region = int((edits[is_shuffle, 3] - edits[is_shuffle, 2]).max()) if is_shuffle.any() else 0
    row_starts = np.searchsorted(edits[:, 0], np.arange(n_rows + 1), side="left")

    def work(begin: int, stop: int) -> None:
        _native.splice(bases, base_index, pool, edits, seed, out, begin, stop,
                       int(row_starts[begin]), int(row_starts[stop]), max_region)

    run_chunked(work, n_rows, n_threads)
    return out
