"""The engine's one batch loop: a producer thread builds batches while the calling
thread runs the model.

A :class:`BatchSource` says what a batch is and how the model predicts it; the
loop owns everything else, once: the producer thread, the bounded queue between
the two threads, the stop event, the check of every batch
(:func:`~creme_fast.pipeline.stats.check_predictions`), the result array and the
progress count. Two sources exist: :class:`~creme_fast.pipeline.full.FullBatches`
(every row through the whole model) and
:class:`~creme_fast.pipeline.incremental.IncrementalBatches` (rows with a parent
recompute only what their edits change). A new engine feature that changes how a
batch is built or run (fixed batch buckets, device-resident inputs) is a new
source, or a change inside one, not a new loop.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from creme_fast.pipeline.plan import Plan
from creme_fast.pipeline.stats import PipelineStats, check_predictions

__all__ = ["Batch", "BatchSource", "run_batches"]


class Batch(Protocol):
    """One unit of work: the plan rows it predicts, in the order of its predictions."""

    rows: np.ndarray


class BatchSource(Protocol):
    """Where the loop's batches come from.

    ``batches`` runs on the producer thread and yields batches in the order the
    model is to see them (it may block, e.g. until a buffer is free, but must
    return soon after ``stop`` is set); its build time goes to the stats it was
    given. ``predict`` runs on the calling thread: the model call(s) of one batch,
    returning raw predictions ``(len(batch.rows), bins, tracks)``; it may keep
    state between batches (the incremental source's cache of parent rows).
    """

    def batches(self, stop: threading.Event) -> Iterator[Batch]:
        ...

    def predict(self, batch: Any) -> np.ndarray:
        ...


def run_batches(source: BatchSource, plan: Plan, *, bins: Sequence[int] | None,
                tracks: Sequence[int] | None, prefetch: int, progress: Any,
                stats: PipelineStats) -> np.ndarray:
    """Predict every row of ``plan`` with the batches of ``source``.

    Parameters
    ----------
    source : BatchSource
    plan : Plan
        For the result's size and for messages.
    bins, tracks : sequence of int, optional
        Output bins and columns kept (applied as each batch arrives).
    prefetch : int
        Batches built ahead of the model.
    progress : Progress or None
        Advanced by each batch's rows.
    stats : PipelineStats
        Gets the model time, the waits and the batch count.

    Returns
    -------
    numpy.ndarray of float32, shape=(M, n_bins, n_tracks)
        ``(0, 0, 0)`` for a plan without rows.
    """
    items: queue.Queue[Any] = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for batch in source.batches(stop):
                if stop.is_set():
                    return
                put(batch)
            put(None)
        except BaseException as exc:  # surfaces on the calling thread
            put(exc)

    results: np.ndarray | None = None
    producer = threading.Thread(target=produce, name="creme-fast-producer", daemon=True)
    producer.start()
    try:
        while True:
            t0 = time.perf_counter()
            batch = items.get()
            stats.wait_s += time.perf_counter() - t0
            if batch is None:
                break
            if isinstance(batch, BaseException):
                raise batch
            t0 = time.perf_counter()
            pred = source.predict(batch)
            stats.model_s += time.perf_counter() - t0
            pred = check_predictions(np.asarray(pred, dtype=np.float32), batch.rows, plan,
                                     bins, tracks)
            if results is None:
                results = np.empty((plan.n_rows,) + pred.shape[1:], dtype=np.float32)
            results[batch.rows] = pred
            stats.n_batches += 1
            if progress is not None:
                progress.update(len(batch.rows))
    finally:
        stop.set()
        producer.join()
    if results is None:
        return np.zeros((0, 0, 0), dtype=np.float32)
    return results
