"""``creme-fast bench``: how fast is this machine, for this model, at this batch size."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from creme_fast.cli.common import add_threads_option
from creme_fast.cli.options import int_list

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="perturbation rate, model throughput by batch size, and "
                       "end-to-end mutants per second")
    p.add_argument("--model", default="none", help="an .onnx export, or 'none' for the "
                   "engine alone")
    p.add_argument("--test", choices=["context", "necessity", "sufficiency"],
                   default="necessity")
    p.add_argument("--batch-sizes", type=int_list, default=[1, 2, 4, 8])
    p.add_argument("--seq-length", type=int, default=196_608,
                   help="sequence length for --model none")
    p.add_argument("--shuffles", type=int, default=10)
    p.add_argument("--tile-size", type=int, default=5000)
    p.add_argument("--provider", help="ONNX Runtime provider (default: best available)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", dest="json_path", help="also write the figures to this file")
    add_threads_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from creme_fast import bench

    report: dict = {"test": args.test}
    if args.model == "none":
        report["generation"] = [
            bench.generation_rate(args.test, seq_length=args.seq_length,
                                  num_shuffles=args.shuffles, tile_size=args.tile_size,
                                  batch_size=max(args.batch_sizes), input_kind=kind,
                                  repeats=args.repeats)
            for kind in ("onehot", "tokens")]
    else:
        from creme_fast.runtime import load_predictor

        predictor = load_predictor(args.model, providers=args.provider, threads=args.threads)
        report["model"] = str(args.model)
        report["generation"] = [bench.generation_rate(
            args.test, seq_length=predictor.seq_length, num_shuffles=args.shuffles,
            tile_size=args.tile_size, batch_size=max(args.batch_sizes),
            input_kind=predictor.input_kind, input_dtype=predictor.input_dtype,
            repeats=args.repeats)]
        report["throughput"] = bench.model_throughput(predictor, args.batch_sizes,
                                                      repeats=args.repeats)
        best = max(report["throughput"], key=lambda r: r["seqs_per_s"])["batch_size"]
        report["end_to_end"] = bench.end_to_end(predictor, args.test, num_shuffles=args.shuffles,
                                                tile_size=args.tile_size, batch_size=best,
                                                incremental=False)
        if getattr(predictor, "incremental", None) is not None:
            report["end_to_end_incremental"] = bench.end_to_end(
                predictor, args.test, num_shuffles=args.shuffles, tile_size=args.tile_size,
                batch_size=best, incremental=True)
    lines = [f"creme-fast bench: {args.test}"]
    for g in report["generation"]:
        lines.append(f"  generation ({g['input']}, batch {g['batch_size']}): "
                     f"{g['mutants_per_s']:,.0f} mutants/s ({g['ms_per_mutant']:.3f} ms each: "
                     f"splice {g['splice_ms_per_mutant']:.3f}, one-hot "
                     f"{g['one_hot_ms_per_mutant']:.3f})")
    for t in report.get("throughput", []):
        lines.append(f"  model batch {t['batch_size']:>3}: {t['seqs_per_s']:,.2f} seq/s "
                     f"({t['s_per_batch']:.3f} s/batch, {t['provider']})")
    for key, label in (("end_to_end", "full passes"), ("end_to_end_incremental", "incremental")):
        if key in report:
            e = report[key]
            lines.append(f"  end to end, {label} ({e['mutants']} mutants, batch "
                         f"{e['batch_size']}): {e['mutants_per_s']:,.2f} mutants/s, pipeline "
                         f"efficiency {100 * e['pipeline_efficiency']:.1f}%; "
                         f"{e['n_incremental']} incremental, {e['n_full_path']} full")
    if "end_to_end_incremental" in report:
        ratio = report["end_to_end"]["wall_s"] / report["end_to_end_incremental"]["wall_s"]
        lines.append(f"  incremental speed-up: {ratio:.2f}x")
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2))
    return 0
