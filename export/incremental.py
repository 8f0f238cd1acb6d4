"""The two graphs incremental evaluation needs: a trunk on windows and a tower on rows.

A module that declares its split (``trunk(x)``, ``tower(rows)`` and
``trunk_layers()``, as :class:`~creme_fast.export.modules.EnformerBody` does)
gets, beside its main graph,

* ``NAME.trunk.onnx``: input of any length that is a multiple of the trunk's
  stride (tokens or one-hot, as the main graph) to rows ``(B, W/stride, C)``;
* ``NAME.tower.onnx``: rows ``(B, rows, C)`` float32 to ``(B, bins, tracks)``.

Before anything is written, trunk windows + splice + tower are compared with the
PyTorch module's full pass on mutants edited at the start, the middle and the
end of the sequence, to the export tolerance. The export does it in two halves,
so that PyTorch and ONNX Runtime never hold a model at the same time:
:func:`trace_pieces` (PyTorch: traces on disk, the mutants' answers) and
:func:`verify_pieces` (ONNX Runtime, one session at a time).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from creme_fast.export.stages import PeakGrowth
from creme_fast.export.verify import Verification, compare_outputs
from creme_fast.export.working_memory import linear_entry, session_options
from torch import nn

from creme_fast.runtime.geometry import TrunkGeometry, compose_layers
from creme_fast.runtime.checksum import file_sha256
from creme_fast.sequence.tokens import one_hot

log = logging.getLogger(__name__)

__all__ = ["TracedPieces", "declares_split", "piece_paths", "scratch_paths", "trace_pieces",
           "traceable_pools", "verify_pieces"]

ROWS_NAME = "rows"


def declares_split(module: nn.Module) -> bool:
    return all(callable(getattr(module, name, None))
               for name in ("trunk", "tower", "trunk_layers"))


def piece_paths(out: Path) -> tuple[Path, Path]:
    """``NAME.trunk.onnx`` and ``NAME.tower.onnx`` beside ``NAME.onnx``."""
    return out.with_suffix(".trunk.onnx"), out.with_suffix(".tower.onnx")


class _Trunk(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.trunk(x)


class _Tower(nn.Module):
    def __init__(self, body: nn.Module, compute_dtype: torch.dtype, reduce_mean: bool) -> None:
        super().__init__()
        self.body = body
        self.compute_dtype = compute_dtype
        self.reduce_mean = reduce_mean

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        y = self.body.tower(rows.to(self.compute_dtype))
        if self.reduce_mean:
            y = y.mean(dim=1, keepdim=True)
        return y.float()


@contextlib.contextmanager
def traceable_pools() -> Iterator[None]:
    """Enformer's AttentionPool with a reshape a trace keeps symbolic in the length.

    Its einops ``Rearrange`` would freeze the window length into the trunk graph.
    Window lengths are multiples of the stride, so the padding branch never runs.
    """
    from enformer_pytorch import modeling_enformer

    cls = modeling_enformer.AttentionPool
    original = cls.forward

    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        b, d, _ = x.shape
        x = x.reshape(b, d, -1, self.pool_size)
        attn = self.to_attn_logits(x).softmax(dim=-1)
        return (x * attn).sum(dim=-1)

    cls.forward = forward
    try:
        yield
    finally:
        cls.forward = original


def _trace(module: nn.Module, example: torch.Tensor, names: tuple[str, str],
           axes: dict[str, dict[int, str]], opset: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (example,), buffer, input_names=[names[0]],
                          output_names=[names[1]], opset_version=opset, dynamo=False,
                          dynamic_axes=axes, do_constant_folding=True)
    return buffer.getvalue()


def _mutants(tokens: np.ndarray, geometry: TrunkGeometry, seed: int = 1) -> np.ndarray:
    """One mutant per place (start, middle, end): a re-randomised stretch of 3 rows."""
    rng = np.random.default_rng(seed)
    length = tokens.shape[1]
    width = min(3 * geometry.stride, length)
    starts = [0, (length - width) // 2 + 37, length - width]
    starts = [min(max(0, s), length - width) for s in starts]
    base = np.repeat(tokens[:1], len(starts), axis=0)
    mutants = base.copy()
    for i, s in enumerate(starts):
        mutants[i, s:s + width] = rng.integers(0, 4, width, dtype=np.uint8)
    return mutants


@dataclass
class TracedPieces:
    """The pieces traced and PyTorch's answers for their check, before ONNX Runtime runs.

    The traced graphs wait on disk (``trunk``, ``tower``: scratch files beside
    the export) so that no PyTorch weights or activations need to be alive
    while ONNX Runtime verifies them (:func:`verify_pieces`).
    """

    trunk: Path
    tower: Path
    geometry: TrunkGeometry
    mutants: np.ndarray
    expected: np.ndarray
    one_hot_dtype: Any = np.float32  # the graphs' one-hot input (float16 for an fp16 export)

    def discard(self) -> None:
        """Remove the scratch files (idempotent)."""
        for path in (self.trunk, self.tower):
            path.unlink(missing_ok=True)


def scratch_paths(out: Path) -> tuple[Path, Path]:
    """Where :func:`trace_pieces` keeps the traced trunk and tower until they are written."""
    return tuple(path.with_name(f".{path.name}.traced") for path in piece_paths(out))


def trace_pieces(body: nn.Module, out: Path, *, seq_length: int, input_kind: str,
                 fp16: bool, opset: int, tokens: np.ndarray, reduce_mean: bool = False,
                 graph_body: nn.Module | None = None) -> TracedPieces:
    """The PyTorch half of the pieces' export: trace them, and run PyTorch on the check's mutants.

    Parameters
    ----------
    body : torch.nn.Module
        Declares ``trunk``, ``tower`` and ``trunk_layers`` (float32 weights).
    out : pathlib.Path
        The main graph's path; the scratch files go beside it.
    seq_length, input_kind, fp16, opset, reduce_mean
        As the main export (``reduce_mean``: ``bin_reduce="mean"``).
    tokens : numpy.ndarray of uint8, shape=(n, seq_length)
        Verification sequences; mutants of the first are compared.
    graph_body : torch.nn.Module, optional
        The body that is traced when it differs from ``body`` (which stays the
        reference); default ``body``.

    Returns
    -------
    TracedPieces
        Hand it to :func:`verify_pieces`; :meth:`TracedPieces.discard` on failure.
    """
    import copy

    from creme_fast.export.modules import ExportWrapper

    stride, left, right = compose_layers(body.trunk_layers())
    if seq_length % stride:
        raise ValueError(f"sequence length {seq_length} is not a multiple of the trunk's "
                         f"stride {stride}")
    compute_dtype = torch.float16 if fp16 else torch.float32
    traced = body if graph_body is None else graph_body
    graph_body = copy.deepcopy(traced).half() if fp16 else traced
    trunk = ExportWrapper(_Trunk(graph_body), input_kind=input_kind,
                          compute_dtype=compute_dtype).eval()
    tower = _Tower(graph_body, compute_dtype, reduce_mean).eval()
    in_dtype = np.float16 if fp16 else np.float32
    graph_input = tokens if input_kind == "tokens" else one_hot(tokens, dtype=in_dtype)
    trunk_path, tower_path = scratch_paths(out)
    pieces = None
    try:
        with torch.no_grad(), traceable_pools():
            example = torch.from_numpy(graph_input[:2, : 4 * stride])
            trunk_path.write_bytes(_trace(trunk, example, ("sequence", ROWS_NAME),
                                          {"sequence": {0: "batch", 1: "length"},
                                           ROWS_NAME: {0: "batch", 1: "rows"}}, opset))
            rows = trunk(torch.from_numpy(graph_input[:1]))
            tower_path.write_bytes(_trace(tower, rows, (ROWS_NAME, "prediction"),
                                          {ROWS_NAME: {0: "batch"}, "prediction": {0: "batch"}},
                                          opset))
        geometry = TrunkGeometry(stride, left, right, rows=seq_length // stride,
                                 channels=int(rows.shape[2]))
        del rows
        reference = _Tower(body, torch.float32, reduce_mean).eval()
        mutants = _mutants(tokens, geometry)
        with torch.no_grad():  # one mutant at a time: the activations of one sequence
            expected = np.concatenate([
                reference(body.trunk(torch.from_numpy(one_hot(mutants[i:i + 1],
                                                              dtype=np.float32)))).numpy()
                for i in range(len(mutants))])
        pieces = TracedPieces(trunk_path, tower_path, geometry, mutants, expected, in_dtype)
        return pieces
    finally:
        if pieces is None:
            trunk_path.unlink(missing_ok=True)
            tower_path.unlink(missing_ok=True)


def verify_pieces(pieces: TracedPieces, out: Path, *, tokens: np.ndarray, input_kind: str,
                  atol: float, rtol: float,
                  memory: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ONNX Runtime half: verify the traced pieces, write them, return their metadata entry.

    Trunk windows spliced into the base's rows and the tower, in ONNX Runtime,
    against PyTorch's full pass on mutants edited at the start, the middle and
    the end of the sequence (:func:`trace_pieces`), to the export tolerance.

    Parameters
    ----------
    pieces : TracedPieces
    out : pathlib.Path
        The main graph's path; the pieces are written beside it.
    tokens : numpy.ndarray of uint8, shape=(n, seq_length)
        The sequences given to :func:`trace_pieces`.
    input_kind, atol, rtol
        As the main export.
    memory : dict, optional
        Filled with the pieces' measured working memory (``trunk``: a full-length
        window at batch 1; ``tower``: batch 1 and 2; see
        :mod:`creme_fast.export.working_memory`).

    Raises
    ------
    creme_fast.export.ExportError
        The pieces disagree with the full pass; nothing is written.
    """
    from creme_fast.export.core import ExportError

    measured: dict[str, Any] = {}
    verification = _verify(pieces, tokens, input_kind, atol, rtol, measured)
    if memory is not None:
        memory.update(measured)
    log.info("incremental pieces: %s", verification.describe())
    if not verification.ok:
        raise ExportError(f"trunk windows + splice + tower disagree with the full pass: "
                          f"{verification.describe()}; {out} was not written")
    entry: dict[str, Any] = {"geometry": pieces.geometry.as_dict(),
                             "verification": verification.as_dict(),
                             "flops": _flops(pieces.trunk, pieces.tower, pieces.geometry)}
    for name, scratch, path in zip(("trunk", "tower"), (pieces.trunk, pieces.tower),
                                   piece_paths(out)):
        # the traced bytes as they are: no second copy of the weights as a proto
        os.replace(scratch, path)
        entry[name] = {"file": path.name, "sha256": file_sha256(path)}
    return entry


def _flops(trunk: Path, tower: Path, geometry: TrunkGeometry) -> dict[str, float]:
    """FLOPs of one sequence: the trunk per input bp (it is linear in the window) and the tower."""
    import onnx

    from creme_fast.export.flops import count_flops

    try:
        trunk_flops = count_flops(onnx.load(str(trunk)),
                                  {"sequence": (1, geometry.seq_length)})["total"]
        tower_flops = count_flops(onnx.load(str(tower)),
                                  {ROWS_NAME: (1, geometry.rows, geometry.channels)})["total"]
    except ValueError as exc:  # an operator whose shapes cannot be fixed: no figures
        log.warning("FLOPs not counted: %s", exc)
        return {}
    return {"trunk_per_bp": trunk_flops / geometry.seq_length, "trunk": trunk_flops,
            "tower": tower_flops}


def _verify(pieces: TracedPieces, tokens: np.ndarray, input_kind: str, atol: float,
            rtol: float, memory: dict[str, Any]) -> Verification:
    """ORT's trunk windows spliced into the base's rows, then the tower, vs PyTorch's answers.

    One session at a time, each read from its file; fills ``memory`` with the
    pieces' growths.
    """
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    geometry, mutants = pieces.geometry, pieces.mutants
    as_input = ((lambda t: t) if input_kind == "tokens"
                else (lambda t: one_hot(t, dtype=pieces.one_hot_dtype)))
    trunk = ort.InferenceSession(str(pieces.trunk), sess_options=session_options(),
                                 providers=providers)
    with PeakGrowth() as grown:
        base_rows = trunk.run(None, {"sequence": as_input(tokens[:1])})[0]
    memory["trunk"] = linear_entry(grown.bytes, None)
    spliced = np.repeat(base_rows, len(mutants), axis=0)
    del base_rows
    mutant, row_lo, row_hi, w0, w1 = geometry.windows(mutants, np.repeat(tokens[:1], len(mutants),
                                                                         axis=0))
    for i, lo, hi, a, b in zip(mutant, row_lo, row_hi, w0, w1):
        rows = trunk.run(None, {"sequence": as_input(mutants[i:i + 1, a:b])})[0]
        spliced[i, lo:hi] = rows[0, lo - a // geometry.stride:hi - a // geometry.stride]
    del trunk
    tower = ort.InferenceSession(str(pieces.tower), sess_options=session_options(),
                                 providers=providers)
    with PeakGrowth() as one:
        first = tower.run(None, {ROWS_NAME: spliced[:1]})[0]
    with PeakGrowth() as two:
        rest = tower.run(None, {ROWS_NAME: spliced[1:3]})[0]
    got = np.concatenate([first, rest] + ([tower.run(None, {ROWS_NAME: spliced[3:]})[0]]
                                          if len(spliced) > 3 else []))
    memory["tower"] = linear_entry(one.bytes, max(two.peak - one.start, 0))
    del tower
    return compare_outputs(np.asarray(got), pieces.expected, atol=atol, rtol=rtol)
