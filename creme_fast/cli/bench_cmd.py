"""``creme-fast bench``: how fast is this machine, for this model, at this batch size."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.bench import TESTS
from creme_fast.cli.common import (
    add_threads_option,
    check_gpu_options,
    progress_bar,
    progress_wanted,
)
from creme_fast.cli.options import PROVIDER_HELP, int_list, note_deprecation, positive_int
from creme_fast.machine import cpu_info
from creme_fast.sequence.tokens import one_hot

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="perturbation rate, model throughput by batch size, and "
                       "end-to-end mutants per second")
    p.add_argument("--model", default="none", help="an .onnx export, 'synthetic' (the "
                   "built-in model), or 'none' for the engine alone (default: none)")
    p.add_argument("--test", choices=list(TESTS), default="necessity",
                   help="the test whose mutants are timed (default: necessity)")
    p.add_argument("--batch-sizes", type=int_list, default=[1, 2, 4, 8], metavar="N,N,...",
                   help="model batch sizes to time (default: 1,2,4,8)")
    p.add_argument("--seq-length", type=positive_int, default=196_608, metavar="BP",
                   help="sequence length in bp for --model none (default: 196608; a "
                   "model takes its own)")
    p.add_argument("--shuffles", type=positive_int, default=10, metavar="N",
                   help="dinucleotide shuffles per mutant (default: 10, the paper's)")
    p.add_argument("--tile-size", type=positive_int, default=5000, metavar="BP",
                   help="tile width in bp (default: 5000, the paper's)")
    p.add_argument("--provider", default="auto", help=PROVIDER_HELP)
    p.add_argument("--allow-cpu-nodes", action="store_true",
                   help="with --provider cuda or tensorrt: measure even when ONNX Runtime "
                   "leaves model work to the CPU (default: refuse, naming the nodes)")
    p.add_argument("--repeats", type=positive_int, default=3, metavar="N",
                   help="timed repeats of each measurement (default: 3)")
    p.add_argument("--out", type=Path, metavar="PATH",
                   help="also write the figures to PATH as JSON (default: none)")
    p.add_argument("--json", nargs="?", const=True, default=False, action=JsonOrPath,
                   help="print the figures as JSON on stdout instead of text, as "
                   "`creme-fast info --json` (default: text; --json PATH is the deprecated "
                   "spelling of --out PATH)")
    p.add_argument("--reference", default="auto", metavar="auto|none|CHECKPOINT",
                   help="time one PyTorch eager pass of the model against one ONNX Runtime "
                   "pass on the same input, and estimate each test's time per gene: 'auto' "
                   "(default) for an Enformer export when torch and enformer-pytorch are "
                   "installed (its recorded checkpoint if present here, else its architecture "
                   "with random weights), 'none' to skip, or a checkpoint to load")
    add_threads_option(p)
    p.set_defaults(handler=run)


class JsonOrPath(argparse.Action):
    """``--json``: print JSON; ``--json PATH`` (the old spelling of ``--out PATH``)
    writes it to PATH, with a deprecation message."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        if values is True:
            namespace.json = True
            return
        namespace.out = Path(str(values))
        note_deprecation(namespace, f"bench --json PATH is deprecated; use --out {values}")


def run(args: argparse.Namespace) -> int:
    from creme_fast import bench, bench_reference

    args.provider = args.provider or "auto"
    check_gpu_options(args)

    report: dict = {"test": args.test, "machine": cpu_info().as_dict()}
    if args.model == "none":
        if args.reference not in ("auto", "none"):
            raise ValueError(f"--reference {args.reference}: --model none has nothing to "
                             "time against PyTorch")
        report["generation"] = [
            bench.generation_rate(args.test, seq_length=args.seq_length,
                                  num_shuffles=args.shuffles, tile_size=args.tile_size,
                                  batch_size=max(args.batch_sizes), input_kind=kind,
                                  repeats=args.repeats)
            for kind in ("onehot", "tokens")]
    else:
        from creme_fast.progress import Progress, format_duration
        from creme_fast.runs.executor import CountingPredictor
        from creme_fast.runtime import load_predictor
        from creme_fast.synthetic.model import synthetic_model_path

        path = synthetic_model_path() if args.model == "synthetic" else args.model
        options = {"allow_cpu_nodes": True} if args.allow_cpu_nodes else {}
        model = load_predictor(path, providers=args.provider, threads=args.threads, **options)
        bench_reference.check_reference(getattr(model, "metadata", None), args.reference)
        report["model"] = str(args.model)
        report["generation"] = [bench.generation_rate(
            args.test, seq_length=model.seq_length, num_shuffles=args.shuffles,
            tile_size=args.tile_size, batch_size=max(args.batch_sizes),
            input_kind=model.input_kind, input_dtype=model.input_dtype,
            repeats=args.repeats)]
        incremental = getattr(model, "incremental", None) is not None
        passes = bench.planned_passes(args.test, args.batch_sizes, args.repeats,
                                      model.seq_length, args.shuffles, args.tile_size,
                                      incremental)
        one = bench.model_throughput(model, [1], repeats=1)[0]["s_per_batch"]
        estimate = passes * one
        report["estimate"] = {"passes": passes, "s_per_pass": one, "total_s": estimate}
        log.info("bench: one pass of %s takes %.3g s here; this bench makes about %d passes: "
                 "about %s in all (fewer --batch-sizes, --repeats or --shuffles, or a larger "
                 "--tile-size, make it shorter)", Path(str(path)).name, one, passes,
                 format_duration(estimate))
        with Progress(passes, f"bench {Path(str(path)).name}", enabled=progress_wanted(args),
                      interval=args.progress_interval, bar=progress_bar(args)) as progress:
            predictor = CountingPredictor(model, progress.update)
            report["throughput"] = bench.model_throughput(predictor, args.batch_sizes,
                                                          repeats=args.repeats)
            best = max(report["throughput"], key=lambda r: r["seqs_per_s"])["batch_size"]
            report["end_to_end"] = bench.end_to_end(predictor, args.test,
                                                    num_shuffles=args.shuffles,
                                                    tile_size=args.tile_size, batch_size=best,
                                                    incremental=False)
            if incremental:
                report["end_to_end_incremental"] = bench.end_to_end(
                    predictor, args.test, num_shuffles=args.shuffles,
                    tile_size=args.tile_size, batch_size=best, incremental=True)
        report["recommended_batch_size"] = bench.recommend_batch_size(report["throughput"])
        ort_figures = _ort_figures(args, model)
        del predictor, model  # PyTorch's pass needs the memory the weights hold
        report.update(_against_reference(args, ort_figures))
    lines = [f"creme-fast bench: {args.test}", f"  machine: {report['machine']['summary']}"]
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
    if "recommended_batch_size" in report:
        rec = report["recommended_batch_size"]
        rate = next(t["seqs_per_s"] for t in report["throughput"] if t["batch_size"] == rec)
        lines.append(f"  recommended: --batch-size {rec} on this machine ({rate:,.2f} seq/s; "
                     "the smallest batch within 5% of the best throughput measured)")
    lines += _reference_lines(report)
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.json is True
                     else "\n".join(lines) + "\n")
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


def _ort_figures(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """One warm ONNX Runtime full pass and one incremental tile mutant on a random locus,
    and what the per-gene estimates need from the model (issue 33)."""
    from creme_fast import bench, bench_reference
    from creme_fast.runtime.incremental import incremental_of

    tokens = bench.random_locus(model.seq_length)
    batch = (tokens[None] if model.input_kind == "tokens"
             else one_hot(tokens[None], dtype=np.dtype(model.input_dtype)))
    start = time.perf_counter()
    model.predict(batch)  # warm since the throughput runs
    full_s = time.perf_counter() - start
    inc = incremental_of(model)
    return {"tokens": tokens, "full_s": full_s, "input_kind": model.input_kind,
            "tile_s": bench_reference.tile_mutant_seconds(model, tokens, args.tile_size),
            "geometry": None if inc is None else inc.geometry,
            "metadata": getattr(model, "metadata", None)}


def _against_reference(args: argparse.Namespace, ort: dict[str, Any]) -> dict[str, Any]:
    """One PyTorch pass on the ORT pass's input, and each test's expected time per gene."""
    from creme_fast import bench, bench_reference

    metadata, tokens = ort["metadata"], ort["tokens"]
    reference = bench_reference.load_reference(metadata, args.reference)
    torch_s = None
    if reference is not None:
        log.info("bench: one PyTorch pass of %s (%s)", Path(str(args.model)).name,
                 reference.description)
        torch_s = bench_reference.time_reference(reference, tokens, getattr(
            metadata, "head", None), args.threads)
        del reference
    times = bench_reference.PassTimes(full_s=ort["full_s"], tile_s=ort["tile_s"],
                                      torch_s=torch_s)
    per_gene = {}
    for test in bench.TESTS:
        n_full, n_inc = bench_reference.path_counts(
            bench._run_test, test, ort["geometry"], ort["input_kind"], tokens,
            num_shuffles=args.shuffles, tile_size=args.tile_size)
        per_gene[test] = bench_reference.per_gene(times, n_full, n_inc)
    return {"pass_times": {"ort_full_s": ort["full_s"], "ort_tile_mutant_s": ort["tile_s"],
                           "torch_s": torch_s},
            "reference": None if torch_s is None else args.reference, "per_gene": per_gene,
            "tile_size": args.tile_size, "shuffles": args.shuffles}


def _reference_lines(report: dict[str, Any]) -> list[str]:
    from creme_fast.progress import format_duration

    times = report.get("pass_times")
    if not times:
        return []
    full, tile, ref = times["ort_full_s"], times["ort_tile_mutant_s"], times["torch_s"]
    lines = [f"  one pass, batch 1, same input: ONNX Runtime {full:.3g} s" + (
        f", PyTorch eager {ref:.3g} s: ONNX Runtime {ref / full:.2f}x faster" if ref else
        " (no PyTorch reference: see --reference)")]
    if tile is not None:
        lines.append(f"  incremental tile mutant: {tile:.3g} s, {full / tile:.2f}x faster than "
                     "a full pass" + (f", {ref / tile:.2f}x faster than a PyTorch pass"
                                      if ref else ""))

    def when(s: float | None) -> str:
        if s is None:
            return "-"
        return f"{1e3 * s:.0f} ms" if s < 1 else f"{s:.1f} s" if s < 60 else format_duration(s)

    lines.append(f"  expected time per gene at --tile-size {report['tile_size']} --shuffles "
                 f"{report['shuffles']} (PyTorch: one pass a mutant, as creme-nn's loop):")
    for test, g in report["per_gene"].items():
        best = g["ort_full_s"] if g["ort_incremental_s"] is None else g["ort_incremental_s"]
        ort = (f"ONNX Runtime {when(best)}" if not g["incremental"] else
               f"ONNX Runtime {when(best)} incremental, {when(g['ort_full_s'])} in full passes")
        ref = ("" if g["torch_s"] is None else
               f"; PyTorch {when(g['torch_s'])} ({g['torch_s'] / best:.1f}x slower)")
        lines.append(f"    {test}: {g['mutants']} mutants ({g['full_passes']} full, "
                     f"{g['incremental']} incremental): {ort}{ref}")
    return lines
