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
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from creme_fast.pipeline.plan import Plan
from creme_fast.runtime.base import Predictor
from creme_fast.runtime.incremental import Incremental, incremental_of
from creme_fast.sequence.tokens import one_hot

if TYPE_CHECKING:
    from creme_fast.pipeline.engine import PipelineStats

log = logging.getLogger(__name__)

__all__ = ["MAX_WINDOW_FRACTION", "resolve_incremental", "run_incremental"]

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


def run_incremental(plan: Plan, predictor: Predictor, inc: Incremental, *, batch_size: int,
                    bins: Sequence[int] | None, tracks: Sequence[int] | None, prefetch: int,
                    progress: Any, stats: PipelineStats, trunk_cache_gb: float) -> np.ndarray:
    """Predict every row of ``plan``; see the module docstring. Returns (M, bins, tracks)."""
    from creme_fast.pipeline.engine import check_predictions, produced

    g = inc.geometry
    if g.seq_length != plan.seq_length:
        raise ValueError(f"the model's trunk covers {g.seq_length:,} bp but the sequences are "
                         f"{plan.seq_length:,} bp")
    if trunk_cache_gb <= 0:
        raise ValueError(f"trunk_cache_gb must be positive, got {trunk_cache_gb}")
    row_bytes = g.rows * g.channels * 4
    cache_rows = max(1, int(trunk_cache_gb * 2**30 // row_bytes))
    onehot = inc.input_kind == "onehot"
    dtype = np.dtype(getattr(inc, "input_dtype", np.float32)) if onehot else np.dtype(np.uint8)
    full_dtype = np.dtype(getattr(predictor, "input_dtype", np.float32))
    flops_per_bp = float(getattr(inc, "trunk_flops_per_bp", 0.0) or 0.0)
    parent = plan.parent
    has_parent = parent >= 0
    is_parent = np.zeros(plan.n_rows, dtype=bool)
    is_parent[parent[has_parent]] = True
    lonely = np.flatnonzero(~has_parent & ~is_parent)
    work: queue.Queue[_Item | BaseException | None] = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()

    def encode(tokens: np.ndarray, as_dtype: np.dtype) -> np.ndarray:
        if as_dtype == np.uint8:
            return np.ascontiguousarray(tokens)
        return one_hot(tokens, dtype=as_dtype)

    def put(item: _Item) -> None:
        while not stop.is_set():
            try:
                work.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def timed_tokens(rows: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        tokens = plan.materialize_rows(rows)
        stats.splice_s += time.perf_counter() - t0
        return tokens

    def full_items(rows: np.ndarray, tokens: np.ndarray | None = None) -> None:
        for b in range(0, len(rows), batch_size):
            part = rows[b:b + batch_size]
            toks = timed_tokens(part) if tokens is None else tokens[b:b + batch_size]
            t0 = time.perf_counter()
            batch = encode(toks, full_dtype)
            stats.one_hot_s += time.perf_counter() - t0
            put(_Item("full", part, batch))

    def produce() -> None:
        try:
            full_items(lonely)
            for c, (chunk, children) in enumerate(_chunks(plan, cache_rows)):
                parent_tokens = np.empty((len(chunk), plan.seq_length), dtype=np.uint8)
                for b in range(0, len(chunk), batch_size):
                    part = chunk[b:b + batch_size]
                    parent_tokens[b:b + len(part)] = timed_tokens(part)
                    put(_Item("parents", part, encode(parent_tokens[b:b + len(part)], dtype),
                              chunk=c))
                for b in range(0, len(children), batch_size):
                    if stop.is_set():
                        return
                    part = children[b:b + batch_size]
                    child_items(part, chunk, parent_tokens, c)
            put(None)
        except BaseException as exc:  # surfaces in the consumer
            put(exc)

    def child_items(part: np.ndarray, parents: np.ndarray, parent_tokens: np.ndarray,
                    chunk: int) -> None:
        tokens = timed_tokens(part)
        t0 = time.perf_counter()
        slots = np.searchsorted(parents, parent[part])  # parents are sorted
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
            batch = encode(windows, dtype) if windows.size else np.zeros((0,), dtype)
            stats.trunk_bp_avoided += int(ok.size * plan.seq_length - windows.shape[0] * width)
            stats.flops_avoided += flops_per_bp * float(
                ok.size * plan.seq_length - windows.shape[0] * width)
            stats.one_hot_s += time.perf_counter() - t0
            put(_Item("children", part[ok], batch, chunk=chunk, parent_slot=slots[ok],
                      windows=(remap[mutant], row_lo, row_hi, start // g.stride)))
        if too_wide.any():
            full_items(part[too_wide], tokens[too_wide])

    results: np.ndarray | None = None
    cache: np.ndarray | None = None
    cache_chunk, filled = -1, 0
    n_cached = min(cache_rows, int(is_parent.sum()))
    producer = threading.Thread(target=produce, name="creme-fast-producer", daemon=True)
    producer.start()
    try:
        for item in produced(work, stats):
            t0 = time.perf_counter()
            if item.kind == "full":
                pred = predictor.predict(item.batch)
            elif item.kind == "parents":
                if item.chunk != cache_chunk:
                    cache, cache_chunk, filled = None, item.chunk, 0
                rows = inc.trunk(item.batch)
                if cache is None:
                    cache = np.empty((n_cached,) + rows.shape[1:],
                                     dtype=np.float32)
                cache[filled:filled + len(rows)] = rows
                filled += len(rows)
                stats.n_parents += len(rows)
                pred = inc.tower(rows)
            else:
                tower_in = cache[item.parent_slot]
                if item.batch.size:
                    mutant, row_lo, row_hi, offset = item.windows
                    new_rows = inc.trunk(item.batch)
                    counts = row_hi - row_lo
                    window = np.repeat(np.arange(len(counts)), counts)
                    dest = np.arange(int(counts.sum())) - np.repeat(
                        np.cumsum(counts) - counts, counts) + row_lo[window]
                    tower_in[mutant[window], dest] = new_rows[window, dest - offset[window]]
                pred = inc.tower(tower_in)
                stats.n_incremental += len(item.rows)
            stats.model_s += time.perf_counter() - t0
            pred = check_predictions(np.asarray(pred, dtype=np.float32), item.rows, plan,
                                     bins, tracks)
            if results is None:
                results = np.empty((plan.n_rows,) + pred.shape[1:], dtype=np.float32)
            results[item.rows] = pred
            stats.n_batches += 1
            if progress is not None:
                progress.update(len(item.rows))
    finally:
        stop.set()
        producer.join()
    if results is None:
        return np.zeros((0, 0, 0), dtype=np.float32)
    return results
