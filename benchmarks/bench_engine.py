"""Engine benchmark: creme-fast's pipeline against creme-nn 0.2.5, in one run.

    python benchmarks/bench_engine.py [--json out.json] [--skip-enformer]

1. Engine overhead per mutant (a model that costs nothing): creme-nn's
   ``necessity_test`` (38 tiles x 10 shuffles) and ``context_dependence_test``
   (10 shuffles) at 196,608 bp, against the native API and the compat layer.
2. End to end on a cheap model (GC content in the central bins) behind the same
   ``.predict`` wrapper for both.
3. Pipeline efficiency (model busy time / wall time) on a small
   Enformer-architecture model at full length through ONNX Runtime.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import creme_fast.compat as compat
from creme_fast import assays
from creme_fast.bench import NullPredictor, random_locus
from creme_fast.pipeline import PipelineStats
from creme_fast.runtime import CallablePredictor
from creme_fast.sequence import one_hot

log = logging.getLogger("bench_engine")
L = 196_608


class NullModel:
    """creme-nn-style model that costs nothing."""

    seq_length = L

    def predict(self, x):
        x = np.asarray(x)
        return np.ones((1 if x.ndim == 2 else x.shape[0], 1, 1))


class CheapModel:
    """creme-nn-style model: GC fraction of the 8 central 128 bp bins (cheap, real output)."""

    seq_length = L

    def predict(self, x):
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[None]
        centre = x[:, L // 2 - 512: L // 2 + 512, 1:3].sum(-1)
        return centre.reshape(x.shape[0], 8, 128).mean(-1, keepdims=True)


def timed(fn) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        fn()
    return time.perf_counter() - start


def overhead_rows(x64: np.ndarray, tokens: np.ndarray) -> list[dict]:
    from creme import creme as ref

    center, tiles = compat.set_tile_range(L, 5000)
    null = NullPredictor(L)
    rows = []
    cases = {
        "necessity (38 tiles x 10 shuffles)": (
            381,
            lambda: ref.necessity_test(NullModel(), x64, tiles, 10),
            lambda: compat.necessity_test(NullModel(), x64, tiles, 10,
                                          rng=np.random.RandomState(0)),
            lambda: assays.necessity(null, tokens, num_shuffles=10, verbose=False)),
        "context dependence (10 shuffles)": (
            11,
            lambda: ref.context_dependence_test(NullModel(), x64, center, 10),
            lambda: compat.context_dependence_test(NullModel(), x64, center, 10,
                                                   rng=np.random.RandomState(0)),
            lambda: assays.context_dependence(null, tokens, num_shuffles=10, verbose=False)),
    }
    for name, (n, reference, via_compat, native) in cases.items():
        t_ref, t_compat, t_native = timed(reference), timed(via_compat), timed(native)
        rows.append({"test": name, "mutants": n, "creme_nn_ms_per_mutant": 1e3 * t_ref / n,
                     "compat_ms_per_mutant": 1e3 * t_compat / n,
                     "native_ms_per_mutant": 1e3 * t_native / n,
                     "native_speedup": t_ref / t_native, "compat_speedup": t_ref / t_compat})
        log.info("overhead  %-36s creme-nn %7.2f ms/mutant | compat %6.2f (%5.1fx) | "
                 "native %6.3f (%5.1fx)", name, rows[-1]["creme_nn_ms_per_mutant"],
                 rows[-1]["compat_ms_per_mutant"], rows[-1]["compat_speedup"],
                 rows[-1]["native_ms_per_mutant"], rows[-1]["native_speedup"])
    return rows


def cheap_model_rows(x64: np.ndarray, tokens: np.ndarray) -> list[dict]:
    from creme import creme as ref

    _, tiles = compat.set_tile_range(L, 5000)
    model = CheapModel()
    predictor = CallablePredictor(model)
    t_ref = timed(lambda: ref.necessity_test(model, x64, tiles, 10))
    t_compat = timed(lambda: compat.necessity_test(model, x64, tiles, 10, batch_size=16,
                                                   rng=np.random.RandomState(0)))
    t_native = timed(lambda: assays.necessity(predictor, tokens, num_shuffles=10,
                                              batch_size=16, verbose=False))
    row = {"test": "necessity, cheap model, 381 mutants", "creme_nn_s": t_ref,
           "compat_s": t_compat, "native_s": t_native, "native_speedup": t_ref / t_native,
           "compat_speedup": t_ref / t_compat}
    log.info("cheap model necessity: creme-nn %.2f s | compat %.2f s (%.1fx) | native %.2f s "
             "(%.1fx)", t_ref, t_compat, row["compat_speedup"], t_native, row["native_speedup"])
    return [row]


def enformer_efficiency_rows() -> list[dict]:
    import torch
    from enformer_pytorch import Enformer

    from creme_fast.export import export_enformer
    from creme_fast.runtime import OnnxPredictor

    torch.manual_seed(0)
    model = Enformer.from_hparams(dim=96, depth=1, heads=2, attn_dim_key=16, dim_divisible_by=16,
                                  output_heads=dict(human=64)).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "small.onnx"
        export_enformer(model, path, seq_length=L, tracks=[0, 1], bins=[447, 448])
        predictor = OnnxPredictor(path)
        tokens = random_locus(L)
        _, tiles = compat.set_tile_range(L, 5000)
        for batch_size in (2, 4):
            stats = PipelineStats()
            start = time.perf_counter()
            assays.necessity(predictor, tokens, tiles=tiles[:8], num_shuffles=2,
                             batch_size=batch_size, verbose=False, stats=stats)
            wall = time.perf_counter() - start
            rows.append({"model": "Enformer dim 96 depth 1, 196,608 bp, ORT CPU",
                         "batch_size": batch_size, "mutants": stats.n_mutants, "wall_s": wall,
                         "model_s": stats.model_s, "build_s": stats.build_s,
                         "wait_s": stats.wait_s, "efficiency": stats.model_efficiency})
            log.info("efficiency batch %d: %d mutants, model %.2f s of %.2f s wall = %.1f%% "
                     "(build %.3f s, consumer waited %.3f s)", batch_size, stats.n_mutants,
                     stats.model_s, stats.wall_s, 100 * stats.model_efficiency, stats.build_s,
                     stats.wait_s)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    parser.add_argument("--skip-enformer", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("creme_fast").setLevel(logging.WARNING)
    tokens = random_locus(L)
    x64 = one_hot(tokens, dtype=np.float64)
    report = {"machine": platform.platform(), "overhead": overhead_rows(x64, tokens),
              "cheap_model": cheap_model_rows(x64, tokens)}
    if not args.skip_enformer:
        report["efficiency"] = enformer_efficiency_rows()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
