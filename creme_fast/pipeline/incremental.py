"""Incremental evaluation of a plan: recompute only the trunk rows a mutant changes.

Rows that are some mutant's parent run first, through the trunk at full length
and the tower; their trunk rows are cached (at most ``trunk_cache_gb``; more
parents are taken in chunks). For each of their mutants the producer thread
compares the mutant's tokens with its parent's, derives the changed trunk rows
from the trunk's receptive field, and cuts aligned windows that recompute them
exactly; windows of many mutants and loci go through the trunk in one batch.
The consumer splices the new rows into a copy of the parent's and runs the
tower. A mutant whose windows would cover more than
:data:`MAX_WINDOW_FRACTION` of the sequence, and every row without a parent,
takes the full path (the main graph).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from creme_fast.pipeline.plan import Plan
from creme_fast.pipeline.stats import PipelineStats
from creme_fast.runtime.base import Predictor
from creme_fast.runtime.incremental import Incremental, incremental_of
from creme_fast.sequence.tokens import one_hot

log = logging.getLogger(__name__)

__all__ = ["MAX_WINDOW_FRACTION", "IncrementalBatches", "resolve_incremental"]

MAX_WINDOW_FRACTION = 0.5  # above this the full pass is about as cheap


def resolve_incremental(predictor: Predictor, incremental: bool | str) -> Incremental | None:
    """The incremental interface to use for ``incremental=True/False/"auto"``."""
    if incremental not in (True, False, "auto"):
        raise ValueError(f"incremental must be True, False or 'auto', got {incremental!r}")
    if incremental is False:
        return None
    try:
        inc = incremental_of(predictor)
    except (OSError, ValueError) as exc:  # pieces named by the export but missing or altered
        if incremental is True:
            raise
        log.warning("%s; running full passes", exc)
        return None
    if inc is None and incremental is True:
        raise ValueError("incremental=True, but the model offers no incremental evaluation "
                         "(export it with creme-fast >= this version, without "
                         "--no-incremental)")
    return inc


@dataclass
class _Item:
    kind: str  # "full", "parents" or "children"
    rows: np.ndarray
    batch: np.ndarray
    chunk: int = -1
    parent_slot: np.ndarray | None = None
    windows: tuple[np.ndarray, ...] | None = None  # (mutant, row_lo, row_hi, row_offset)


def _chunks(plan: Plan, cache_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(parents, children) per chunk of at most ``cache_rows`` parents."""
    parent = plan.parent
    parents = np.unique(parent[parent >= 0])
    is_parent = np.zeros(plan.n_rows, dtype=bool)
    is_parent[parents] = True
    for k in range(0, len(parents), cache_rows):
        chunk = parents[k:k + cache_rows]
        mine = np.flatnonzero(np.isin(parent, chunk) & ~is_parent)
        yield chunk, mine[np.argsort(parent[mine], kind="stable")]


class IncrementalBatches:
    """Rows of ``plan`` with the incremental path for those that have a parent.

    Batches come in this order: rows that neither have a parent nor are one
    (through the whole model), then, per chunk of at most the cache's rows of
    parents, the parents (full trunk, rows cached, tower) and their mutants
    (windows through the trunk, spliced into a copy of the parent's rows,
    tower). A mutant whose windows would cover more than
    :data:`MAX_WINDOW_FRACTION` of the sequence goes through the whole model.

    Parameters
    ----------
    plan : Plan
    predictor : Predictor
        Runs the rows that take the full path.
    inc : Incremental
        The predictor's trunk and tower.
    batch_size : int
    trunk_cache_gb : float
        Memory for cached parent trunk rows.
    stats : PipelineStats
        Gets build times, parents, incremental mutants and the work avoided.
    """

    def __init__(self, plan: Plan, predictor: Predictor, inc: Incremental, batch_size: int,
                 trunk_cache_gb: float, stats: PipelineStats) -> None:
        g = inc.geometry
        if g.seq_length != plan.seq_length:
            raise ValueError(f"the model's trunk covers {g.seq_length:,} bp but the sequences "
                             f"are {plan.seq_length:,} bp")
        if trunk_cache_gb <= 0:
            raise ValueError(f"trunk_cache_gb must be positive, got {trunk_cache_gb}")
        self.plan, self.predictor, self.inc, self.stats = plan, predictor, inc, stats
        self.batch_size = batch_size
        self.geometry = g
        self.cache_rows = max(1, int(trunk_cache_gb * 2**30 // (g.rows * g.channels * 4)))
        onehot = inc.input_kind == "onehot"
        self.dtype = (np.dtype(getattr(inc, "input_dtype", np.float32)) if onehot
                      else np.dtype(np.uint8))
        self.full_dtype = np.dtype(getattr(predictor, "input_dtype", np.float32))
        self.flops_per_bp = float(getattr(inc, "trunk_flops_per_bp", 0.0) or 0.0)
        parent = plan.parent
        has_parent = parent >= 0
        self.is_parent = np.zeros(plan.n_rows, dtype=bool)
        self.is_parent[parent[has_parent]] = True
        self.lonely = np.flatnonzero(~has_parent & ~self.is_parent)
        # the calling thread's state: the cache of the current chunk's parent rows
        self.n_cached = min(self.cache_rows, int(self.is_parent.sum()))
        self.cache: np.ndarray | None = None
        self.cache_chunk, self.filled = -1, 0

    # --- the producer thread ----------------------------------------------------

    def batches(self, stop: threading.Event) -> Iterator[_Item]:
        plan, batch_size = self.plan, self.batch_size
        yield from self._full(self.lonely)
        for c, (chunk, children) in enumerate(_chunks(plan, self.cache_rows)):
            parent_tokens = np.empty((len(chunk), plan.seq_length), dtype=np.uint8)
            for b in range(0, len(chunk), batch_size):
                part = chunk[b:b + batch_size]
                parent_tokens[b:b + len(part)] = self._tokens(part)
                yield _Item("parents", part, self._encode(parent_tokens[b:b + len(part)],
                                                          self.dtype), chunk=c)
            for b in range(0, len(children), batch_size):
                if stop.is_set():
                    return
                yield from self._children(children[b:b + batch_size], chunk, parent_tokens, c)

    def _encode(self, tokens: np.ndarray, as_dtype: np.dtype) -> np.ndarray:
        if as_dtype == np.uint8:
            return np.ascontiguousarray(tokens)
        return one_hot(tokens, dtype=as_dtype)

    def _tokens(self, rows: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        tokens = self.plan.materialize_rows(rows)
        self.stats.splice_s += time.perf_counter() - t0
        return tokens

    def _full(self, rows: np.ndarray, tokens: np.ndarray | None = None) -> Iterator[_Item]:
        for b in range(0, len(rows), self.batch_size):
            part = rows[b:b + self.batch_size]
            toks = self._tokens(part) if tokens is None else tokens[b:b + self.batch_size]
            t0 = time.perf_counter()
            batch = self._encode(toks, self.full_dtype)
            self.stats.one_hot_s += time.perf_counter() - t0
            yield _Item("full", part, batch)

    def _children(self, part: np.ndarray, parents: np.ndarray, parent_tokens: np.ndarray,
                  chunk: int) -> Iterator[_Item]:
        plan, g, stats = self.plan, self.geometry, self.stats
        tokens = self._tokens(part)
        t0 = time.perf_counter()
        slots = np.searchsorted(parents, plan.parent[part])  # parents are sorted
        mutant, row_lo, row_hi, w0, w1 = g.windows(tokens, parent_tokens[slots])
        covered = np.bincount(mutant, weights=w1 - w0, minlength=len(part))
        too_wide = covered > MAX_WINDOW_FRACTION * plan.seq_length
        if too_wide.any():
            keep = ~too_wide[mutant]
            mutant, row_lo, row_hi, w0, w1 = (a[keep] for a in (mutant, row_lo, row_hi, w0, w1))
        ok = np.flatnonzero(~too_wide)
        if ok.size:
            # one window width per batch: widen each window, staying inside the sequence
            width = int((w1 - w0).max()) if w0.size else g.stride
            start = np.minimum(w0, plan.seq_length - width)
            windows = tokens[mutant[:, None], start[:, None] + np.arange(width)]
            remap = np.full(len(part), -1, dtype=np.int64)
            remap[ok] = np.arange(ok.size)
            batch = (self._encode(windows, self.dtype) if windows.size
                     else np.zeros((0,), self.dtype))
            avoided = ok.size * plan.seq_length - windows.shape[0] * width
            stats.trunk_bp_avoided += int(avoided)
            stats.flops_avoided += self.flops_per_bp * float(avoided)
            stats.one_hot_s += time.perf_counter() - t0
            yield _Item("children", part[ok], batch, chunk=chunk, parent_slot=slots[ok],
                        windows=(remap[mutant], row_lo, row_hi, start // g.stride))
        if too_wide.any():
            yield from self._full(part[too_wide], tokens[too_wide])

    # --- the calling thread -----------------------------------------------------

    def predict(self, item: _Item) -> np.ndarray:
        inc, stats = self.inc, self.stats
        if item.kind == "full":
            return self.predictor.predict(item.batch)
        if item.kind == "parents":
            if item.chunk != self.cache_chunk:
                self.cache, self.cache_chunk, self.filled = None, item.chunk, 0
            rows = inc.trunk(item.batch)
            if self.cache is None:
                self.cache = np.empty((self.n_cached,) + rows.shape[1:], dtype=np.float32)
            self.cache[self.filled:self.filled + len(rows)] = rows
            self.filled += len(rows)
            stats.n_parents += len(rows)
            return inc.tower(rows)
        tower_in = self.cache[item.parent_slot]
        if item.batch.size:
            mutant, row_lo, row_hi, offset = item.windows
            new_rows = inc.trunk(item.batch)
            counts = row_hi - row_lo
            window = np.repeat(np.arange(len(counts)), counts)
            dest = np.arange(int(counts.sum())) - np.repeat(
                np.cumsum(counts) - counts, counts) + row_lo[window]
            tower_in[mutant[window], dest] = new_rows[window, dest - offset[window]]
        stats.n_incremental += len(item.rows)
        return inc.tower(tower_in)
