"""Demo and synthetic-model benchmark, in one run.

    python benchmarks/bench_demo.py [--json out.json]

1. The synthetic model per 196,608 bp sequence: the shipped ONNX graph on ONNX
   Runtime against the same module in PyTorch (eager, CPU), batch 8.
2. The whole demo at the paper's settings (5 kb tiles, 10 shuffles), against the
   issue's target of 2 minutes.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time

import numpy as np

from creme_fast.demo import DemoSettings, run_demo
from creme_fast.runtime import TorchPredictor
from creme_fast.synthetic import DEFAULT_GRAMMAR, generate_loci, load_synthetic

log = logging.getLogger("bench_demo")


def per_sequence(predictor, tokens: np.ndarray, repeats: int = 5) -> float:
    predictor.predict(tokens)
    start = time.perf_counter()
    for _ in range(repeats):
        predictor.predict(tokens)
    return (time.perf_counter() - start) / repeats / tokens.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from creme_fast.export.synthetic import SyntheticModel

    loci = generate_loci()
    tokens = np.concatenate([loci.tokens, loci.tokens[:3]])  # batch of 8
    ort_s = per_sequence(load_synthetic(), tokens)
    torch_s = per_sequence(TorchPredictor(SyntheticModel().eval(), input_kind="tokens",
                                          seq_length=DEFAULT_GRAMMAR.seq_length), tokens)
    log.info("synthetic model, ms per sequence (batch 8): ORT %.2f, PyTorch %.2f, "
             "ratio %.2fx", ort_s * 1e3, torch_s * 1e3, torch_s / ort_s)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_demo(out, DemoSettings(verbose=False))
        demo_s = time.perf_counter() - start
    log.info("demo at paper settings: %.1f s (target 120 s: %.2f of it), %d/%d checks "
             "recovered", demo_s, demo_s / 120, int(result.recovery["ok"].sum()),
             len(result.recovery))
    record = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "ort_ms_per_seq": ort_s * 1e3, "torch_ms_per_seq": torch_s * 1e3,
              "torch_over_ort": torch_s / ort_s, "demo_s": demo_s,
              "demo_over_target": demo_s / 120, "all_recovered": result.all_recovered}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=2)


if __name__ == "__main__":
    main()
