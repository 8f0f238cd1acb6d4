"""ONNX Runtime versus PyTorch on Enformer, per sequence, in one run.

    python benchmarks/bench_runtime.py [--full] [--json out.json]

Small config (dim 192, depth 2) at 196,608 bp, batch 4; with ``--full`` also
the published architecture (dim 1536, depth 11, random weights) at batch 1,
which takes several minutes on 2 CPU cores. Each model is exported with
creme-fast's export step (verified against PyTorch before writing), then the
same one-hot batch is timed through ``OnnxPredictor`` and ``TorchPredictor``.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from creme_fast.export import export_enformer
from creme_fast.export.modules import EnformerBody, static_positional_features
from creme_fast.runtime import OnnxPredictor, TorchPredictor
from creme_fast.sequence import one_hot

log = logging.getLogger("bench_runtime")

CONFIGS = {
    "small (dim 192, depth 2)": dict(dim=192, depth=2, heads=4, attn_dim_key=32,
                                     dim_divisible_by=32, output_heads=dict(human=5313)),
    "full (dim 1536, depth 11)": dict(output_heads=dict(human=5313, mouse=1643)),
}


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def bench_config(name: str, hparams: dict, batch: int, repeats: int, workdir: Path) -> dict:
    from enformer_pytorch import Enformer

    torch.manual_seed(0)
    model = Enformer.from_hparams(**hparams).eval()
    path = workdir / "model.onnx"
    start = time.perf_counter()
    result = export_enformer(model, path, seq_length=196_608, tracks=[4824, 5110, 5111],
                             bins=[447, 448])
    export_s = time.perf_counter() - start
    tokens = np.random.default_rng(0).integers(0, 4, (batch, 196_608), dtype=np.uint8)
    x = one_hot(tokens)
    ort = OnnxPredictor(path)
    with static_positional_features():
        reference = TorchPredictor(EnformerBody(model, "human", tracks=[4824, 5110, 5111],
                                                bins=[447, 448]), seq_length=196_608)
        t_torch = timed(lambda: reference.predict(x), repeats)
        expected = reference.predict(x)
    t_ort = timed(lambda: ort.predict(x), repeats)
    got = ort.predict(x)
    rel = float(np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-12)))
    row = {"config": name, "batch": batch, "repeats": repeats,
           "export_s": export_s, "export_verification_max_rel": result.verification.max_rel,
           "ort_s_per_seq": statistics.median(t_ort) / batch,
           "torch_s_per_seq": statistics.median(t_torch) / batch,
           "max_rel_diff_on_bench_batch": rel, "torch_threads": torch.get_num_threads()}
    row["ort_speedup"] = row["torch_s_per_seq"] / row["ort_s_per_seq"]
    log.info("%-28s batch %d: ORT %.3f s/seq, PyTorch %.3f s/seq, ORT %.2fx; export %.0f s; "
             "max rel diff %.2g", name, batch, row["ort_s_per_seq"], row["torch_s_per_seq"],
             row["ort_speedup"], export_s, rel)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also the full-size architecture")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("creme_fast").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(bench_config("small (dim 192, depth 2)", CONFIGS["small (dim 192, depth 2)"],
                                 4, args.repeats, Path(tmp)))
        if args.full:
            rows.append(bench_config("full (dim 1536, depth 11)",
                                     CONFIGS["full (dim 1536, depth 11)"], 1, 2, Path(tmp)))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": platform.platform(), "rows": rows},
                                              indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
