"""Plans: mutants described as a base sequence plus ordered edits, not materialised.

A plan keeps every edit's coordinates (a later stage can recompute only the
windows an edit touches) and materialises any row range on demand through
the native splice kernel.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from creme_fast.sequence.splice import EditList, splice

__all__ = ["Plan", "PlanBuilder", "name_key", "stream_keys"]

_MASK63 = np.uint64(2**63 - 1)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised on uint64."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def name_key(name: str) -> int:
    """The stable shuffle key of a locus named ``name`` (the first 7 bytes of its
    sha256): ``creme-fast run`` keys every locus this way, and so do the assays
    given ``names=``/``name=``, so a locus's shuffles depend on its name alone."""
    return int.from_bytes(hashlib.sha256(str(name).encode()).digest()[:7], "little")


def stream_keys(*parts: int | np.ndarray) -> np.ndarray:
    """Native shuffle streams keyed by integer tuples, e.g. (locus, kind, tile, shuffle).

    The same tuple always gives the same stream, whatever else is in the plan or
    the batch, so a mutant's shuffles depend only on what it is.

    Returns
    -------
    numpy.ndarray of int64
        Keys in [0, 2**63), broadcast over the array parts.
    """
    arrays = np.broadcast_arrays(*[np.asarray(p, dtype=np.int64) for p in parts])
    with np.errstate(over="ignore"):
        key = np.full(arrays[0].shape, 0x6A09E667F3BCC909, dtype=np.uint64)
        for part in arrays:
            key = _mix64(key ^ (part.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)))
    return (key & _MASK63).astype(np.int64)


@dataclass
class Plan:
    """A batchable description of mutants.

    Attributes
    ----------
    bases : numpy.ndarray of uint8, shape=(n_bases, L)
    base_index : numpy.ndarray of int64, shape=(M,)
    edits : numpy.ndarray of int64, shape=(E, 5)
        ``(row, op, start, end, arg)`` sorted by row, in application order
        within a row (see :mod:`creme_fast.sequence.splice`).
    pool : numpy.ndarray of uint8
    seed : int
        Native seed of the shuffle edits (their ``arg`` is the stream).
    labels : dict of str to numpy.ndarray
        Per-row descriptors (locus, tile, shuffle, ...) for messages and results.
    parent : numpy.ndarray of int64, shape=(M,), optional
        For incremental evaluation: the row a mutant differs from in a few
        places (necessity: the wild type; sufficiency: its shuffled background),
        or -1. Only a hint: the engine finds where the two rows differ itself,
        so a parent never changes a result, only what is recomputed.
    """

    bases: np.ndarray
    base_index: np.ndarray
    edits: np.ndarray
    pool: np.ndarray
    seed: int = 0
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    parent: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._row_starts = np.searchsorted(self.edits[:, 0], np.arange(self.n_rows + 1))
        if self.parent is None:
            self.parent = np.full(self.n_rows, -1, dtype=np.int64)
        self.parent = np.asarray(self.parent, dtype=np.int64)
        if self.parent.shape != (self.n_rows,):
            raise ValueError(f"parent has shape {self.parent.shape}; expected ({self.n_rows},)")
        bad = (self.parent >= self.n_rows) | (self.parent < -1) | (
            self.parent == np.arange(self.n_rows))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"row {row} has parent {self.parent[row]}, not another row of "
                             f"the plan's {self.n_rows}")

    @property
    def n_rows(self) -> int:
        return int(self.base_index.shape[0])

    @property
    def seq_length(self) -> int:
        return int(self.bases.shape[1])

    def materialize(self, begin: int, end: int, out: np.ndarray | None = None) -> np.ndarray:
        """Tokens of rows ``[begin, end)``, written into ``out[:end - begin]`` if given."""
        lo, hi = int(self._row_starts[begin]), int(self._row_starts[end])
        edits = self.edits[lo:hi].copy()
        edits[:, 0] -= begin
        target = None if out is None else out[: end - begin]
        return splice(self.bases, edits, self.pool, base_index=self.base_index[begin:end],
                      seed=self.seed, out=target)

    def materialize_rows(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Tokens of any rows (in the given order), written into ``out[:len(rows)]`` if given."""
        rows = np.asarray(rows, dtype=np.int64)
        lo, hi = self._row_starts[rows], self._row_starts[rows + 1]
        counts = hi - lo
        # every edit index of the chosen rows, in row order, without a loop
        offsets = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts)
        index = np.arange(int(counts.sum()), dtype=np.int64) + offsets
        edits = self.edits[index].copy()
        edits[:, 0] = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        target = None if out is None else out[: len(rows)]
        return splice(self.bases, edits, self.pool, base_index=self.base_index[rows],
                      seed=self.seed, out=target)

    def describe(self, row: int) -> str:
        """``"locus=3, tile=5, shuffle=2"`` for messages."""
        parts = [f"{k}={v[row]}" for k, v in self.labels.items()]
        return ", ".join(parts) if parts else f"row {row}"

    def edit_windows(self, row: int) -> np.ndarray:
        """``(start, end)`` of every edit of one row: what a mutant changed."""
        lo, hi = self._row_starts[row], self._row_starts[row + 1]
        return self.edits[lo:hi, 2:4].copy()


class PlanBuilder:
    """Vectorised construction of a :class:`Plan`: bases, rows and their labels
    here; edits and the copy pool in an :class:`~creme_fast.sequence.EditList`."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.edits = EditList()
        self._bases: list[np.ndarray] = []
        self._base_index: list[np.ndarray] = []
        self._n_rows = 0
        self._labels: dict[str, list[np.ndarray]] = {}
        self._parent: list[np.ndarray] = []

    def base(self, tokens: np.ndarray) -> int:
        """Add a base sequence; returns its index."""
        self._bases.append(np.ascontiguousarray(tokens, dtype=np.uint8))
        return len(self._bases) - 1

    def source(self, tokens: np.ndarray) -> int:
        """Add tokens to the copy pool; returns the offset of the first."""
        return self.edits.source(np.ascontiguousarray(tokens, dtype=np.uint8).reshape(-1))

    def rows(self, n: int, base: int | np.ndarray, *, parent: int | np.ndarray = -1,
             **labels: int | np.ndarray) -> np.ndarray:
        """Add ``n`` mutants starting from ``base``; returns their row indices.

        ``parent``: the row(s) these mutants differ from in a few places, for
        incremental evaluation (see :class:`Plan`); -1 for none.
        """
        rows = np.arange(self._n_rows, self._n_rows + n, dtype=np.int64)
        self._base_index.append(np.broadcast_to(np.asarray(base, dtype=np.int64), (n,)).copy())
        self._parent.append(np.broadcast_to(np.asarray(parent, dtype=np.int64), (n,)).copy())
        for key, value in labels.items():
            column = np.broadcast_to(np.asarray(value), (n,)).copy()
            self._labels.setdefault(key, [np.full(self._n_rows, -1)] if self._n_rows else [])
            self._labels[key].append(column)
        for key, chunks in self._labels.items():  # keep columns aligned
            if key not in labels:
                chunks.append(np.full(n, -1))
        self._n_rows += n
        return rows

    def rows_of(self, seqs: np.ndarray, **labels: int | np.ndarray) -> np.ndarray:
        """Each sequence of ``seqs`` (n, L) as its own base with one unedited row."""
        bases = np.array([self.base(s) for s in seqs], dtype=np.int64)
        return self.rows(len(bases), bases, **labels)

    def copy(self, rows, start, end, src) -> None:
        """``pool[src:src + end - start]`` into ``[start, end)`` of each row (broadcast)."""
        self.edits.copy(rows, start, end, src)

    def shuffle(self, rows, start, end, stream, mode: str = "fast") -> None:
        """Dinucleotide-shuffle ``[start, end)`` of each row with native stream ``stream``."""
        self.edits.shuffle(rows, start, end, stream, mode)

    def build(self) -> Plan:
        edits, pool = self.edits.build()
        edits = np.ascontiguousarray(edits[np.argsort(edits[:, 0], kind="stable")])
        bases = np.stack(self._bases) if self._bases else np.zeros((0, 0), np.uint8)
        base_index = (np.concatenate(self._base_index) if self._base_index
                      else np.zeros(0, np.int64))
        labels = {k: np.concatenate(v) for k, v in self._labels.items()}
        parent = np.concatenate(self._parent) if self._parent else None
        return Plan(bases=bases, base_index=base_index, edits=edits, pool=pool,
                    seed=self.seed, labels=labels, parent=parent)
