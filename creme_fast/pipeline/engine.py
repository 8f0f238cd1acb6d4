"""Run a plan through a predictor: batches are built while the model works.

A producer thread materialises batch k+1 (native splice, then one-hot straight
into a reused buffer) while the calling thread runs the model on batch k. A
bounded ring of buffers keeps at most ``prefetch`` batches ahead. Predictions
are reduced to the requested bins and tracks as they arrive.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from creme_fast.errors import NonFiniteOutput
from creme_fast.progress import Progress, progress_allowed
from creme_fast.pipeline.incremental import resolve_incremental, run_incremental
from creme_fast.pipeline.plan import Plan
from creme_fast.runtime.base import Predictor
from creme_fast.sequence.tokens import one_hot

log = logging.getLogger(__name__)

__all__ = ["PipelineStats", "run_plan"]


@dataclass
class PipelineStats:
    """Where the time of one run went (seconds)."""

    n_mutants: int = 0
    n_batches: int = 0
    splice_s: float = 0.0
    one_hot_s: float = 0.0
    model_s: float = 0.0
    wait_s: float = 0.0
    wall_s: float = 0.0
    n_incremental: int = 0
    n_parents: int = 0
    trunk_bp_avoided: int = 0
    flops_avoided: float = 0.0

    @property
    def n_full_path(self) -> int:
        """Mutants run through the whole model (parents included)."""
        return self.n_mutants - self.n_incremental

    @property
    def build_s(self) -> float:
        """Producer busy time: splice plus one-hot."""
        return self.splice_s + self.one_hot_s

    @property
    def model_efficiency(self) -> float:
        """Model busy time over wall time (1.0: the device never waited)."""
        return self.model_s / self.wall_s if self.wall_s else 0.0

    def add(self, other: PipelineStats) -> None:
        for name in ("n_mutants", "n_batches", "splice_s", "one_hot_s", "model_s", "wait_s",
                     "wall_s", "n_incremental", "n_parents", "trunk_bp_avoided",
                     "flops_avoided"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def check_predictions(pred: np.ndarray, rows: np.ndarray, plan: Plan,
                      bins: Sequence[int] | None, tracks: Sequence[int] | None) -> np.ndarray:
    """Shape check, bin/track selection and the non-finite check of one batch (every path)."""
    if pred.ndim != 3 or pred.shape[0] != len(rows):
        raise ValueError(f"the model returned shape {pred.shape} for a batch of "
                         f"{len(rows)}; expected (batch, bins, tracks)")
    if bins is not None:
        pred = pred[:, list(bins)]
    if tracks is not None:
        pred = pred[:, :, list(tracks)]
    bad = ~np.isfinite(pred).reshape(pred.shape[0], -1).all(axis=1)
    if bad.any():
        row = int(rows[int(np.flatnonzero(bad)[0])])
        raise NonFiniteOutput(f"the model returned NaN or infinity for mutant {row} "
                              f"({plan.describe(row)})", row)
    return pred


def produced(items: queue.Queue, stats: PipelineStats) -> Iterator[Any]:
    """What a producer thread puts on ``items``, up to its closing None; an exception
    it puts there is raised here. Time spent waiting goes to ``stats.wait_s``."""
    while True:
        t0 = time.perf_counter()
        item = items.get()
        stats.wait_s += time.perf_counter() - t0
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _progress(total: int, desc: str | None, verbose: bool) -> Progress | None:
    if not progress_allowed(verbose):
        return None
    return Progress(total, desc or "mutants", leave=False)


def run_plan(plan: Plan, predictor: Predictor, *, batch_size: int = 8,
             bins: Sequence[int] | None = None, tracks: Sequence[int] | None = None,
             prefetch: int = 2, verbose: bool = True, desc: str | None = None,
             stats: PipelineStats | None = None, incremental: bool | str = "auto",
             trunk_cache_gb: float = 2.0) -> np.ndarray:
    """Predict every mutant of a plan.

    Parameters
    ----------
    plan : Plan
    predictor : Predictor
        Its ``seq_length`` must equal the plan's.
    batch_size : int, default=8
        Results do not depend on it.
    bins, tracks : sequence of int, optional
        Keep only these bins/tracks of each prediction (applied on arrival).
    prefetch : int, default=2
        Batches built ahead of the model (2-3 keeps the model busy).
    verbose : bool, default=True
        Progress in mutants (:class:`creme_fast.progress.Progress`: a bar on a
        terminal, a log line every 30 s elsewhere; ``TQDM_DISABLE`` turns it off).
    desc : str, optional
        Progress label (the assays name the test, the locus and the stage).
    stats : PipelineStats, optional
        Accumulates timings, mutants per path and the trunk work avoided.
    incremental : {"auto", True, False}, default="auto"
        Recompute only the trunk rows each mutant changes relative to its
        parent row (see :mod:`creme_fast.pipeline.incremental`) when the model
        offers it ("auto"), always (True: an error if it cannot), or never.
        Results equal the full path's to the export tolerance.
    trunk_cache_gb : float, default=2.0
        Memory for cached parent trunk rows; more parents run in chunks.

    Returns
    -------
    numpy.ndarray of float32, shape=(M, n_bins, n_tracks)

    Raises
    ------
    NonFiniteOutput
        (a ValueError) The model returned NaN or infinity; the message names the mutant.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if plan.seq_length != predictor.seq_length:
        raise ValueError(f"the sequences are {plan.seq_length:,} bp but the model takes "
                         f"{predictor.seq_length:,} bp")
    stats = stats if stats is not None else PipelineStats()
    inc = resolve_incremental(predictor, incremental)
    if inc is not None and (plan.parent >= 0).any():
        local = PipelineStats()
        progress = _progress(plan.n_rows, desc, verbose)
        wall0 = time.perf_counter()
        try:
            return run_incremental(plan, predictor, inc, batch_size=batch_size, bins=bins,
                                   tracks=tracks, prefetch=prefetch, progress=progress,
                                   stats=local, trunk_cache_gb=trunk_cache_gb)
        finally:
            if progress is not None:
                progress.close()
            local.wall_s = time.perf_counter() - wall0
            local.n_mutants = plan.n_rows
            stats.add(local)
    n = plan.n_rows
    bounds = [(b, min(b + batch_size, n)) for b in range(0, n, batch_size)]
    slots = prefetch + 1
    tokens_ring = np.empty((slots, batch_size, plan.seq_length), dtype=np.uint8)
    onehot = predictor.input_kind == "onehot"
    input_dtype = np.dtype(getattr(predictor, "input_dtype", np.float32))
    if onehot and input_dtype not in (np.float32, np.float16):
        input_dtype = np.dtype(np.float32)
    onehot_ring = (np.empty((slots, batch_size, plan.seq_length, 4), dtype=input_dtype)
                   if onehot else None)
    free_slots: queue.Queue[int] = queue.Queue()
    for s in range(slots):
        free_slots.put(s)
    ready: queue.Queue[tuple[int, int] | BaseException | None] = queue.Queue()
    stop = threading.Event()
    local = PipelineStats()

    def produce() -> None:
        try:
            for k, (begin, end) in enumerate(bounds):
                while True:
                    if stop.is_set():
                        return
                    try:
                        slot = free_slots.get(timeout=0.1)
                        break
                    except queue.Empty:
                        continue
                t0 = time.perf_counter()
                tokens = plan.materialize(begin, end, tokens_ring[slot])
                t1 = time.perf_counter()
                if onehot_ring is not None:
                    one_hot(tokens, out=onehot_ring[slot, : end - begin])
                local.splice_s += t1 - t0
                local.one_hot_s += time.perf_counter() - t1
                ready.put((k, slot))
            ready.put(None)
        except BaseException as exc:  # surfaces in the consumer
            ready.put(exc)

    results: np.ndarray | None = None
    progress = _progress(n, desc, verbose)
    producer = threading.Thread(target=produce, name="creme-fast-producer", daemon=True)
    wall0 = time.perf_counter()
    producer.start()
    try:
        for k, slot in produced(ready, local):
            begin, end = bounds[k]
            batch = (onehot_ring[slot, : end - begin] if onehot_ring is not None
                     else tokens_ring[slot, : end - begin])
            t0 = time.perf_counter()
            pred = np.asarray(predictor.predict(batch), dtype=np.float32)
            local.model_s += time.perf_counter() - t0
            free_slots.put(slot)
            pred = check_predictions(pred, np.arange(begin, end), plan, bins, tracks)
            if results is None:
                results = np.empty((n,) + pred.shape[1:], dtype=np.float32)
            results[begin:end] = pred
            local.n_batches += 1
            if progress is not None:
                progress.update(end - begin)
    finally:
        stop.set()
        producer.join()
        if progress is not None:
            progress.close()
        local.wall_s = time.perf_counter() - wall0
        local.n_mutants = n
        stats.add(local)
    if results is None:
        return np.zeros((0, 0, 0), dtype=np.float32)
    return results
