"""The export pipeline shared by the CLI and Python callers."""
from __future__ import annotations

import copy
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from creme_fast.export.checkpoint import checkpoint_settings, load_enformer
from creme_fast.export.incremental import declares_split, trace_pieces, verify_pieces
from creme_fast.export.modules import (
    EnformerBody,
    ExportWrapper,
    enformer_output_bins,
    static_positional_features,
)
from creme_fast.export.positional import (
    apply_tf_gamma,
    model_uses_tf_gamma,
    resolve_tf_gamma,
)
from creme_fast.export.stages import StageLog, peak_rss
from creme_fast.export.verify import Verification, compare_outputs, verification_inputs
from creme_fast.export.working_memory import (
    VERIFY_CHUNK,
    run_measured,
    session_options,
    working_memory_entry,
)
from torch import nn

from creme_fast.runtime.checksum import CHECKSUM_VERSION, weights_sha256
from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata
from creme_fast.runtime.readout import kept_centre_bins
from creme_fast.io.tables import atomic_write
from creme_fast.io.targets import read_targets, track_names
from creme_fast.sequence.tokens import one_hot

log = logging.getLogger(__name__)

__all__ = ["ExportError", "ExportResult", "export_enformer", "export_module"]

INPUT_NAME = "sequence"
OUTPUT_NAME = "prediction"
DEFAULT_TOLERANCE = {"float32": (1e-5, 1e-4), "float16": (1e-3, 3e-2)}  # (atol, rtol)
EXPORTERS = ("torchscript", "dynamo")


class ExportError(RuntimeError):
    """The exported graph failed its checks; nothing was written."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how well it agreed with PyTorch."""

    path: Path
    metadata: ModelMetadata
    verification: Verification


def _int_list(values: Sequence[int] | None, name: str) -> list[int] | None:
    if values is None:
        return None
    out = [int(v) for v in values]
    if not out:
        raise ValueError(f"{name} must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has duplicates: {out}")
    return out


def _check_range(values: list[int] | None, size: int, name: str) -> None:
    if values is None:
        return
    bad = [v for v in values if not 0 <= v < size]
    if bad:
        raise ValueError(f"{name} index {bad[0]} is out of range: the model has {size} {name}")


def _versions() -> dict[str, str]:
    out = {}
    for package in ("creme-fast", "torch", "onnx", "onnxruntime", "onnxruntime-gpu",
                    "enformer-pytorch", "borzoi-pytorch", "onnxscript"):
        try:
            out[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def _to_onnx(wrapper: nn.Module, example: torch.Tensor, opset: int, exporter: str) -> bytes:
    if exporter == "torchscript":
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # the trace of enformer-pytorch's crop and the legacy exporter's notice
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(wrapper, (example,), buffer, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset, dynamo=False,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                              do_constant_folding=True)
        return buffer.getvalue()
    program = torch.onnx.export(wrapper, (example,), input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME], opset_version=opset, dynamo=True,
                                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    return program.model_proto.SerializeToString()


def _release_weights(*modules: nn.Module) -> None:
    """Free every parameter and buffer of ``modules`` (they are unusable afterwards)."""
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.data = torch.empty(0, dtype=tensor.dtype)


def _check_symbolic_batch(session: Any) -> None:
    """The dynamo exporter can freeze the batch axis silently; refuse such a graph."""
    for value in (session.get_inputs()[0], session.get_outputs()[0]):
        dim = value.shape[0]
        if not isinstance(dim, str):
            raise ExportError(f"the exported graph's batch axis of {value.name!r} is fixed at "
                              f"{dim}, not symbolic; try exporter='torchscript'")


def _write_atomic(model: Any, path: Path) -> None:
    import onnx

    atomic_write(path, lambda tmp: onnx.save(model, str(tmp)))


def export_module(module: nn.Module, out: str | Path, *, seq_length: int,
                  input_kind: str = "onehot", tracks: Sequence[int] | None = None,
                  bins: Sequence[int] | None = None, bin_reduce: str = "none",
                  fp16: bool = False, opset: int = 17, exporter: str = "torchscript",
                  atol: float | None = None, rtol: float | None = None,
                  verify_batch: int = 2, verify_tokens: np.ndarray | None = None,
                  model_name: str = "module",
                  head: str | None = None, selection_in_body: bool = False,
                  extra: dict[str, Any] | None = None,
                  incremental: bool = True,
                  graph_module: nn.Module | None = None,
                  release_weights: bool = False) -> ExportResult:
    """Export any module mapping one-hot ``(B, L, 4)`` to ``(B, bins, tracks)``.

    Parameters
    ----------
    module : torch.nn.Module
        Float one-hot ``(B, L, 4)`` in, ``(B, bins, tracks)`` out.
    out : str or pathlib.Path
        The ``.onnx`` file to write (atomically, only after verification).
    seq_length : int
        Input length in bp.
    input_kind : {"onehot", "tokens"}, default="onehot"
    tracks, bins : sequence of int, optional
        Output tracks and bins to keep (original indices, in output order).
    bin_reduce : {"none", "mean"}, default="none"
        Average the kept bins inside the graph.
    fp16 : bool, default=False
        float16 weights and compute; the output stays float32. Verified against
        the float32 module.
    opset : int, default=17
    exporter : {"torchscript", "dynamo"}, default="torchscript"
    atol, rtol : float, optional
        Verification tolerances; default 1e-5/1e-4 (float32), 1e-3/3e-2 (fp16).
    verify_batch : int, default=2
        Sequences compared (at least 2, so the batch axis is exercised).
    verify_tokens : numpy.ndarray of uint8, shape=(n, seq_length), optional
        Compare on these sequences instead of random ones (e.g. sequences that
        hold the motifs a model reacts to).
    model_name, head, extra
        Recorded in the metadata.
    selection_in_body : bool, default=False
        ``tracks``/``bins`` are already applied by ``module`` (only record them).
    incremental : bool, default=True
        For a module that declares its split (``trunk``, ``tower``,
        ``trunk_layers``: :class:`~creme_fast.export.modules.EnformerBody`), also
        write ``NAME.trunk.onnx`` and ``NAME.tower.onnx`` for incremental
        evaluation (see :mod:`creme_fast.export.incremental`), verified first.
    graph_module : torch.nn.Module, optional
        The module that is traced, when it differs from ``module`` (the same
        function written for the graph: :class:`EnformerBody` with
        ``export_tower=True``); ``module`` stays the reference it is verified
        against. Default: ``module`` itself.
    release_weights : bool, default=False
        Free the module's parameters and buffers once PyTorch's part is done
        (references, traces, the pieces' answers), before ONNX Runtime loads any
        graph, so the two never hold the weights at the same time. For a model
        the caller does not use again (:func:`export_enformer` of a checkpoint):
        the module is left without weights.

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        The graph disagrees with PyTorch beyond tolerance, or its batch axis is
        not symbolic; nothing is written.
    """
    import onnx
    import onnxruntime as ort

    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"{out}: the output file must end in .onnx")
    if not out.parent.is_dir():  # found out before minutes of tracing, not after
        raise FileNotFoundError(f"{out}: the output folder {out.parent} does not exist")
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    if verify_batch < 2:
        raise ValueError("verify_batch must be at least 2")
    tracks, bins = _int_list(tracks, "tracks"), _int_list(bins, "bins")
    dtype_name = "float16" if fp16 else "float32"
    default_atol, default_rtol = DEFAULT_TOLERANCE[dtype_name]
    atol = default_atol if atol is None else float(atol)
    rtol = default_rtol if rtol is None else float(rtol)
    compute_dtype = torch.float16 if fp16 else torch.float32
    own = {} if selection_in_body else {"tracks": tracks, "bins": bins}

    module = module.eval()
    reference = ExportWrapper(module, input_kind=input_kind, compute_dtype=torch.float32,
                              bin_reduce=bin_reduce, **own).eval()
    traced = module if graph_module is None else graph_module.eval()
    graph_module = copy.deepcopy(traced).half() if fp16 else traced
    wrapper = ExportWrapper(graph_module, input_kind=input_kind, compute_dtype=compute_dtype,
                            bin_reduce=bin_reduce, **own).eval()

    if verify_tokens is None:
        tokens = verification_inputs(seq_length, verify_batch)
    else:
        tokens = np.ascontiguousarray(verify_tokens, dtype=np.uint8)
        if tokens.ndim != 2 or tokens.shape[0] < 2 or tokens.shape[1] != seq_length:
            raise ValueError(f"verify_tokens must be (n >= 2, {seq_length}) tokens, "
                             f"got shape {tokens.shape}")
    if input_kind == "tokens":
        graph_input = tokens
        ref_input = torch.from_numpy(tokens)
    else:
        graph_input = one_hot(tokens, dtype=np.float16 if fp16 else np.float32)
        ref_input = torch.from_numpy(one_hot(tokens, dtype=np.float32))
    want_pieces = incremental and declares_split(module) and (
        selection_in_body or (tracks is None and bins is None))
    if incremental and not want_pieces:
        log.info("%s: no incremental pieces (%s)", model_name,
                 "the module declares no trunk/tower split" if not declares_split(module)
                 else "tracks/bins are selected outside the module's split")
    total = 6 if want_pieces else 4
    step = iter(range(1, total + 1))
    scratch = out.with_name(f".{out.name}.traced")
    traced_pieces = None
    with StageLog() as stages:
        log.info("stage %d/%d: PyTorch reference on %d sequences of %s bp, one at a time",
                 next(step), total, len(tokens), f"{seq_length:,}")
        with torch.no_grad():
            try:  # one sequence at a time: the activations of one, not of the batch
                expected = np.concatenate([reference(ref_input[i:i + 1]).numpy()
                                           for i in range(len(tokens))])
                if fp16:  # the float32 pass above filled float32 caches; fill float16 ones
                    wrapper(torch.from_numpy(graph_input[:1]))
            except IndexError as exc:
                raise ValueError(f"track or bin selection does not fit the model's output: "
                                 f"{exc}") from None
        del ref_input
        if expected.ndim != 3:
            raise ValueError(f"the module returned shape {expected.shape}; expected "
                             "(batch, bins, tracks)")
        stages.done("reference")
        try:
            log.info("stage %d/%d: tracing %s to ONNX (%s, %s input, opset %d, %s exporter)",
                     next(step), total, model_name, dtype_name, input_kind, opset, exporter)
            with torch.no_grad():  # traced on one sequence; verified at batch 2 below
                raw = _to_onnx(wrapper, torch.from_numpy(graph_input[:1]), opset, exporter)
            # the graph waits on disk, not in memory, while the later stages run
            scratch.write_bytes(raw)
            size = len(raw)
            del raw
            stages.done(f"tracing ({size / 2**20:.0f} MiB graph)")
            if want_pieces:
                log.info("stage %d/%d: tracing the incremental pieces (trunk, tower) and "
                         "PyTorch's full pass on their check's mutants", next(step), total)
                traced_pieces = trace_pieces(module, out, seq_length=seq_length,
                                             input_kind=input_kind, fp16=fp16, opset=opset,
                                             tokens=tokens, reduce_mean=bin_reduce == "mean",
                                             graph_body=traced)
                stages.done("incremental pieces traced")
            if release_weights:  # PyTorch's part is over: ORT alone holds weights from here
                _release_weights(module, traced, graph_module)
                del reference, wrapper
                stages.done("PyTorch weights released")

            log.info("stage %d/%d: verifying ONNX Runtime against PyTorch, %d sequences at a "
                     "time", next(step), total, VERIFY_CHUNK)
            session = ort.InferenceSession(str(scratch), sess_options=session_options(),
                                           providers=["CPUExecutionProvider"])
            _check_symbolic_batch(session)
            got, working = run_measured(session, INPUT_NAME, graph_input)
            del session  # its weights and arena, before the next stage
            verification = compare_outputs(got, expected, atol=atol, rtol=rtol)
            stages.done("verification")
            log.info("verification: %s", verification.describe())
            if not verification.ok:
                raise ExportError(f"ONNX Runtime disagrees with PyTorch: "
                                  f"{verification.describe()}; {out} was not written")
            memory: dict[str, Any] = {"full": working}

            pieces = None
            if traced_pieces is not None:
                log.info("stage %d/%d: verifying the incremental pieces in ONNX Runtime",
                         next(step), total)
                pieces = verify_pieces(traced_pieces, out, tokens=tokens,
                                       input_kind=input_kind, atol=atol, rtol=rtol,
                                       memory=memory)
                stages.done("incremental pieces verified")
            log.info("stage %d/%d: writing %s", next(step), total, out)
            model = onnx.load(str(scratch))
            meta = ModelMetadata(
                model=model_name, seq_length=int(seq_length), input_kind=input_kind,
                input_name=INPUT_NAME, output_name=OUTPUT_NAME,
                input_dtype="uint8" if input_kind == "tokens" else dtype_name,
                n_bins=int(expected.shape[1]), n_tracks=int(expected.shape[2]), tracks=tracks,
                bins=bins, bin_reduce=bin_reduce, dtype=dtype_name, head=head,
                checksum=weights_sha256(model), checksum_version=CHECKSUM_VERSION,
                versions=_versions(),
                verification=verification.as_dict(), incremental=pieces,
                extra={"opset": opset, "exporter": exporter, **(extra or {}),
                       "working_memory": working_memory_entry(memory)})
            entry = model.metadata_props.add()
            entry.key, entry.value = METADATA_KEY, meta.to_json()
            _write_atomic(model, out)
            del model
            scratch.unlink()
            stages.done("writing")
        finally:
            scratch.unlink(missing_ok=True)
            if traced_pieces is not None:
                traced_pieces.discard()
    log.info("wrote %s (%d bins x %d tracks); export peak resident memory %.2f GiB", out,
             meta.n_bins, meta.n_tracks, peak_rss() / 2**30)
    return ExportResult(path=out, metadata=meta, verification=verification)


def export_enformer(model: nn.Module | str | Path, out: str | Path, *, head: str = "human",
                    seq_length: int = 196_608, tracks: Sequence[int] | None = None,
                    bins: Sequence[int] | None = None, hparams: dict[str, Any] | None = None,
                    targets: str | Path | None = None, tf_gamma: bool | None = None,
                    **options: Any) -> ExportResult:
    """Export Enformer (a model or a local checkpoint) with a pruned head.

    Parameters
    ----------
    model : enformer_pytorch.Enformer, str or pathlib.Path
        A model, or a checkpoint for :func:`creme_fast.export.load_enformer`.
    out : str or pathlib.Path
    head : str, default="human"
    seq_length : int, default=196608
    tracks : sequence of int, optional
        Head rows to keep (e.g. CAGE K562 = 5111); the head is pruned to them.
    bins : sequence of int, optional
        Output bins to keep (e.g. 447, 448); chosen before the per-bin layers.
    hparams : dict, optional
        Hyperparameters for a checkpoint without a config.
    targets : str or pathlib.Path, optional
        The targets table (``targets_human.txt``): the kept tracks' descriptions
        go into the metadata (``extra["track_names"]``, original index -> name),
        so results carry ``track_name``. Read and checked before the model.
    tf_gamma : bool, optional
        Gamma positional features: True, enformer-pytorch's precomputed
        TensorFlow values; False, PyTorch's. None: TF gammas for the published
        architecture at 196,608 bp, else the config's ``use_tf_gamma`` (see
        :func:`creme_fast.export.positional.resolve_tf_gamma`). Decided, and
        refused where TF gammas do not exist, before any weights are loaded;
        recorded in the metadata (``extra["positional_features"]``).
    **options
        Passed to :func:`export_module` (input_kind, fp16, opset, exporter,
        atol, rtol, bin_reduce, verify_batch).
    """
    names_from = None if targets is None else Path(targets)
    if names_from is not None:
        read_targets(names_from)  # a bad table fails before minutes of loading
    loaded_here = isinstance(model, (str, Path))
    if loaded_here:
        source = str(model)
        choice = resolve_tf_gamma(checkpoint_settings(model, hparams), seq_length, tf_gamma)
        model = load_enformer(model, hparams)
    else:
        source = type(model).__name__
        settings = {k: getattr(model.config, k) for k in (
            "dim", "depth", "heads", "output_heads", "num_downsamples")}
        settings["use_tf_gamma"] = model_uses_tf_gamma(model)
        choice = resolve_tf_gamma(settings, seq_length, tf_gamma)
    log.info("positional features: %s", choice.reason)
    apply_tf_gamma(model, choice)
    config = model.config
    if head not in model.heads:
        raise ValueError(f"head {head!r} not in the model's heads: {', '.join(model.heads)}")
    tracks, bins = _int_list(tracks, "tracks"), _int_list(bins, "bins")
    n_tracks = model.heads[head][0].out_features
    n_bins = enformer_output_bins(seq_length, config.target_length, config.num_downsamples)
    _check_range(tracks, n_tracks, "tracks")
    _check_range(bins, n_bins, "bins")
    body = EnformerBody(model, head, tracks=tracks, bins=bins).eval()
    graph_body = EnformerBody(model, head, tracks=tracks, bins=bins, export_tower=True).eval()
    extra = {"source": source, "hparams": {k: getattr(config, k) for k in (
        "dim", "depth", "heads", "output_heads", "target_length", "attn_dim_key",
        "num_downsamples", "dim_divisible_by", "use_tf_gamma")}, "head_tracks": n_tracks,
        "model_bins": n_bins, "positional_features": choice.as_dict()}
    tss_bins = kept_centre_bins(seq_length, n_bins, 2 ** config.num_downsamples, bins)
    if tss_bins is not None and options.get("bin_reduce", "none") == "none":
        extra["tss_bins"] = tss_bins  # the CREME tests' default readout (output positions)
    if names_from is not None:
        extra["track_names"] = track_names(names_from, tracks, n_tracks)
        extra["targets"] = names_from.name
    with static_positional_features():
        return export_module(body, out, seq_length=seq_length, tracks=tracks, bins=bins,
                             model_name="enformer", head=head, selection_in_body=True,
                             extra=extra, graph_module=graph_body,
                             release_weights=loaded_here, **options)
