"""``creme-fast export``: a checkpoint to a verified ONNX graph."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from creme_fast.cli.options import ExclusiveBoolean, head_sizes, int_list, positive_int

log = logging.getLogger(__name__)

DEFAULT_MIN_SPEARMAN = 0.999  # the gate's default per-track rank correlation

_MODEL_NAMES = ("enformer", "borzoi")
_HPARAMS = ("dim", "depth", "heads", "output_heads", "target_length", "num_downsamples",
            "dim_divisible_by", "attn_dim_key")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export an Enformer or Borzoi checkpoint to a verified "
                       "ONNX graph",
                       description="Export Enformer (enformer-pytorch) or Borzoi/Flashzoi "
                       "(borzoi-pytorch) from a local checkpoint (a save_pretrained "
                       "directory or a state-dict file) to ONNX, verified against PyTorch "
                       "before it is written.")
    p.add_argument("--model", choices=sorted(_MODEL_NAMES), default="enformer",
                   help="model family: enformer (enformer-pytorch) or borzoi (borzoi-pytorch "
                   "snapshots: Borzoi, Flashzoi; default: enformer)")
    p.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="a local checkpoint: a save_pretrained directory (config.json + "
                   "weights, e.g. a download of the Hugging Face snapshot "
                   "EleutherAI/enformer-official-rough), .safetensors, or a torch state-dict "
                   "file; required")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="the .onnx file to write (the incremental pieces go beside it); "
                   "required")
    p.add_argument("--head", default="human", help="output head: human or mouse "
                   "(default: human)")
    p.add_argument("--seq-length", type=positive_int, metavar="BP",
                   help="input length in bp (default: the model's published window: "
                   "196608 for Enformer, 524288 for Borzoi)")
    p.add_argument("--tracks", type=int_list, help="head rows to keep, e.g. 5110,5111 "
                   "(default: all)")
    p.add_argument("--targets", type=Path, metavar="TXT",
                   help="the model's targets table (e.g. targets_human.txt: index, genome, "
                   "identifier, file, clip, scale, sum_stat, description; tab-separated): "
                   "the kept tracks' descriptions are stored, so results carry track_name "
                   "(default: none, results have no track names)")
    p.add_argument("--bins", type=int_list, help="output bins to keep, as the model's "
                   "indices, e.g. 447,448 or 446-449; the TSS bins among them are recorded "
                   "as the tests' default readout (default: all)")
    p.add_argument("--bin-reduce", choices=["none", "mean"], default="none",
                   help="mean: average the kept bins inside the graph (default: none)")
    p.add_argument("--input", dest="input_kind", choices=["onehot", "tokens"],
                   default="onehot", help="graph input: float one-hot (B, L, 4) or uint8 "
                   "tokens (B, L) one-hot encoded inside the graph, 16x fewer bytes "
                   "(default: onehot)")
    p.add_argument("--fp16", action="store_true",
                   help="deprecated alias of --precision fp16 (now behind the fidelity gate)")
    p.add_argument("--opset", type=positive_int, default=17,
                   help="ONNX opset (default: 17)")
    p.add_argument("--exporter", choices=["torchscript", "dynamo"], default="torchscript",
                   help="PyTorch's ONNX exporter (default: torchscript)")
    p.add_argument("--atol", type=float, help="verification absolute tolerance against "
                   "PyTorch (default: 1e-5 in fp32, 1e-3 in fp16)")
    p.add_argument("--rtol", type=float, help="verification relative tolerance against "
                   "PyTorch (default: 1e-4 in fp32, 3e-2 in fp16)")
    p.add_argument("--verify-batch", type=int, default=2, metavar="N",
                   help="random sequences compared with PyTorch, at least 2 (default: 2)")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16", "int8"], default="fp32",
                   help="number format of the graphs, each reduced one behind a fidelity gate "
                   "run on these weights: fp16/bf16 convert every graph for a GPU, softmax, "
                   "layer norms and the output softplus kept fp32 (bf16 needs the CUDA "
                   "provider: refused elsewhere); int8 quantizes the transformer's and head's "
                   "MatMul/Gemm weights (ONNX Runtime dynamic quantization) (default: fp32)")
    p.add_argument("--calibration-fasta", type=Path, metavar="FASTA",
                   help="gate loci: centre windows of this FASTA's records (default: "
                   "random genome-like sequence)")
    p.add_argument("--calibration-loci", type=int, default=2, metavar="N",
                   help="loci the gate runs the necessity plan on (default: 2)")
    p.add_argument("--min-spearman", type=float, default=None,
                   help="refuse a reduced export whose tile effects correlate less with "
                   f"the fp32 export's, per track (default: {DEFAULT_MIN_SPEARMAN})")
    p.add_argument("--force", action="store_true",
                   help="write a reduced export that fails its gate anyway, marked as such")
    p.add_argument("--tf-gamma", action=ExclusiveBoolean, default=None,
                   help="gamma positional features: enformer-pytorch's precomputed "
                   "TensorFlow values (--tf-gamma, as its from_pretrained uses for the "
                   "official weights; exist only at 196,608 bp with dim/heads = 192) or "
                   "PyTorch-computed ones (--no-tf-gamma, for models trained in PyTorch). "
                   "Default: TF gammas for the published architecture at 196,608 bp, "
                   "else the checkpoint config's use_tf_gamma")
    p.add_argument("--incremental", action=ExclusiveBoolean, default=True,
                   help="also write NAME.trunk.onnx and NAME.tower.onnx for incremental "
                   "evaluation of tile tests (default: yes)")
    hp = p.add_argument_group("hyperparameters (when the checkpoint has no config.json; "
                              "default: the published architecture's)")
    hp.add_argument("--dim", type=int, help="model width (default: 1536)")
    hp.add_argument("--depth", type=int, help="transformer layers (default: 11)")
    hp.add_argument("--heads", type=int, help="attention heads (default: 8)")
    hp.add_argument("--output-heads", type=head_sizes, metavar="NAME=N,...",
                    help="tracks per head, e.g. human=5313,mouse=1643 (the default)")
    hp.add_argument("--target-length", type=int, metavar="BINS",
                    help="output bins after the crop (default: 896)")
    hp.add_argument("--num-downsamples", type=int, metavar="N",
                    help="poolings by 2: bins of 2**N bp (default: 7, 128 bp)")
    hp.add_argument("--dim-divisible-by", type=int, metavar="N",
                    help="conv tower widths are multiples of N (default: 128)")
    hp.add_argument("--attn-dim-key", type=int, metavar="N",
                    help="attention key size (default: 64)")
    hp.add_argument("--use-tf-gamma", action="store_true", default=None,
                    help="deprecated alias of --tf-gamma")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from creme_fast.export import ExportError, export_enformer

    from creme_fast.export.precision import calibration_loci, check_precision, reduce_export

    hparams = {name: getattr(args, name) for name in _HPARAMS}
    if args.model == "borzoi":
        return _borzoi(args, hparams)
    if args.seq_length is None:
        args.seq_length = 196_608
    tf_gamma = args.tf_gamma
    if args.use_tf_gamma:
        if tf_gamma is False:
            raise ValueError("--use-tf-gamma (a deprecated alias of --tf-gamma) contradicts "
                             "--no-tf-gamma")
        log.warning("--use-tf-gamma is deprecated; use --tf-gamma")
        tf_gamma = True
    if args.fp16:
        if args.precision != "fp32":
            raise ValueError("--precision and --fp16 exclude each other")
        log.warning("--fp16 is deprecated: it now means --precision fp16 (gated)")
        args.precision = "fp16"
    check_precision(args.precision)
    _gate_options(args)
    if args.calibration_loci < 1:
        raise ValueError(f"--calibration-loci must be at least 1, got {args.calibration_loci}")
    if not 0 < args.min_spearman <= 1:
        raise ValueError(f"--min-spearman must be in (0, 1], got {args.min_spearman}")
    if args.calibration_fasta is not None and not args.calibration_fasta.is_file():
        raise FileNotFoundError(f"--calibration-fasta {args.calibration_fasta}: no such file")
    out = Path(args.out)
    if args.precision != "fp32":
        if tf_gamma is not None:
            raise ValueError(f"--tf-gamma/--no-tf-gamma with --precision {args.precision} are "
                             "not wired together yet: export fp32 with the gamma choice")
        return _reduced(args, hparams, out, calibration_loci, reduce_export)
    start = time.perf_counter()
    log.info("loading %s (the whole export takes minutes on a CPU for Enformer)",
             args.checkpoint)
    try:
        result = export_enformer(
            args.checkpoint, args.out, head=args.head, seq_length=args.seq_length,
            tracks=args.tracks, bins=args.bins, hparams=hparams, input_kind=args.input_kind,
            opset=args.opset, exporter=args.exporter, atol=args.atol,
            rtol=args.rtol, verify_batch=args.verify_batch, bin_reduce=args.bin_reduce,
            incremental=args.incremental, targets=args.targets, tf_gamma=tf_gamma)
    except ExportError as exc:
        log.error("%s", exc)
        return 1
    meta = result.metadata
    log.info("%s: %s input %s, output (batch, %d bins, %d tracks); %s", result.path,
             meta.input_kind, meta.input_dtype, meta.n_bins, meta.n_tracks,
             result.verification.describe())
    log.info("export done in %.1f s", time.perf_counter() - start)
    return 0


def _gate_options(args: argparse.Namespace) -> None:
    """The fidelity gate's options act on a reduced export only: with fp32 they are
    refused rather than ignored; ``--min-spearman`` gets its default otherwise."""
    if args.precision == "fp32":
        given = [option for option, value in (("--force", args.force),
                                              ("--min-spearman", args.min_spearman),
                                              ("--calibration-fasta", args.calibration_fasta))
                 if value not in (None, False)]
        if given:
            raise ValueError(f"{given[0]} applies to --precision int8 (the fidelity gate of a "
                             "reduced export); an fp32 export has no gate")
    if args.min_spearman is None:
        args.min_spearman = DEFAULT_MIN_SPEARMAN


def _reduced(args: argparse.Namespace, hparams: dict, out: Path, loci_of: Any,
             reduce: Any) -> int:
    """The fp32 export into a scratch folder, then its reduced version gated into ``out``."""
    import tempfile

    from creme_fast.export import ExportError, export_enformer

    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-fp32-") as tmp:
        fp32 = Path(tmp) / out.name
        try:
            result = export_enformer(
                args.checkpoint, fp32, head=args.head, seq_length=args.seq_length,
                tracks=args.tracks, bins=args.bins, hparams=hparams,
                input_kind=args.input_kind, opset=args.opset, exporter=args.exporter,
                atol=args.atol, rtol=args.rtol, verify_batch=args.verify_batch,
                bin_reduce=args.bin_reduce, incremental=args.incremental)
            loci = loci_of(result.metadata.seq_length, args.calibration_loci,
                           args.calibration_fasta)
            entry = reduce(fp32, out, args.precision, loci=loci,
                           min_spearman=args.min_spearman, force=args.force)
        except ExportError as exc:
            log.error("%s", exc)
            return 1
    log.info("wrote %s (%s%s); export done in %.1f s", out, args.precision,
             ", FAILED its gate, forced" if entry["forced"] else ", gate passed",
             time.perf_counter() - start)
    return 0


def _borzoi(args: argparse.Namespace, hparams: dict) -> int:
    """``--model borzoi``: options that are Enformer's alone are refused by name."""
    from creme_fast.export import ExportError
    from creme_fast.export.models import borzoi

    given = [f"--{name.replace('_', '-')}" for name, value in hparams.items()
             if value is not None]
    if args.tf_gamma is not None or args.use_tf_gamma:
        given.append("--tf-gamma/--no-tf-gamma")
    if args.precision != "fp32":
        given.append("--precision")
    if given:
        raise ValueError(f"{', '.join(given)}: Enformer options; a Borzoi snapshot's "
                         "config.json gives its hyperparameters, and --precision is "
                         "Enformer's only for now")
    if args.head not in ("human", "mouse"):
        raise ValueError(f"--head {args.head!r}: Borzoi has a human and (where the snapshot "
                         "has it) a mouse head")
    start = time.perf_counter()
    log.info("loading %s (the whole export of the published Borzoi takes minutes on a CPU)",
             args.checkpoint)
    try:
        result = borzoi.export(
            args.checkpoint, args.out, head=args.head,
            seq_length=args.seq_length or borzoi.DEFAULT_LENGTH, tracks=args.tracks,
            bins=args.bins, targets=args.targets, input_kind=args.input_kind, fp16=args.fp16,
            opset=args.opset, exporter=args.exporter, atol=args.atol, rtol=args.rtol,
            verify_batch=args.verify_batch, bin_reduce=args.bin_reduce,
            incremental=args.incremental)
    except ExportError as exc:
        log.error("%s", exc)
        return 1
    meta = result.metadata
    log.info("%s: %s (%s) input %s, output (batch, %d bins, %d tracks); %s", result.path,
             meta.extra.get("architecture", "borzoi"), meta.input_kind, meta.input_dtype,
             meta.n_bins, meta.n_tracks, result.verification.describe())
    log.info("export done in %.1f s", time.perf_counter() - start)
    return 0
