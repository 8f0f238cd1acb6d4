"""PyTorch's side of the issue-33 profile: enformer-pytorch eager, time by operator.

    python benchmarks/issue33/profile_torch.py --checkpoint CK --out DIR [--threads 2]
        [--parts full,trunk,tower,export_tower] [--export EXPORT.onnx]

One process, batch 1, float one-hot of the same random locus as
``profile_ort.py`` (``creme_fast.bench.random_locus``), ``torch.inference_mode``:

* ``full``: enformer-pytorch's own forward (all 5,313 tracks, 896 bins, as creme-nn
  calls it): one warm-up pass, one timed pass on a second sequence (the two
  outputs' largest relative difference says whether this checkpoint depends on its
  input);
* ``trunk``: stem + conv tower on the whole sequence (the ONNX trunk's function),
  one pass under ``torch.profiler`` (warmed by the full pass);
* ``tower``: transformer, crop, final pointwise and the pruned head on the trunk's
  rows, as enformer-pytorch writes it (einsum attention);
* ``export_tower``: the same with the exported transformer (MatMul attention, the
  last layer on the kept bins' rows only): the ONNX tower's function.

Positional features follow the export's rule (TF gammas for the published
architecture at 196,608 bp). With ``--export``, the kept tracks and bins are read
from that export's metadata (default: 4824,5110,5111 and 447,448).
Writes ``DIR/torch_rows.json``.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from creme_fast.bench import random_locus
from creme_fast.export.checkpoint import checkpoint_settings, load_enformer
from creme_fast.export.modules import EnformerBody
from creme_fast.export.positional import apply_tf_gamma, resolve_tf_gamma
from creme_fast.machine import describe_cpu, steal_ticks
from creme_fast.sequence import one_hot


def profile(fn, x) -> dict:
    """One pass under torch.profiler: self CPU time by operator."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        fn(x)
        wall = time.perf_counter() - t0
    table = sorted(((e.key, e.self_cpu_time_total / 1e6, e.count)
                    for e in prof.key_averages()), key=lambda r: -r[1])
    return {"run_s": wall, "ops": [{"op": k, "s": s, "share": s / wall, "calls": c}
                                   for k, s, c in table if s > 0]}


def timed(fn, x) -> tuple[float, torch.Tensor]:
    t0 = time.perf_counter()
    y = fn(x)
    return time.perf_counter() - t0, y


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--parts", default="full,trunk,tower,export_tower")
    p.add_argument("--tracks", default="4824,5110,5111")
    p.add_argument("--bins", default="447,448")
    p.add_argument("--label", default="")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    parts = args.parts.split(",")
    tracks = [int(v) for v in args.tracks.split(",")]
    bins = [int(v) for v in args.bins.split(",")]
    seq_length = 196_608
    choice = resolve_tf_gamma(checkpoint_settings(args.checkpoint, None), seq_length, None)
    model = load_enformer(args.checkpoint).eval()
    apply_tf_gamma(model, choice)
    x = torch.from_numpy(one_hot(random_locus(seq_length)[None]))
    x2 = torch.from_numpy(one_hot(random_locus(seq_length, seed=1)[None]))
    print(f"# {describe_cpu()}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"{args.checkpoint} {args.label}", flush=True)
    rows = []

    def record(label: str, fn, inp, warm_up: bool) -> dict:
        if warm_up:  # parts of the full pass ran in it already, with these shapes
            timed(fn, inp)
        steal0 = steal_ticks()
        prof = profile(fn, inp)
        steal1 = steal_ticks()
        wall = prof["run_s"]
        row = {"label": label, "run_s": wall, "profile": prof,
               "steal": None if not steal0 or not steal1 or steal1[1] == steal0[1] else
               (steal1[0] - steal0[0]) / (steal1[1] - steal0[1]),
               "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
        rows.append(row)
        top = ", ".join(f"{o['op']} {o['s']:.2f}" for o in row["profile"]["ops"][:6])
        print(f"{label:28s} run {wall:7.3f} s (profiled); {top}", flush=True)
        return row

    with torch.inference_mode():
        if "full" in parts:
            def full(inp):
                return model(inp, head="human")

            a = full(x)  # warm-up, first sequence
            wall, b = timed(full, x2)
            spread = float(((a - b).abs() / b.abs().clamp_min(1e-12)).max())
            sel = (a[:, bins][:, :, tracks], b[:, bins][:, :, tracks])
            spread_sel = float(((sel[0] - sel[1]).abs() / sel[1].abs().clamp_min(1e-12)).max())
            finite = bool(torch.isfinite(a).all() and torch.isfinite(b).all())
            print(f"# input sensitivity: largest relative difference between two loci "
                  f"{spread:.3e} (kept bins/tracks {spread_sel:.3e}); finite {finite}", flush=True)
            rows.append({"label": "enformer-pytorch full pass", "run_s": wall,
                         "input_spread": spread, "input_spread_kept": spread_sel,
                         "finite": finite, "peak_rss_gib":
                         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20})
            print(f"{'enformer-pytorch full pass':28s} run {wall:7.3f} s (second pass)",
                  flush=True)
            del a, b
        body = EnformerBody(model, "human", tracks=tracks, bins=bins).eval()
        rows_in = body.trunk(x)
        if "trunk" in parts:
            record("trunk (stem + conv tower)", body.trunk, x, warm_up="full" not in parts)
        if "tower" in parts:
            record("tower (enformer-pytorch)", body.tower, rows_in, warm_up="full" not in parts)
        if "export_tower" in parts:
            export_body = EnformerBody(model, "human", tracks=tracks, bins=bins,
                                       export_tower=True).eval()
            from creme_fast.export.modules import static_positional_features

            with static_positional_features():
                record("tower (exported form)", export_body.tower, rows_in, warm_up=True)
    report = {"cpu": describe_cpu(), "torch": torch.__version__, "threads": args.threads,
              "checkpoint": args.checkpoint, "label": args.label, "rows": rows,
              "config": torch.__config__.show()}
    out = args.out / "torch_rows.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"# wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
