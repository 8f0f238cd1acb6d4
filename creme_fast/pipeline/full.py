"""The full path's batches: consecutive plan rows, built into a ring of reused buffers."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from creme_fast.pipeline.plan import Plan
from creme_fast.pipeline.stats import PipelineStats
from creme_fast.runtime.base import Predictor
from creme_fast.sequence.tokens import one_hot

__all__ = ["FullBatches"]


@dataclass
class _Slot:
    rows: np.ndarray
    slot: int
    batch: np.ndarray  # a view of the ring slot: what the model reads


class FullBatches:
    """Rows ``[b, b + batch_size)`` of ``plan``, in order, each through the whole model.

    The producer materialises a batch (native splice) straight into one of
    ``prefetch + 1`` reused token buffers and, for a one-hot model, one-hots it
    into a reused float buffer of the model's input dtype; a buffer is reused
    once the model has read it.

    Parameters
    ----------
    plan : Plan
    predictor : Predictor
    batch_size : int
    prefetch : int
    stats : PipelineStats
        Gets the splice and one-hot times.
    """

    def __init__(self, plan: Plan, predictor: Predictor, batch_size: int, prefetch: int,
                 stats: PipelineStats) -> None:
        self.plan, self.predictor, self.stats = plan, predictor, stats
        n = plan.n_rows
        self.bounds = [(b, min(b + batch_size, n)) for b in range(0, n, batch_size)]
        slots = prefetch + 1
        self.tokens = np.empty((slots, batch_size, plan.seq_length), dtype=np.uint8)
        dtype = np.dtype(getattr(predictor, "input_dtype", np.float32))
        if predictor.input_kind == "onehot" and dtype not in (np.float32, np.float16):
            dtype = np.dtype(np.float32)
        self.onehot = (np.empty((slots, batch_size, plan.seq_length, 4), dtype=dtype)
                       if predictor.input_kind == "onehot" else None)
        self.free: queue.Queue[int] = queue.Queue()
        for s in range(slots):
            self.free.put(s)

    def batches(self, stop: threading.Event) -> Iterator[_Slot]:
        for begin, end in self.bounds:
            while True:
                if stop.is_set():
                    return
                try:
                    slot = self.free.get(timeout=0.1)
                    break
                except queue.Empty:
                    continue
            t0 = time.perf_counter()
            tokens = self.plan.materialize(begin, end, self.tokens[slot])
            t1 = time.perf_counter()
            if self.onehot is not None:
                one_hot(tokens, out=self.onehot[slot, : end - begin])
            self.stats.splice_s += t1 - t0
            self.stats.one_hot_s += time.perf_counter() - t1
            ring = self.onehot if self.onehot is not None else self.tokens
            yield _Slot(np.arange(begin, end), slot, ring[slot, : end - begin])

    def predict(self, item: _Slot) -> np.ndarray:
        pred = np.asarray(self.predictor.predict(item.batch), dtype=np.float32)
        self.free.put(item.slot)  # the model has read the buffer
        return pred
