"""Where a necessity plan's incremental wall time goes: every model call timed inside the engine.

    python benchmarks/issue33/engine_gap.py EXPORT.onnx [--threads 2] [--repeats 2]

The bar's plan (``bar.py``: one locus, three 5 kb tiles by the TSS, one shuffle,
batch 1, ``incremental=True``) after every piece and shape has run once; each
call of ``predict``, ``trunk`` and ``tower`` is timed with its input shape, and
the wall time is compared with their sum and with ``PipelineStats``.
"""
from __future__ import annotations

import argparse
import functools
import time

import numpy as np

from creme_fast import assays
from creme_fast.bench import random_locus
from creme_fast.pipeline import PipelineStats
from creme_fast.runtime import OnnxPredictor
from creme_fast.sequence import one_hot

from bar import tss_tiles  # noqa: E402  (benchmarks/issue33/bar.py beside this script)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    predictor = OnnxPredictor(args.model, threads=args.threads)
    seq = random_locus(predictor.seq_length)
    tiles = tss_tiles(predictor.seq_length)
    inc = predictor.incremental
    calls: list[tuple[str, tuple[int, ...], float]] = []

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(batch):
            t0 = time.perf_counter()
            out = fn(batch)
            calls.append((name, tuple(batch.shape), time.perf_counter() - t0))
            return out
        return wrapper

    feed = seq[None] if predictor.input_kind == "tokens" else one_hot(seq[None])
    predictor.predict(feed)
    inc.tower(inc.trunk(feed))
    inc.trunk(feed[:, :6400])
    inc.trunk, inc.tower = timed("trunk", inc.trunk), timed("tower", inc.tower)
    predictor.predict = timed("predict", predictor.predict)
    for rep in range(args.repeats):
        calls.clear()
        stats = PipelineStats()
        t0 = time.perf_counter()
        assays.necessity(predictor, seq, tiles=tiles, num_shuffles=1, batch_size=1,
                         verbose=False, incremental=True, stats=stats)
        wall = time.perf_counter() - t0
        total = sum(c[2] for c in calls)
        print(f"rep {rep}: wall {wall:.2f} s, model calls {total:.2f} s; stats model "
              f"{stats.model_s:.2f}, wait {stats.wait_s:.2f}, splice {stats.splice_s:.2f}, "
              f"one-hot {stats.one_hot_s:.2f}", flush=True)
        for name, shape, seconds in calls:
            print(f"   {name:8s} {str(shape):22s} {seconds:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
