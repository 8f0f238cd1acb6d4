"""Incremental evaluation: FLOPs per tile mutant and wall time, against full passes.

    python benchmarks/bench_incremental.py --config full [--flops-only] [--json out.json]
    python benchmarks/bench_incremental.py --config small [--json out.json]
    python benchmarks/bench_incremental.py --config tiny        # a check that it runs

For each config an Enformer with random weights is exported once with creme-fast's
export step (main graph + trunk + tower, verified before writing; ``--model``
reuses an export instead), then

* FLOPs are counted from the exported graphs with ONNX shape inference: a full
  pass, and a tile mutant (the trunk on the windows a ``--tile-size`` tile in the
  middle of the sequence changes, plus the tower), at ``--seq-length``;
* unless ``--flops-only``: one necessity plan (``--tiles`` tiles of the paper's
  layout, first, two by the TSS and last, times ``--shuffles`` shuffles, plus
  the wild type, one locus) runs with ``incremental=False`` and then
  ``incremental=True`` in the same process, after one untimed warm-up of each
  path (one batch of ``--batch-size`` tile mutants, so the timed part finds the
  batch's allocations made); reported: both wall times, the ratio, and the largest differences of the
  predictions and effects between the two paths.

``--noise`` adds N(0, noise) to every parameter (a random Enformer barely
depends on its input, so its effects are ~0 and their relative differences
meaningless; the raw predictions' relative difference is reported either way).
Exporting the published architecture takes several minutes of CPU.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_incremental")

CONFIGS = {  # (hyperparameters, export tracks, export bins)
    "full": (dict(output_heads=dict(human=5313, mouse=1643)), [4824, 5110, 5111], [447, 448]),
    "small": (dict(dim=192, depth=2, heads=4, attn_dim_key=32, dim_divisible_by=32,
                   output_heads=dict(human=5313)), [4824, 5110, 5111], [447, 448]),
    "tiny": (dict(dim=96, depth=1, heads=2, attn_dim_key=16, dim_divisible_by=16,
                  target_length=8, output_heads=dict(human=16)), [1, 5], None),
}
DEFAULT_LENGTH = {"full": 196_608, "small": 196_608, "tiny": 16_384}


def export_model(config: str, seq_length: int, noise: float, workdir: Path) -> Path:
    import torch
    from enformer_pytorch import Enformer

    from creme_fast.export import export_enformer

    hparams, tracks, bins = CONFIGS[config]
    torch.manual_seed(0)
    model = Enformer.from_hparams(**hparams).eval()
    if noise:
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn_like(param) * noise)
    path = workdir / f"enformer_{config}.onnx"
    start = time.perf_counter()
    export_enformer(model, path, seq_length=seq_length, tracks=tracks, bins=bins,
                    input_kind="tokens")
    log.info("exported %s in %.0f s", path, time.perf_counter() - start)
    return path


def tile_windows(geometry, seq_length: int, tile_size: int) -> list[int]:
    """Widths of the trunk windows a tile in the middle of the sequence changes."""
    base = np.zeros((1, seq_length), dtype=np.uint8)
    mutant = base.copy()
    start = seq_length // 2 - tile_size // 2
    mutant[0, start:start + tile_size] = 1
    _, _, _, w0, w1 = geometry.windows(mutant, base)
    return [int(w) for w in (w1 - w0)]


def count(path: Path, tile_size: int) -> dict:
    from creme_fast.export.flops import count_flops
    from creme_fast.runtime.metadata import ModelMetadata
    from creme_fast.runtime.geometry import TrunkGeometry
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta = ModelMetadata.from_json(next(p.value for p in model.metadata_props
                                        if p.key == "creme_fast"))
    if not meta.incremental:
        raise SystemExit(f"{path} has no incremental pieces (exported with --no-incremental?)")
    g = TrunkGeometry(**meta.incremental["geometry"])
    trunk = path.parent / meta.incremental["trunk"]["file"]
    tower = path.parent / meta.incremental["tower"]["file"]
    full = count_flops(model, {"sequence": (1, meta.seq_length)})["total"]
    trunk_full = count_flops(trunk, {"sequence": (1, meta.seq_length)})["total"]
    widths = tile_windows(g, meta.seq_length, tile_size)
    trunk_tile = sum(count_flops(trunk, {"sequence": (1, w)})["total"] for w in widths)
    tower_flops = count_flops(tower, {"rows": (1, g.rows, g.channels)})["total"]
    mutant = trunk_tile + tower_flops
    return {"seq_length": meta.seq_length, "tile_size": tile_size, "windows_bp": widths,
            "full_gflop": full / 1e9, "trunk_gflop": trunk_full / 1e9,
            "tower_gflop": tower_flops / 1e9, "tile_trunk_gflop": trunk_tile / 1e9,
            "tile_mutant_gflop": mutant / 1e9, "tile_mutant_fraction": mutant / full,
            "flop_ratio": full / mutant}


def timing(path: Path, tile_size: int, n_tiles: int, shuffles: int, batch_size: int,
           n_loci: int = 1, paths: tuple[bool, ...] = (False, True)) -> dict:
    from creme_fast import assays
    from creme_fast.bench import random_locus
    from creme_fast.pipeline import PipelineStats
    from creme_fast.runtime import OnnxPredictor
    from creme_fast.sequence.tiles import tile_layout

    predictor = OnnxPredictor(path)
    layout = tile_layout(predictor.seq_length, tile_size)
    tiles = layout.tiles
    near = int(np.argmin(np.abs(tiles[:, 0] - layout.tss[0])))
    pick = [0, max(near - 1, 0), min(near + 1, len(tiles) - 1), len(tiles) - 1]
    pick += [int(t) for t in np.linspace(0, len(tiles) - 1, len(tiles))]  # then spread out
    tiles = tiles[sorted(dict.fromkeys(pick))[:n_tiles]]
    seq = np.stack([random_locus(predictor.seq_length, seed=i) for i in range(n_loci)])
    options = dict(tiles=tiles, num_shuffles=shuffles, batch_size=batch_size, verbose=False)
    for incremental in paths:  # warm-up: sessions loaded, allocations made at the batch size
        assays.necessity(predictor, seq[0], tiles=tiles[:max(batch_size, 1)], num_shuffles=1,
                         verbose=False, batch_size=batch_size, incremental=incremental)
    out: dict = {"loci": n_loci}
    results = {}
    for incremental in paths:
        stats = PipelineStats()
        start = time.perf_counter()
        results[incremental] = assays.necessity(predictor, seq, incremental=incremental,
                                                stats=stats, **options)
        wall = time.perf_counter() - start
        out["incremental" if incremental else "full"] = {
            "wall_s": wall, "model_s": stats.model_s, "n_incremental": stats.n_incremental,
            "n_full_path": stats.n_full_path, "gflop_avoided": stats.flops_avoided / 1e9}
    n_tile_mutants = n_loci * len(tiles) * shuffles
    for incremental in paths:
        key = "incremental" if incremental else "full"
        out[key]["per_mutant_s"] = out[key]["wall_s"] / (n_tile_mutants + n_loci)
    out.update({"tiles": tiles.tolist(), "shuffles": shuffles, "batch_size": batch_size,
                "n_tile_mutants": n_tile_mutants})
    if len(paths) < 2:
        return out
    full, inc = results[False], results[True]
    pred_full = np.concatenate([full.wt.ravel(), full.mut.ravel()]).astype(np.float64)
    pred_inc = np.concatenate([inc.wt.ravel(), inc.mut.ravel()]).astype(np.float64)
    effect_diff = np.abs(inc.effect - full.effect)
    out.update({
        "mutants": int(full.mut[0].size // full.mut.shape[-1] // full.mut.shape[-2]) + 1,
        "tiles": tiles.tolist(), "shuffles": shuffles, "batch_size": batch_size,
        "speedup": out["full"]["wall_s"] / out["incremental"]["wall_s"],
        # the plan's wild type is a full pass on both paths; per tile mutant:
        "full_pass_s": (full_pass := out["full"]["wall_s"] / (n_loci + n_tile_mutants)),
        "tile_mutant_s": (tile_s := (out["incremental"]["wall_s"] - n_loci * full_pass)
                          / n_tile_mutants),
        "tile_mutant_speedup": full_pass / tile_s,
        "max_rel_pred_diff": float(np.max(np.abs(pred_inc - pred_full) /
                                          np.maximum(np.abs(pred_full), 1e-30))),
        "max_abs_effect_diff": float(np.nanmax(effect_diff)),
        "max_abs_effect": float(np.nanmax(np.abs(full.effect))),
        "max_effect_diff_rel_to_largest_effect": float(
            np.nanmax(effect_diff) / max(float(np.nanmax(np.abs(full.effect))), 1e-30))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    parser.add_argument("--model", type=Path, help="reuse this export (with its pieces)")
    parser.add_argument("--workdir", type=Path, help="keep the export here (default: a "
                        "temporary folder)")
    parser.add_argument("--seq-length", type=int)
    parser.add_argument("--tile-size", type=int, default=5000)
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--shuffles", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--loci", type=int, default=1, help="random loci in the plan")
    parser.add_argument("--paths", default="full,incremental",
                        help="which paths to time, in this order (one alone: no comparison)")
    parser.add_argument("--flops-only", action="store_true", help="count FLOPs, time nothing")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    seq_length = args.seq_length or DEFAULT_LENGTH[args.config]
    tile_size = min(args.tile_size, seq_length // 8)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        path = args.model or export_model(args.config, seq_length, args.noise, workdir)
        report = {"config": args.config, "model": str(path), "machine": platform.platform(),
                  "processor": platform.processor(), "flops": count(path, tile_size)}
        f = report["flops"]
        print(f"{args.config}: full pass {f['full_gflop']:.1f} GFLOP (trunk "
              f"{f['trunk_gflop']:.1f}, tower {f['tower_gflop']:.1f}); {tile_size} bp tile "
              f"mutant {f['tile_mutant_gflop']:.1f} GFLOP = {100 * f['tile_mutant_fraction']:.1f}"
              f"% of a full pass ({f['flop_ratio']:.2f}x fewer)")
        t = None
        if not args.flops_only:
            names = {"full": False, "incremental": True}
            paths = tuple(names[p] for p in args.paths.split(","))
            t = report["timing"] = timing(path, tile_size, args.tiles, args.shuffles,
                                          args.batch_size, args.loci, paths)
            for key in ("full", "incremental"):
                if key in t:
                    print(f"{key}: {t[key]['wall_s']:.2f} s, {t[key]['per_mutant_s']:.3f} s "
                          f"per mutant (batch {args.batch_size}, {args.loci} loci x "
                          f"{len(t['tiles'])} tiles x {args.shuffles} shuffles)")
            if len(paths) < 2:
                t = None
        if not args.flops_only and t is not None:
            print(f"necessity, {t['mutants']} mutants: full {t['full']['wall_s']:.2f} s, "
                  f"incremental {t['incremental']['wall_s']:.2f} s ({t['speedup']:.2f}x); max "
                  f"relative prediction difference {t['max_rel_pred_diff']:.2e}, max effect "
                  f"difference {t['max_abs_effect_diff']:.2e} (largest effect "
                  f"{t['max_abs_effect']:.2e})")
            print(f"per tile mutant: full pass {t['full_pass_s']:.3f} s, incremental "
                  f"{t['tile_mutant_s']:.3f} s ({t['tile_mutant_speedup']:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
