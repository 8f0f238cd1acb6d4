"""Issue 33's bar: one PyTorch eager pass, one ONNX Runtime full pass, three incremental
tile mutants, in that order, batch 1, side by side on one machine.

    python benchmarks/issue33/bar.py --checkpoint CK --model EXPORT.onnx
        [--threads 2] [--json out.json] [--ort-threads N|default]

Two child processes, one after the other (each one's peak RSS is its own):

1. **torch**: enformer-pytorch eager on ``--checkpoint`` (the export's positional
   features), float one-hot, ``torch.inference_mode``, ``torch.set_num_threads``:
   one untimed warm-up pass on a random genome-like locus, then one timed pass on a
   5 kb tile mutant of it (a creme-nn-style loop's unit of work: the whole output,
   then the paper's bins and tracks read from it).
2. **ort**: ``OnnxPredictor(--model, threads=...)`` as the runtime makes it: one
   untimed warm-up ``predict``, one timed ``predict`` (the full pass); the
   incremental pieces loaded and run once untimed (their sessions and allocations),
   and one untimed incremental necessity of a fourth tile (the engine's shapes);
   then ``creme_fast.assays.necessity`` on the same locus with three 5 kb tiles by
   the TSS, one shuffle, batch 1, ``incremental=True``: its wall minus one full pass,
   over 3, is the tile mutant (the issue's derivation), and the same three mutants'
   trunk windows and tower calls are also timed directly.

Reported: seconds of each, the ratios against the torch pass (bar: full >= 2x,
tile mutant >= 12x), each child's peak RSS, the fraction of CPU time the VM's
host stole during each child, and the CPU (model, family, topology, vector flags).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from creme_fast.bench import random_locus
from creme_fast.machine import cpu_info, describe_cpu, steal_ticks

TILE = 5000
SEQ_LENGTH = 196_608


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def tss_tiles(length: int, n: int = 3) -> np.ndarray:
    """``n`` tiles of the paper's layout nearest the TSS (interior tiles: full windows)."""
    from creme_fast.sequence.tiles import tile_layout

    layout = tile_layout(length, TILE)
    order = np.argsort(np.abs(layout.tiles[:, 0] - layout.tss[0]), kind="stable")
    return layout.tiles[np.sort(order[:n])]


def tile_mutant(seq: np.ndarray, tile: np.ndarray) -> np.ndarray:
    mut = seq.copy()
    lo, hi = int(tile[0]), int(tile[1])
    mut[lo:hi] = np.random.default_rng(0).permutation(mut[lo:hi])
    return mut


def phase_torch(args: argparse.Namespace) -> dict:
    import torch

    from creme_fast.export.checkpoint import checkpoint_settings, load_enformer
    from creme_fast.export.positional import apply_tf_gamma, resolve_tf_gamma
    from creme_fast.sequence import one_hot

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load_enformer(args.checkpoint).eval()
    apply_tf_gamma(model, resolve_tf_gamma(checkpoint_settings(args.checkpoint, None),
                                           SEQ_LENGTH, None))
    load_s = time.perf_counter() - t0
    seq = random_locus(SEQ_LENGTH)
    mut = tile_mutant(seq, tss_tiles(SEQ_LENGTH)[0])
    with torch.inference_mode():
        t0 = time.perf_counter()
        model(torch.from_numpy(one_hot(seq[None])), head="human")
        first_s = time.perf_counter() - t0
        steal0 = steal_ticks()
        t0 = time.perf_counter()
        out = model(torch.from_numpy(one_hot(mut[None])), head="human")
        picked = out[:, [447, 448]][:, :, [4824, 5110, 5111]].numpy()
        pass_s = time.perf_counter() - t0
        steal1 = steal_ticks()
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "load_s": load_s,
            "first_pass_s": first_s, "pass_s": pass_s, "steal": stolen(steal0, steal1),
            "prediction": picked.ravel().tolist(), "peak_rss_gib": peak_rss_gib()}


def stolen(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float | None:
    if a is None or b is None or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def phase_ort(args: argparse.Namespace) -> dict:
    import onnxruntime

    from creme_fast import assays
    from creme_fast.pipeline import PipelineStats
    from creme_fast.runtime import OnnxPredictor
    from creme_fast.sequence import one_hot

    threads = None if args.ort_threads == "default" else int(args.ort_threads or args.threads)
    t0 = time.perf_counter()
    p = OnnxPredictor(args.model, threads=threads)
    load_s = time.perf_counter() - t0
    seq = random_locus(p.seq_length)
    tiles = tss_tiles(p.seq_length)
    mut = tile_mutant(seq, tiles[0])

    def feed(tokens: np.ndarray) -> np.ndarray:
        return tokens[None] if p.input_kind == "tokens" else one_hot(tokens[None])

    t0 = time.perf_counter()
    p.predict(feed(seq))
    first_s = time.perf_counter() - t0
    steal0 = steal_ticks()
    t0 = time.perf_counter()
    picked = p.predict(feed(mut))
    full_s = time.perf_counter() - t0
    inc = p.incremental
    g = inc.geometry
    t0 = time.perf_counter()
    wt_rows = inc.trunk(feed(seq))
    inc.tower(wt_rows)
    pieces_first_s = time.perf_counter() - t0
    # one untimed incremental necessity on another tile: the engine's shapes and threads
    # made once, as every row of issue 23's tables had its untimed warm-up
    warm_tile = tss_tiles(p.seq_length, len(tiles) + 1)
    warm_tile = warm_tile[~np.isin(warm_tile[:, 0], tiles[:, 0])][:1]
    t0 = time.perf_counter()
    assays.necessity(p, seq, tiles=warm_tile, num_shuffles=1, batch_size=1, verbose=False,
                     incremental=True)
    warm_necessity_s = time.perf_counter() - t0
    # the three mutants' windows, as the engine computes them
    muts = np.stack([tile_mutant(seq, t) for t in tiles])
    _, row_lo, row_hi, w0, w1 = g.windows(muts, np.repeat(seq[None], len(muts), axis=0))
    necessity_runs = []
    for _ in range(args.necessity_runs):
        t0 = time.perf_counter()
        nec_stats = PipelineStats()
        assays.necessity(p, seq, tiles=tiles, num_shuffles=1, batch_size=1, verbose=False,
                         incremental=True, stats=nec_stats)
        necessity_runs.append(time.perf_counter() - t0)
    necessity_s = necessity_runs[0]
    direct = []
    for i in range(len(muts)):
        t0 = time.perf_counter()
        rows = wt_rows.copy()
        win = inc.trunk(feed(muts[i])[:, w0[i]:w1[i]])
        skip = (row_lo[i] * g.stride - w0[i]) // g.stride
        rows[0, row_lo[i]:row_hi[i]] = win[0, skip:skip + row_hi[i] - row_lo[i]]
        t1 = time.perf_counter()
        inc.tower(rows)
        direct.append({"trunk_s": t1 - t0, "tower_s": time.perf_counter() - t1,
                       "window_bp": int(w1[i] - w0[i])})
    steal1 = steal_ticks()
    return {"threads": threads, "onnxruntime": onnxruntime.__version__, "load_s": load_s,
            "first_pass_s": first_s, "full_s": full_s, "pieces_first_s": pieces_first_s,
            "warm_necessity_s": warm_necessity_s,
            "necessity_s": necessity_s, "necessity_runs_s": necessity_runs,
            "tile_mutant_runs_s": [(n - full_s) / len(tiles) for n in necessity_runs],
            "necessity_mutants": len(tiles) + 1,
            "n_incremental": nec_stats.n_incremental, "n_full_path": nec_stats.n_full_path,
            "tile_mutant_s": (necessity_s - full_s) / len(tiles),
            "direct": direct, "direct_tile_mutant_s":
            float(np.mean([d["trunk_s"] + d["tower_s"] for d in direct])),
            "steal": stolen(steal0, steal1), "prediction": picked.ravel().tolist(),
            "peak_rss_gib": peak_rss_gib()}


def child(phase: str, argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, *argv],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the {phase} phase failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ort-threads", help="ONNX Runtime's threads if not --threads "
                   "('default': ONNX Runtime's own choice)")
    p.add_argument("--necessity-runs", type=int, default=1,
                   help="run the incremental necessity plan this many times (the first "
                   "gives the bar's figure; the others show its spread)")
    p.add_argument("--phase", choices=["torch", "ort"], help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path)
    p.add_argument("--label", default="")
    args = p.parse_args()
    if args.phase:
        result = phase_torch(args) if args.phase == "torch" else phase_ort(args)
        print(json.dumps(result))
        return 0
    argv = ["--checkpoint", args.checkpoint, "--model", str(args.model),
            "--threads", str(args.threads), "--necessity-runs", str(args.necessity_runs)]
    if args.ort_threads:
        argv += ["--ort-threads", args.ort_threads]
    cpu = describe_cpu()
    print(f"# {cpu} {args.label}", flush=True)
    t = child("torch", argv)
    print(f"torch eager pass: {t['pass_s']:.2f} s (first {t['first_pass_s']:.2f} s, "
          f"{t['threads']} threads, peak RSS {t['peak_rss_gib']:.2f} GiB, steal "
          f"{100 * (t['steal'] or 0):.1f}%)", flush=True)
    o = child("ort", argv)
    full_x = t["pass_s"] / o["full_s"]
    tile_x = t["pass_s"] / o["tile_mutant_s"]
    print(f"ORT full pass: {o['full_s']:.2f} s (first {o['first_pass_s']:.2f} s) = "
          f"{full_x:.2f}x torch", flush=True)
    print(f"ORT incremental: necessity WT + 3 tiles {o['necessity_s']:.2f} s "
          f"({o['n_incremental']} incremental, {o['n_full_path']} full); tile mutant "
          f"{o['tile_mutant_s']:.2f} s = {tile_x:.2f}x torch (direct trunk + tower "
          f"{o['direct_tile_mutant_s']:.2f} s; every run's tile mutant: "
          f"{', '.join(f'{x:.2f}' for x in o['tile_mutant_runs_s'])} s); pieces' first use "
          f"{o['pieces_first_s']:.2f} s; "
          f"peak RSS {o['peak_rss_gib']:.2f} GiB, steal {100 * (o['steal'] or 0):.1f}%",
          flush=True)
    diff = float(np.max(np.abs(np.array(o["prediction"]) - np.array(t["prediction"]))
                        / np.maximum(np.abs(np.array(t["prediction"])), 1e-12)))
    print(f"bar: full {full_x:.2f}x (>= 2), tile mutant {tile_x:.2f}x (>= 12); "
          f"ORT vs torch on the timed mutant: largest relative difference {diff:.2e}",
          flush=True)
    report = {"cpu": cpu, "cpu_info": cpu_info().as_dict(), "label": args.label,
              "torch": t, "ort": o, "full_ratio": full_x, "tile_ratio": tile_x,
              "max_rel_diff": diff}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
