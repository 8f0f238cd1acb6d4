"""The exact last-layer change alone: the tower traced with and without it, timed in ORT.

    python benchmarks/issue23/last_layer_tower.py CHECKPOINT WORKDIR [--bins 447,448]

Both towers are the exported formulation (MatMul attention, creme-fast's
``EnformerBody(export_tower=True)``); "all rows" keeps every bin through the last
layer and selects the bins after the crop, "kept rows" computes the last layer's
queries, attention output and feed-forward only for the rows that feed the kept
bins. Same weights; the two towers' outputs on the kept bins are compared, FLOPs
are counted from both graphs, and each is timed at batch 1 in its own ORT session
(one untimed warm-up, then ``--repeats`` runs).
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from creme_fast.export.checkpoint import load_enformer
from creme_fast.export.flops import count_flops
from creme_fast.export.modules import EnformerBody, static_positional_features


class Tower(torch.nn.Module):
    def __init__(self, body: EnformerBody) -> None:
        super().__init__()
        self.body = body

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.body.tower(rows)


def trace(body: EnformerBody, rows: torch.Tensor, path: Path) -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Tower(body).eval(), (rows,), buffer, input_names=["rows"],
                          output_names=["prediction"], opset_version=17, dynamo=False,
                          dynamic_axes={"rows": {0: "batch"}, "prediction": {0: "batch"}},
                          do_constant_folding=True)
    path.write_bytes(buffer.getvalue())


def main() -> None:
    import onnx
    import onnxruntime as ort

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("workdir", type=Path)
    p.add_argument("--bins", default="447,448")
    p.add_argument("--tracks", default="4824,5110,5111")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.workdir.mkdir(parents=True, exist_ok=True)
    bins = [int(b) for b in args.bins.split(",")]
    tracks = [int(t) for t in args.tracks.split(",")]
    model = load_enformer(args.checkpoint).eval()
    rows_in = int(196_608 // 128)
    rng = np.random.default_rng(0)
    rows = torch.from_numpy(rng.normal(size=(1, rows_in, model.config.dim)).astype(np.float32))
    out = {}
    with static_positional_features():
        kept = EnformerBody(model, "human", tracks=tracks, bins=bins, export_tower=True).eval()
        every = EnformerBody(model, "human", tracks=tracks, bins=None, export_tower=True).eval()
        paths = {"kept_rows": args.workdir / "tower_kept.onnx",
                 "all_rows": args.workdir / "tower_all.onnx"}
        trace(kept, rows, paths["kept_rows"])
        trace(every, rows, paths["all_rows"])
    del model, kept, every
    results = {}
    for name, path in paths.items():
        results[name] = {"gflop": count_flops(onnx.load(str(path)),
                                              {"rows": (1, rows_in, rows.shape[2])})["total"]
                         / 1e9}
    for name, path in paths.items():
        so = ort.SessionOptions()
        so.enable_mem_pattern = False  # as the runtime's pieces run
        session = ort.InferenceSession(str(path), sess_options=so,
                                       providers=["CPUExecutionProvider"])
        y = session.run(None, {"rows": rows.numpy()})[0]
        out[name] = y if name == "kept_rows" else y[:, bins]
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            session.run(None, {"rows": rows.numpy()})
            times.append(time.perf_counter() - t0)
        results[name]["seconds"] = float(np.median(times))
        results[name]["all_seconds"] = times
        del session
    diff = float(np.max(np.abs(out["kept_rows"] - out["all_rows"])))
    scale = float(np.max(np.abs(out["all_rows"])))
    results["max_abs_diff_on_kept_bins"] = diff
    results["max_abs_output"] = scale
    results["time_ratio_all_over_kept"] = (results["all_rows"]["seconds"]
                                           / results["kept_rows"]["seconds"])
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
