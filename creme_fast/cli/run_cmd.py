"""``creme-fast run TEST``: one CREME test over every TSS of a table, resumably."""
from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import Any

from creme_fast.cli.common import (
    add_threads_option,
    check_gpu_options,
    progress_bar,
    progress_wanted,
    record,
)
from creme_fast.cli.options import (
    PROVIDER_HELP,
    CremeTestName,
    DeprecatedAlias,
    ExclusiveBoolean,
    bin_list,
    int_list,
    positive_int,
    seed,
)
from creme_fast.runs.shard import parse_shard, shard_rows
from creme_fast.runtime.metadata import describe_precision
from creme_fast.runtime.readout import recorded_tss_bins, resolve_bins

log = logging.getLogger("creme_fast.cli")

DEFAULT_BATCH_SIZE = 8  # sequences per model call when --batch-size is not given
# the Python names of tests, accepted by `run` with a message naming the CLI's
TEST_ALIASES = {"fine_tile": "fine-tile", "fine_tile_search": "fine-tile",
                "higher_order": "higher-order", "context_dependence": "context"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    from creme_fast.runs.steps import STEPS

    p = sub.add_parser(
        "run", help="run a CREME test on every TSS of a table, writing resumable results",
        description="Run one CREME test on windows of the genome centred on each TSS. "
        "Finished loci are appended atomically to DIR/results/*.parquet; re-running with "
        "the same settings resumes where a killed run stopped.")
    p.add_argument("test", action=CremeTestName, names=sorted(STEPS), aliases=TEST_ALIASES,
                   help="the CREME test to run on every TSS")
    p.add_argument("--model", required=True,
                   help="a creme-fast .onnx export, or 'synthetic' (the built-in "
                   "ground-truth model); required")
    p.add_argument("--fasta", required=True, type=Path, help="genome FASTA (its .fai is "
                   "built beside it when missing); required")
    p.add_argument("--tss", required=True, type=Path,
                   help="TSS table: CSV/TSV/parquet (chrom, tss 0-based, strand, name), BED6, "
                   "or GTF/GFF (e.g. GENCODE's); required")
    p.add_argument("--out", required=True, type=Path, help="run directory (resumed when it "
                   "holds a run with the same settings); required")
    p.add_argument("--tracks", type=int_list, help="tracks to keep, as the model's original "
                   "indices (e.g. 5110,5111 of an export pruned to 4824,5110,5111; default: "
                   "every track the model outputs)")
    p.add_argument("--bins", type=bin_list, help="output bins averaged into a gene's "
                   "activity, as positions in the model's output (0 and 1 of an export "
                   "pruned to bins 447,448), or 'all' (default: the TSS bins the model "
                   "records, as `creme-fast info MODEL` shows; a model that records none "
                   "needs --bins)")
    p.add_argument("--tile-size", type=positive_int, default=5000, metavar="BP",
                   help="tile width in bp (default: 5000, the paper's)")
    p.add_argument("--shuffles", type=positive_int, default=10, metavar="N",
                   help="dinucleotide shuffles per mutant (default: 10, the paper's)")
    p.add_argument("--seed", type=seed, default=0, help="shuffle seed, 0..2**64-1 "
                   "(default: 0); each locus's shuffles are keyed by its name too")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="sequences per model call (results do not depend on it; default: "
                   f"{DEFAULT_BATCH_SIZE}, or the largest that fits --max-batch-memory)")
    p.add_argument("--max-batch-memory", default="auto", metavar="SIZE",
                   help="refuse a --batch-size whose engine buffers plus the model's working "
                   "memory (measured at export) would exceed SIZE in bytes, with K/M/G "
                   "suffixes (e.g. 512M, 16G; default: auto, the machine's available "
                   "memory); the run logs what its batch costs")
    p.add_argument("--incremental", action=ExclusiveBoolean, default=None,
                   help="recompute only the trunk rows a tile changes (default: when the "
                   "model has the pieces; --incremental: required, --no-incremental: never)")
    p.add_argument("--provider", default="auto", help=PROVIDER_HELP)
    p.add_argument("--allow-cpu-nodes", action="store_true",
                   help="with --provider cuda or tensorrt: run even when ONNX Runtime leaves "
                   "model work (FLOPs, activations) to the CPU (default: refuse, naming the "
                   "nodes; auto only warns)")
    p.add_argument("--cuda-graph", action="store_true",
                   help="run the model as a CUDA graph at --batch-size (CUDA provider; the "
                   "last batch of a locus is padded, padding never reaches results; "
                   "default: off); refused, with the reason, where ONNX Runtime cannot "
                   "capture every node on CUDA")
    p.add_argument("--track", type=int, default=None,
                   help="higher-order, multiplicity, fine-tile: the track they follow, as "
                   "the model's original index (default: the track of the table's rows "
                   "when all are of one, e.g. a summary narrowed with --query \"track == "
                   "1\"; else the first of --tracks)")
    p.add_argument("--rounds", type=positive_int, default=2, metavar="N",
                   help="higher-order: greedy rounds, one tile chosen per round, at most the "
                   "tiles beside the TSS tile (default: 2)")
    p.add_argument("--optimization", choices=["min", "max"], default="min",
                   help="higher-order: min for enhancers, max for silencers (multiplicity "
                   "and fine-tile read min as an enhancer CRE, max as a silencer; "
                   "default: min)")
    p.add_argument("--seq-length", dest="length", type=positive_int, metavar="BP",
                   help="window length in bp (default: the model's; must match it)")
    p.add_argument("--length", dest="length", type=positive_int, action=DeprecatedAlias,
                   current="--seq-length", help=argparse.SUPPRESS)
    p.add_argument("--query", help="keep TSS rows matching this pandas query, e.g. "
                   "\"category == 'enhancing' and track == 0\" on an earlier run's summary "
                   "(default: every row)")
    p.add_argument("--top", type=positive_int, metavar="N", help="keep the N rows ranked "
                   "highest by --by (a selection that matches nothing writes an empty run "
                   "and exits 0; default: every row)")
    p.add_argument("--by", metavar="COLUMN", help="column ranking --top, descending "
                   "(no default: --top needs it)")
    p.add_argument("--gtf-feature", choices=["transcript", "gene"], default="transcript",
                   help="GTF/GFF: the records whose start (end on -) is a TSS (default: "
                   "transcript)")
    p.add_argument("--all-biotypes", action="store_true",
                   help="GTF/GFF: keep every record, not only protein-coding ones")
    p.add_argument("--chunk-loci", type=positive_int, default=8, metavar="N",
                   help="loci per engine run and per results file (default: 8)")
    p.add_argument("--no-resume", action="store_true",
                   help="discard a previous run in --out instead of resuming it")
    p.add_argument("--shard", type=parse_shard, metavar="K/N",
                   help="run only shard K of N: the selected rows (after --query/--top), "
                   "in line order (rank order under --top), dealt out in turn to shards "
                   "1..N; combine the shards' directories with `creme-fast merge` "
                   "(default: every selected row)")
    add_threads_option(p)
    add_ray_arguments(p)
    p.set_defaults(handler=run)


# --- scale-out on Ray (issue 13): options, their checks, the executor ---------------


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]``, ``--workers``, ``--gpus-per-worker``, ``--threads-per-worker``."""
    from creme_fast.cli.options import non_negative_float, worker_threads

    ray = p.add_argument_group("scale-out on Ray (pip install 'creme-fast[ray]')")
    ray.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                     help="compute chunks on Ray workers: no ADDRESS starts a local Ray "
                     "instance; 'auto' joins the cluster this node belongs to (after `ray "
                     "start`), ray://HOST:PORT or HOST:PORT joins that one (default: no "
                     "Ray, this process runs the model)")
    ray.add_argument("--workers", type=positive_int, metavar="N",
                     help="Ray workers, each loading the model once (default: 1)")
    ray.add_argument("--gpus-per-worker", type=non_negative_float, metavar="G",
                     help="GPUs per worker, at most 1; fractions share a GPU, 0 runs CPU "
                     "workers (default: 0)")
    ray.add_argument("--threads-per-worker", type=worker_threads, metavar="T",
                     help="CPUs (ONNX Runtime threads) per worker (default: 1)")


def ray_executor(args: argparse.Namespace, model: Path,
                 files: dict[str, bytes] | None = None) -> Any:
    """A :class:`~creme_fast.runs.distributed.RayExecutor` for ``--ray`` (not started
    yet), or None; bad Ray options are refused before any work. ``files`` (the
    model's bytes by file name) are what it sends, with the pieces beside it."""
    given = [f"--{name.replace('_', '-')}" for name in
             ("workers", "gpus_per_worker", "threads_per_worker")
             if getattr(args, name) is not None]
    if args.ray is None:
        if given:
            raise ValueError(f"{', '.join(given)} need(s) --ray")
        return None
    from creme_fast.runs.distributed import RayExecutor, import_ray, piece_files

    import_ray()
    if files is not None and args.incremental is not False:
        files = {**files, **piece_files(model)}
    return RayExecutor(model, workers=args.workers or 1, files=files,
                       gpus_per_worker=args.gpus_per_worker or 0.0,
                       threads_per_worker=args.threads_per_worker or 1,
                       address=args.ray, provider=args.provider, seq_length=args.length,
                       incremental=args.incremental is not False)


# --- end of the Ray block ----------------------------------------------------------


def _model_path(args: argparse.Namespace) -> Path:
    from creme_fast.synthetic.model import synthetic_model_path

    path = synthetic_model_path() if args.model == "synthetic" else Path(args.model)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path} (give a creme-fast .onnx export "
                                "or 'synthetic')")
    return path


def _load_model(args: argparse.Namespace, files: dict[str, bytes], provider: str | None = None
                ) -> tuple[Any, str, str, list[int] | None]:
    """Predictor, its name for the settings, its identity, its default bins; the
    identity is the sha256 of the bytes in ``files`` that the predictor loads (and
    that Ray workers are sent)."""
    import hashlib

    from creme_fast.runtime import OnnxPredictor

    path = _model_path(args)
    threads = getattr(args, "threads", None)
    predictor = OnnxPredictor(path, providers=provider or args.provider,
                              seq_length=args.length, threads=threads, files=files,
                              allow_cpu_nodes=getattr(args, "allow_cpu_nodes", False))
    if provider is None:  # with Ray the workers run the model (--threads-per-worker)
        log.info("model threads: %s", threads or "one per physical core (ONNX Runtime's default)")
    if args.length is not None and predictor.seq_length != args.length:
        raise ValueError(f"--seq-length {args.length} does not match the model: {path.name} "
                         f"takes {predictor.seq_length} bp windows")
    meta = predictor.metadata
    if meta is not None and meta.extra.get("precision"):
        entry = meta.extra["precision"]
        log.log(logging.INFO if entry.get("passed") else logging.WARNING, "%s: %s", path.name,
                describe_precision(entry))
    identity = hashlib.sha256(files[path.name]).hexdigest()  # the whole graph
    return predictor, args.model, identity, recorded_tss_bins(predictor)


def _output_shape(predictor: Any) -> tuple[int, int]:
    from creme_fast.runs.schema import output_shape

    return output_shape(predictor)


def _check_indices(values: list[int] | None, size: int, option: str, what: str) -> None:
    from creme_fast._validate import check_indices

    if values is not None:
        check_indices(values, size, option, what)


# tests whose mutants are the tiles (or tile starts) beside the TSS tile
TILED_TESTS = {"necessity", "sufficiency", "higher-order", "distance", "multiplicity"}


def _check_tracks(args: argparse.Namespace, predictor: Any, n_tracks: int) -> None:
    """``--tracks`` and ``--track`` are the model's original track indices: those an
    export kept (its metadata says which), else 0..n_tracks - 1."""
    from creme_fast.schema.tracks import model_tracks

    tracks = model_tracks(predictor)
    if tracks.ids is None:
        _check_indices(args.tracks, n_tracks, "--tracks", "tracks")
        if args.track is not None and not 0 <= args.track < n_tracks:
            raise ValueError(f"--track {args.track} is out of range: the model has {n_tracks} "
                             f"tracks (0..{n_tracks - 1})")
    else:
        tracks.positions(args.tracks, "--tracks")
        _check_indices(args.tracks, max(tracks.ids) + 1, "--tracks", "tracks")
        if args.track is not None:
            tracks.positions([args.track], "--track")
    if (args.test in TRACK_TESTS and args.tracks is not None and args.track is not None
            and args.track not in args.tracks):
        raise ValueError(f"--track {args.track} is not among --tracks "
                         f"{','.join(map(str, args.tracks))}")


def _config(args: argparse.Namespace, predictor: Any, default_bins: list[int] | None) -> Any:
    """The step settings, every option checked against the model first."""
    from creme_fast.pipeline.memory import batch_cost, fit_batch, format_bytes, parse_bytes
    from creme_fast.runtime.gpu_batch import fit_gpu_batch
    from creme_fast.runs.steps import StepConfig
    from creme_fast.sequence.tiles import tile_layout

    n_bins, n_tracks = _output_shape(predictor)
    length = predictor.seq_length
    if isinstance(args.bins, list):
        _check_indices(args.bins, n_bins, "--bins", "output bins")
    # the one default of the API, the CLI and the workflow: the model's recorded TSS bins
    bins = args.bins if args.bins is not None else default_bins
    if bins is None:
        resolve_bins(predictor, None, "--bins")  # refuses, naming --bins
    if args.bins is None and not all(0 <= b < n_bins for b in bins):
        raise ValueError(f"the model records TSS bins {bins} outside its {n_bins} output "
                         "bins; give --bins")
    _check_tracks(args, predictor, n_tracks)
    if args.test != "activity":  # the one test that reads no tile
        try:
            layout = tile_layout(length, args.tile_size)
        except ValueError as exc:
            raise ValueError(f"--tile-size {args.tile_size}: {exc}") from None
        if args.test in TILED_TESTS and not layout.n_tiles:
            raise ValueError(f"--tile-size {args.tile_size} leaves no tile beside the TSS "
                             f"tile in a {length:,} bp window: {args.test} would have nothing "
                             "to test; give a smaller --tile-size")
        if args.test == "higher-order" and args.rounds > layout.n_tiles:
            n = layout.n_tiles
            raise ValueError(f"--rounds {args.rounds}: a {length:,} bp window has {n} "
                             f"tile{'s' if n > 1 else ''} beside the TSS tile with --tile-size "
                             f"{args.tile_size}, so at most {n} round{'s' if n > 1 else ''}")
    budget = None if args.max_batch_memory == "auto" else parse_bytes(args.max_batch_memory)
    n_out = (len(bins) if isinstance(bins, list) else n_bins) * (
        len(args.tracks) if args.tracks is not None else n_tracks)
    cost = batch_cost(predictor, n_out, "auto" if args.incremental is None else args.incremental)
    explicit = args.batch_size is not None
    args.batch_size = fit_batch(args.batch_size if explicit else DEFAULT_BATCH_SIZE, cost,
                                budget, explicit=explicit, option="--batch-size",
                                budget_label=f"--max-batch-memory {args.max_batch_memory}")
    args.batch_size = fit_gpu_batch(args.batch_size, getattr(predictor, "gpu_limit", None),
                                    explicit=explicit, option="--batch-size")
    engine = cost(args.batch_size) - cost.fixed - args.batch_size * cost.model_per_sequence
    model = cost.fixed + args.batch_size * cost.model_per_sequence
    log.info("batches of %d: %s of engine buffers (budget %s) plus %s", args.batch_size,
             format_bytes(engine), "the machine's available memory" if budget is None
             else format_bytes(budget), f"{format_bytes(model)} of the model's working memory "
             "(measured at export)" if model else "the model's working memory")
    if args.incremental:
        from creme_fast.pipeline.incremental import resolve_incremental

        resolve_incremental(predictor, True)  # the model must offer it
    return StepConfig(tile_size=args.tile_size, num_shuffles=args.shuffles, seed=args.seed,
                      batch_size=args.batch_size,
                      bins=bins if isinstance(bins, str) else tuple(bins),
                      tracks=None if args.tracks is None else tuple(args.tracks),
                      track=args.track, rounds=args.rounds, optimization=args.optimization,
                      max_batch_bytes=budget,
                      incremental="auto" if args.incremental is None else args.incremental)


# tests that follow one track (--track)
TRACK_TESTS = {"higher-order", "multiplicity", "fine-tile"}
CRE_TESTS = {"distance", "multiplicity", "fine-tile"}


def _check_cres(test: str, table: Any, length: int, path: Path, tile_size: int) -> None:
    """The CRE tests need a CRE inside the window on every row; distance and
    multiplicity move it to every tile start, where it must fit too."""
    from creme_fast.runs.steps import _cre_of
    from creme_fast.sequence.tiles import tile_layout

    if test not in CRE_TESTS:
        return
    starts = tile_layout(length, tile_size).tiles[:, 0]
    last = int(starts.max()) if test in ("distance", "multiplicity") and len(starts) else 0
    for _, row in table.iterrows():
        try:
            start, end = _cre_of(row)
        except ValueError as exc:
            raise ValueError(f"{path}: line {row['line']}: {exc}") from None
        if not 0 <= start < end <= length:
            raise ValueError(f"{path}: line {row['line']}: CRE [{start}, {end}) is not inside "
                             f"the {length} bp window")
        if last + end - start > length:
            raise ValueError(f"{path}: line {row['line']}: CRE [{start}, {end}) is "
                             f"{end - start:,} bp: {test} moves it to every tile start, and "
                             f"at {last:,} it would end past the {length:,} bp window (at "
                             f"most {length - last:,} bp with --tile-size {tile_size})")


def _select(table: Any, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    selection: dict[str, Any] = {"query": args.query} if args.query else {}
    if args.top is not None:
        if not args.by or args.by not in table.columns:
            raise ValueError(f"--top needs --by naming a column of {args.tss} (it has "
                             f"{', '.join(map(str, table.columns))})")
        import pandas as pd

        if not pd.api.types.is_numeric_dtype(table[args.by]):
            raise ValueError(f"--by {args.by}: column of {args.tss} is not numeric "
                             f"(e.g. {table[args.by].iloc[0]!r})")
        table = table.sort_values(args.by, ascending=False, kind="stable",
                                  na_position="last").head(args.top)
        selection.update(top=args.top, by=args.by)
    table = table.reset_index(drop=True)
    if args.shard is not None:
        table = shard_rows(table, *args.shard)
        selection["shard"] = f"{args.shard[0]}/{args.shard[1]}"
    if table.empty:
        what = ", ".join(f"--{k} {v}" for k, v in selection.items()) or "an empty table"
        log.warning("%s: no TSS rows left after the selection (%s): writing an empty run "
                    "(summary with no rows)", args.tss, what)
    return table, selection


def _follow_table_track(args: argparse.Namespace, table: Any) -> None:
    """A test that follows one track reads a table whose rows are all of one track (a
    summary narrowed with --query "track == 1") on that track, unless --track says
    otherwise (which is then said)."""
    from creme_fast.io.tss import table_track

    track = table_track(table) if args.test in TRACK_TESTS else None
    if track is None:
        return
    if args.track is None:
        log.info("%s: every row is of track %d: %s follows track %d (give --track to "
                 "follow another)", args.tss, track, args.test, track)
        args.track = track
    elif args.track != track:
        log.warning("--track %d is not the track of the table's rows (%d): %s follows "
                    "track %d as asked", args.track, track, args.test, args.track)


def _check_args(args: argparse.Namespace) -> None:
    """Checks that need no file."""
    from creme_fast.io.store import check_run_directory
    from creme_fast.pipeline.memory import parse_bytes

    if (args.top is None) != (args.by is None):
        raise ValueError("--top and --by go together")
    if args.threads is not None and args.ray is not None:
        raise ValueError("--threads sets this process's model threads; with --ray give "
                         "--threads-per-worker")
    check_gpu_options(args)
    try:
        if args.max_batch_memory != "auto":
            parse_bytes(args.max_batch_memory)
    except ValueError as exc:
        raise ValueError(f"--max-batch-memory: {exc}") from None
    check_run_directory(args.out)


def run(args: argparse.Namespace) -> int:
    from creme_fast.io.genome import Genome
    from creme_fast.io.tss import check_against_genome, read_tss
    from creme_fast.runs.runner import RunRequest, run_over_genome

    # every input is checked before anything is written to --out
    _check_args(args)
    table = read_tss(args.tss, gtf_feature=args.gtf_feature,
                     protein_coding=not args.all_biotypes, query=args.query)
    table, selection = _select(table, args)
    _follow_table_track(args, table)
    model = _model_path(args)
    files = {model.name: model.read_bytes()}  # read once: hashed, checked, loaded, sent
    executor = ray_executor(args, model, files)
    # with Ray the driver reads only the model's metadata (on CPU); workers run it
    predictor, model_name, model_id, default_bins = _load_model(
        args, files, "cpu" if executor is not None else None)
    files.clear()  # the predictor and the executor hold what they need
    config = _config(args, predictor, default_bins)
    if args.cuda_graph:  # the batch size is fitted now: capture at it
        predictor.use_buckets([config.batch_size], cuda_graph=True)
    with Genome(args.fasta) as genome, executor or contextlib.nullcontext():
        check_against_genome(table, genome, args.tss)
        _check_cres(args.test, table, predictor.seq_length, args.tss, args.tile_size)
        if executor is not None:
            executor.start()  # a cluster that cannot run the model fails before any file
        request = RunRequest(test=args.test, out=args.out, config=config, model=model_name,
                             model_id=model_id, fasta=args.fasta, tss=args.tss,
                             selection=selection, resume=not args.no_resume,
                             chunk_loci=args.chunk_loci, progress=progress_wanted(args),
                             progress_interval=args.progress_interval,
                             progress_bar=progress_bar(args))
        outcome = run_over_genome(request, predictor, genome, table, executor=executor)
    failed = len(outcome.failed)
    record("run %s: %d loci selected, %d run, %d already done, %d failed%s; %s (exit %d)",
           args.test, len(table), outcome.ran - failed, outcome.skipped, failed,
           f" (see {args.out / 'failed.tsv'})" if failed else "",
           args.out / "summary.parquet", 1 if failed else 0)
    return 1 if failed else 0
