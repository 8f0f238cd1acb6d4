"""Incremental evaluation interface: trunk rows of windows, and the tower on rows.

A predictor that offers it has an ``incremental`` attribute (None when it does
not) with a :class:`~creme_fast.runtime.geometry.TrunkGeometry` and two calls:

* ``trunk(batch)``: tokens ``(B, W)`` or one-hot ``(B, W, 4)`` with ``W`` a
  multiple of the stride and at most the model's length, to float32 rows
  ``(B, W / stride, channels)``;
* ``tower(rows)``: float32 rows ``(B, rows, channels)`` to ``(B, bins, tracks)``.

``tower(trunk(x))`` equals ``predict(x)`` for a full-length ``x`` to the
export's tolerance.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from creme_fast.runtime.binding import OutputSelection
from creme_fast.runtime.geometry import TrunkGeometry
from creme_fast.runtime.metadata import InputKind

log = logging.getLogger(__name__)

__all__ = ["CPU_TOWER_CALL_FLOATS", "Incremental", "OnnxIncremental", "check_window",
           "incremental_of"]

#: The most tower input (floats: sequences x rows x channels) one ONNX Runtime call
#: takes on a CPU; a larger batch runs in sub-batches. The published Enformer's
#: tower (1,536 x 1,536 floats a sequence) ran as fast per sequence at batch 2 as at
#: batch 1 but 17-27% slower at batch 4 (its attention logits, 75 MiB a sequence,
#: stream through memory); the small config's (1,536 x 192) was as fast at batch 8
#: (benchmarks/RESULTS.md, issue 23). GPUs take the whole batch.
CPU_TOWER_CALL_FLOATS = 2 * 1536 * 1536


@runtime_checkable
class Incremental(Protocol):
    geometry: TrunkGeometry
    input_kind: InputKind

    def trunk(self, batch: np.ndarray) -> np.ndarray:
        ...

    def tower(self, rows: np.ndarray) -> np.ndarray:
        ...


def incremental_of(predictor: object) -> Incremental | None:
    """The predictor's incremental interface, or None."""
    value = getattr(predictor, "incremental", None)
    return value if isinstance(value, Incremental) else None


def check_window(batch: np.ndarray, geometry: TrunkGeometry, input_kind: InputKind,
                 name: str) -> np.ndarray:
    """Validate a window batch for ``trunk``; raise naming the problem."""
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"{name}: windows must be a numpy array, got {type(batch).__name__}")
    want = 2 if input_kind == "tokens" else 3
    if batch.ndim != want or batch.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty batch of {input_kind} windows, got "
                         f"shape {batch.shape}")
    width = batch.shape[1]
    if width == 0 or width % geometry.stride or width > geometry.seq_length:
        raise ValueError(f"{name}: a window must be a positive multiple of "
                         f"{geometry.stride} bp up to {geometry.seq_length}, got {width}")
    return np.ascontiguousarray(batch)


class OnnxIncremental:
    """The trunk and tower graphs of a creme-fast export, checked against their sha256.

    Parameters
    ----------
    main : pathlib.Path
        The main graph; the pieces' files are relative to its folder.
    entry : dict
        ``ModelMetadata.incremental``.
    make_session : callable
        ``(path, bytes, mem_pattern) -> onnxruntime.InferenceSession`` with the main
        graph's providers (``path`` names the graph in messages).
    input_kind : {"onehot", "tokens"}
    input_dtype : numpy.dtype
    read : callable, optional
        ``path -> bytes`` of a piece (default: read the file); each piece is
        read once, and its sha256 is taken on the bytes that are loaded.
    selection : OutputSelection, optional
        The predictor's output selection, applied to the tower's predictions.

    Attributes
    ----------
    geometry : TrunkGeometry
    trunk_flops_per_bp : float
        Trunk FLOPs per input bp counted at export (0 when unknown).
    """

    def __init__(self, main: Path, entry: dict[str, Any], make_session: Any,
                 input_kind: InputKind, input_dtype: np.dtype, read: Any = None,
                 selection: OutputSelection | None = None) -> None:
        self.selection = selection if selection is not None else OutputSelection()
        self.geometry = TrunkGeometry(**{k: int(v) for k, v in entry["geometry"].items()})
        self.trunk_flops_per_bp = float(entry.get("flops", {}).get("trunk_per_bp", 0.0))
        self.input_kind = input_kind
        self.input_dtype = input_dtype
        self.paths = {}
        sessions = {}
        for name in ("trunk", "tower"):
            path = main.parent / entry[name]["file"]
            try:  # read once: the bytes checked are the bytes loaded
                data = read(path) if read is not None else path.read_bytes()
            except FileNotFoundError:
                raise FileNotFoundError(f"{main}: its {name} graph {path} is missing") from None
            if hashlib.sha256(data).hexdigest() != entry[name]["sha256"]:
                raise ValueError(f"{path}: sha256 differs from the one {main} records; "
                                 "re-export the model")
            self.paths[name] = path
            # no memory pattern: window widths and batch sizes vary from call to call
            sessions[name] = make_session(path, data, mem_pattern=False)
        self._trunk, self._tower = sessions["trunk"], sessions["tower"]
        self._trunk_io = (self._trunk.get_inputs()[0].name, self._trunk.get_outputs()[0].name)
        self._tower_io = (self._tower.get_inputs()[0].name, self._tower.get_outputs()[0].name)
        on_cpu = self._tower.get_providers()[0] == "CPUExecutionProvider"
        per_sequence = self.geometry.rows * self.geometry.channels
        #: Sequences per tower call (None: the whole batch).
        self.tower_call: int | None = (max(1, CPU_TOWER_CALL_FLOATS // per_sequence)
                                       if on_cpu else None)
        self.name = str(main)

    def trunk(self, batch: np.ndarray) -> np.ndarray:
        """Trunk rows of windows ``(B, W[, 4])``: float32 ``(B, W / stride, channels)``."""
        batch = check_window(batch, self.geometry, self.input_kind, self.name)
        if batch.dtype != self.input_dtype:
            batch = batch.astype(self.input_dtype)
        name_in, name_out = self._trunk_io
        return np.asarray(self._trunk.run([name_out], {name_in: batch})[0], dtype=np.float32)

    def tower(self, rows: np.ndarray) -> np.ndarray:
        """Predictions from rows ``(B, rows, channels)``: float32 ``(B, bins, tracks)``."""
        g = self.geometry
        if rows.ndim != 3 or rows.shape[1:] != (g.rows, g.channels):
            raise ValueError(f"{self.name}: tower takes rows (B, {g.rows}, {g.channels}), "
                             f"got {rows.shape}")
        name_in, name_out = self._tower_io
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        step = self.tower_call or len(rows)
        if len(rows) <= step:
            out = np.asarray(self._tower.run([name_out], {name_in: rows})[0], dtype=np.float32)
        else:
            out = np.concatenate([self._tower.run([name_out], {name_in: rows[lo:lo + step]})[0]
                                  for lo in range(0, len(rows), step)]).astype(np.float32,
                                                                             copy=False)
        return self.selection.apply(out, self.name)
