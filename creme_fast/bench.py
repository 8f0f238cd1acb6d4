"""Measurements behind ``creme-fast bench``: generation rate, model throughput, end to end."""
from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from creme_fast import assays
from creme_fast.pipeline import PipelineStats
from creme_fast.runtime.base import Predictor, check_batch
from creme_fast.runtime.metadata import InputKind
from creme_fast.sequence.tokens import one_hot

__all__ = ["NullPredictor", "TESTS", "end_to_end", "generation_rate", "model_throughput",
           "planned_passes", "random_locus", "recommend_batch_size"]

TESTS = ("context", "necessity", "sufficiency")


class NullPredictor:
    """A model that costs nothing: measures the engine alone."""

    def __init__(self, seq_length: int, input_kind: InputKind = "onehot",
                 input_dtype: Any = np.float32) -> None:
        self.seq_length = seq_length
        self.input_kind: InputKind = input_kind
        self.input_dtype = np.dtype(np.uint8 if input_kind == "tokens" else input_dtype)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        check_batch(batch, self.seq_length, self.input_kind, "null model")
        return np.ones((batch.shape[0], 1, 1), dtype=np.float32)


def random_locus(length: int, seed: int = 0) -> np.ndarray:
    """A random locus with a human-like base composition and an N run."""
    rng = np.random.default_rng(seed)
    tokens = rng.choice(4, size=length, p=[0.295, 0.205, 0.205, 0.295]).astype(np.uint8)
    tokens[length // 7: length // 7 + length // 100] = 4
    return tokens


def _run_test(test: str, predictor: Predictor, seq: np.ndarray, *, num_shuffles: int,
              tile_size: int, batch_size: int, stats: PipelineStats,
              incremental: bool | str = "auto") -> int:
    options = dict(num_shuffles=num_shuffles, tile_size=tile_size, batch_size=batch_size,
                   verbose=False, stats=stats, incremental=incremental,
                   bins="all")  # the cost does not depend on the bins read; any model runs
    if test == "context":
        result = assays.context_dependence(predictor, seq, **options)
        return result.mut.shape[1] + 1
    if test == "necessity":
        result = assays.necessity(predictor, seq, **options)
        return result.mut.shape[1] * result.mut.shape[2] + 1
    if test == "sufficiency":
        result = assays.sufficiency(predictor, seq, **options)
        return int(np.prod(result.mut.shape[1:3])) + result.control.shape[2] + 1
    raise ValueError(f"test must be one of {', '.join(TESTS)}, got {test!r}")


def generation_rate(test: str = "necessity", *, seq_length: int = 196_608,
                    num_shuffles: int = 10, tile_size: int = 5000, batch_size: int = 8,
                    input_kind: InputKind = "onehot", input_dtype: Any = np.float32,
                    repeats: int = 3) -> dict[str, Any]:
    """Mutants per second the engine builds with a model that costs nothing."""
    seq = random_locus(seq_length)
    predictor = NullPredictor(seq_length, input_kind, input_dtype)
    walls, stats = [], PipelineStats()
    n = 0
    for _ in range(repeats):
        run_stats = PipelineStats()
        start = time.perf_counter()
        n = _run_test(test, predictor, seq, num_shuffles=num_shuffles, tile_size=tile_size,
                      batch_size=batch_size, stats=run_stats)
        walls.append(time.perf_counter() - start)
        stats.add(run_stats)
    wall = statistics.median(walls)
    return {"test": test, "mutants": n, "input": f"{input_kind}/{np.dtype(predictor.input_dtype)}",
            "batch_size": batch_size, "wall_s": wall, "mutants_per_s": n / wall,
            "ms_per_mutant": 1e3 * wall / n,
            "splice_ms_per_mutant": 1e3 * stats.splice_s / (n * repeats),
            "one_hot_ms_per_mutant": 1e3 * stats.one_hot_s / (n * repeats)}


def model_throughput(predictor: Predictor, batch_sizes: list[int], *, repeats: int = 3
                     ) -> list[dict[str, Any]]:
    """Sequences per second of the model alone, per batch size (warm, median)."""
    rows = []
    tokens = np.stack([random_locus(predictor.seq_length, s) for s in range(max(batch_sizes))])
    for size in batch_sizes:
        batch = (tokens[:size] if predictor.input_kind == "tokens"
                 else one_hot(tokens[:size], dtype=np.dtype(predictor.input_dtype)))
        predictor.predict(batch)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            predictor.predict(batch)
            times.append(time.perf_counter() - start)
        t = statistics.median(times)
        rows.append({"batch_size": size, "s_per_batch": t, "seqs_per_s": size / t,
                     "provider": getattr(predictor, "provider", type(predictor).__name__)})
    return rows


def planned_passes(test: str, batch_sizes: list[int], repeats: int, seq_length: int,
                   num_shuffles: int, tile_size: int, incremental: bool) -> int:
    """Model passes (sequences predicted) a ``creme-fast bench --model`` run makes:
    a warm-up and ``repeats`` timed batches per batch size, then the test end to end
    (twice with an incremental model)."""
    from creme_fast.runs.progress import expected_mutants
    from creme_fast.runs.steps import StepConfig

    e2e = expected_mutants(test, StepConfig(tile_size=tile_size, num_shuffles=num_shuffles),
                           seq_length)
    return sum((1 + repeats) * b for b in batch_sizes) + e2e * (2 if incremental else 1)


def recommend_batch_size(rows: list[dict[str, Any]], tolerance: float = 0.05) -> int:
    """The smallest batch size within ``tolerance`` of the best throughput of
    :func:`model_throughput` rows (larger batches cost memory for no gain)."""
    best = max(r["seqs_per_s"] for r in rows)
    return min(r["batch_size"] for r in rows if r["seqs_per_s"] >= (1 - tolerance) * best)


def end_to_end(predictor: Predictor, test: str = "necessity", *, num_shuffles: int = 10,
               tile_size: int = 5000, batch_size: int = 8,
               incremental: bool | str = "auto") -> dict[str, Any]:
    """One test on one random locus through the pipeline: mutants/s and efficiency.

    ``incremental`` is passed to the engine; the figures say how many mutants took
    the incremental path and how many trunk bp it did not recompute.
    """
    stats = PipelineStats()
    seq = random_locus(predictor.seq_length)
    start = time.perf_counter()
    n = _run_test(test, predictor, seq, num_shuffles=num_shuffles, tile_size=tile_size,
                  batch_size=batch_size, stats=stats, incremental=incremental)
    wall = time.perf_counter() - start
    return {"test": test, "mutants": n, "batch_size": batch_size, "wall_s": wall,
            "mutants_per_s": n / wall, "model_s": stats.model_s,
            "pipeline_efficiency": stats.model_s / stats.wall_s if stats.wall_s else 0.0,
            "build_s": stats.build_s, "wait_s": stats.wait_s, "incremental": incremental,
            "n_incremental": stats.n_incremental, "n_full_path": stats.n_full_path,
            "trunk_bp_avoided": stats.trunk_bp_avoided}
