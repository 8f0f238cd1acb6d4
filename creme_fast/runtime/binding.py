"""The ONNX Runtime predictor's device path: IO binding, batch buckets, output selection.

A GPU run is fast when shapes repeat and little crosses the bus. So
:class:`BoundRunner`:

* binds one input and one output buffer per **batch bucket** on the device, once,
  and reuses them (fixed addresses, as ORT's CUDA graphs need);
* runs a batch of ``n`` sequences as chunks of the largest bucket that fits,
  the last chunk padded with zero rows up to the smallest bucket that holds it
  (:func:`bucket_calls`); padding rows are dropped before anything is returned,
  so they never reach results (nor the engine's NaN check);
* reduces the output to the kept bins and tracks **on the device**, with a second,
  tiny graph (:func:`selection_graph`: ``Gather`` bins, ``Gather`` tracks,
  optionally ``ReduceMean`` over bins) bound to the model's output buffer, so only
  the kept values are copied to the host.

The same code runs with buffers in host memory (``device="cpu"``), which is how it
is tested without a GPU.

CUDA graphs (``enable_cuda_graph``) replay one captured launch sequence per shape;
ONNX Runtime allows them only when every node runs on CUDA and the bound
addresses never change. :func:`check_cuda_graph` refuses, naming the reason,
anything else: another provider, more than one bucket, no IO binding.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from creme_fast.runtime.base import select_output
from creme_fast.runtime.providers import CUDA

log = logging.getLogger(__name__)

__all__ = ["BoundRunner", "CudaGraphError", "OutputSelection", "bucket_calls",
           "check_buckets", "check_cuda_graph", "cuda_graph_options", "selection_graph"]

SELECT_INPUT, SELECT_OUTPUT = "raw", "selected"


class CudaGraphError(ValueError):
    """CUDA graphs were asked for where they cannot hold."""


@dataclass(frozen=True)
class OutputSelection:
    """Which of a model's output bins and tracks are kept, as positions in its output.

    Attributes
    ----------
    bins, tracks : tuple of int or None
        None keeps all.
    bin_reduce : {"none", "mean"}
        Average the kept bins (then one bin is returned).
    """

    bins: tuple[int, ...] | None = None
    tracks: tuple[int, ...] | None = None
    bin_reduce: str = "none"

    @classmethod
    def of(cls, bins: Sequence[int] | None, tracks: Sequence[int] | None,
           bin_reduce: str = "none") -> OutputSelection:
        if bin_reduce not in ("none", "mean"):
            raise ValueError(f"bin_reduce must be 'none' or 'mean', got {bin_reduce!r}")
        return cls(None if bins is None else tuple(int(b) for b in bins),
                   None if tracks is None else tuple(int(t) for t in tracks), bin_reduce)

    @property
    def empty(self) -> bool:
        """Keeps everything as it is."""
        return self.bins is None and self.tracks is None and self.bin_reduce == "none"

    def check(self, n_bins: int, n_tracks: int, name: str) -> None:
        """Raise, naming ``name``, for an index outside a ``(n_bins, n_tracks)`` output."""
        for what, picked, size in (("bin", self.bins, n_bins), ("track", self.tracks, n_tracks)):
            if picked is not None and not picked:
                raise ValueError(f"{name}: empty {what} selection")
            bad = [i for i in picked or () if not 0 <= i < size]
            if bad:
                raise ValueError(f"{name}: {what} {bad[0]} is out of range: the model returns "
                                 f"{size} {what}s (0..{size - 1})")

    def shape(self, n_bins: int, n_tracks: int) -> tuple[int, int]:
        """The selected output's ``(bins, tracks)``."""
        bins = 1 if self.bin_reduce == "mean" else len(self.bins) if self.bins else n_bins
        return bins, len(self.tracks) if self.tracks else n_tracks

    def apply(self, pred: np.ndarray, name: str) -> np.ndarray:
        """The selection on the host (the unbound path, the incremental tower)."""
        if self.empty:
            return pred
        return select_output(pred, None if self.tracks is None else list(self.tracks),
                             None if self.bins is None else list(self.bins), self.bin_reduce,
                             name)


def selection_graph(selection: OutputSelection, n_bins: int, n_tracks: int) -> bytes:
    """An ONNX graph ``raw (B, n_bins, n_tracks) -> selected (B, bins, tracks)`` float32."""
    import onnx
    from onnx import TensorProto, helper

    nodes, inits, current = [], [], SELECT_INPUT
    for axis, picked, what in ((1, selection.bins, "bins"), (2, selection.tracks, "tracks")):
        if picked is None:
            continue
        inits.append(helper.make_tensor(f"{what}_index", TensorProto.INT64, [len(picked)],
                                        list(picked)))
        nodes.append(helper.make_node("Gather", [current, f"{what}_index"], [f"by_{what}"],
                                      axis=axis, name=f"keep_{what}"))
        current = f"by_{what}"
    if selection.bin_reduce == "mean":
        inits.append(helper.make_tensor("bin_axis", TensorProto.INT64, [1], [1]))
        nodes.append(helper.make_node("ReduceMean", [current, "bin_axis"], ["mean_bins"],
                                      keepdims=1, name="mean_of_bins"))
        current = "mean_bins"
    nodes.append(helper.make_node("Identity", [current], [SELECT_OUTPUT], name="out"))
    bins, tracks = selection.shape(n_bins, n_tracks)
    graph = helper.make_graph(
        nodes, "creme_fast_output_selection",
        [helper.make_tensor_value_info(SELECT_INPUT, TensorProto.FLOAT,
                                       ["batch", n_bins, n_tracks])],
        [helper.make_tensor_value_info(SELECT_OUTPUT, TensorProto.FLOAT,
                                       ["batch", bins, tracks])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def check_buckets(buckets: Sequence[int] | None) -> tuple[int, ...] | None:
    """Sorted, distinct batch buckets; None keeps one buffer set per batch size seen.

    Raises
    ------
    ValueError
        An empty list, or a bucket that is not a whole number >= 1.
    """
    if buckets is None:
        return None
    values = list(buckets)
    if not values:
        raise ValueError("batch buckets: give at least one size (or None)")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"batch buckets must be whole numbers >= 1, got {value!r}")
    return tuple(sorted({int(v) for v in values}))


def bucket_calls(n: int, buckets: tuple[int, ...] | None) -> list[tuple[int, int, int]]:
    """How a batch of ``n`` runs: ``(start, stop, bucket)`` per call.

    Chunks of the largest bucket that fits; a remainder smaller than every bucket
    runs padded up to the smallest bucket that holds it, so the padding (at most
    the smallest bucket - 1 rows) is small and every call has a bucket's shape.
    ``buckets=None`` runs the batch as it is.
    """
    if n < 1:
        raise ValueError(f"a batch needs at least one sequence, got {n}")
    if buckets is None:
        return [(0, n, n)]
    calls, start = [], 0
    while start < n:
        left = n - start
        fitting = [b for b in buckets if b <= left]
        if fitting:
            size = fitting[-1]
            calls.append((start, start + size, size))
            start += size
        else:
            calls.append((start, n, min(b for b in buckets if b >= left)))
            start = n
    return calls


def check_cuda_graph(provider: str, buckets: tuple[int, ...] | None, io_binding: bool,
                     name: str) -> None:
    """Refuse CUDA graphs where they cannot hold, naming the reason.

    Raises
    ------
    CudaGraphError
        Not the CUDA provider; not exactly one bucket (a captured graph replays one
        shape); no IO binding (the graph replays fixed device addresses).
    """
    if provider != CUDA:
        raise CudaGraphError(f"{name}: CUDA graphs need the CUDA provider; this session runs "
                             f"on {provider}")
    if buckets is None or len(buckets) != 1:
        raise CudaGraphError(f"{name}: CUDA graphs need one fixed batch bucket (a captured "
                             f"graph replays one shape), got {buckets}")
    if not io_binding:
        raise CudaGraphError(f"{name}: CUDA graphs need IO binding (the captured graph "
                             "replays fixed device addresses); do not pass io_binding=False")


def cuda_graph_options(options: dict[str, Any]) -> dict[str, Any]:
    """CUDA provider options with ORT's CUDA graph capture on."""
    return {**options, "enable_cuda_graph": "1"}


class BoundRunner:
    """Run one session through IO binding with reused buffers per batch bucket.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
    input_name, output_name : str
    input_tail : tuple of int
        The graph's input shape for one sequence: ``(L,)`` tokens, ``(L, 4)`` one-hot.
    per_sequence : tuple of int
        The graph's output shape for one sequence, ``(bins, tracks)``.
    input_dtype : numpy.dtype
    device : {"cuda", "cpu"}
        Where the buffers live.
    device_id : int
    buckets : tuple of int, optional
        :func:`check_buckets`; None: one buffer set per batch size seen.
    selection : OutputSelection, optional
        Applied on the device before the copy to the host.
    make_selector : callable, optional
        ``bytes -> InferenceSession`` on the same provider (needed with a selection).
    run_options : onnxruntime.RunOptions, optional
    name : str
        For messages.
    """

    def __init__(self, session: Any, *, input_name: str, output_name: str,
                 input_tail: tuple[int, ...], per_sequence: tuple[int, int], input_dtype: np.dtype, device: str,
                 device_id: int = 0, buckets: tuple[int, ...] | None = None,
                 selection: OutputSelection | None = None,
                 make_selector: Callable[[bytes], Any] | None = None,
                 run_options: Any = None, name: str = "model") -> None:
        import onnxruntime as ort

        self._ort = ort
        self.session = session
        self.input_name, self.output_name = input_name, output_name
        self._input_tail = tuple(input_tail)
        self.per_sequence = tuple(per_sequence)
        self.input_dtype = np.dtype(input_dtype)
        self.device, self.device_id = device, int(device_id)
        self.buckets = buckets
        self.name = name
        self.run_options = run_options
        self.selection = selection if selection is not None and not selection.empty else None
        self.selector = None
        if self.selection is not None:
            if make_selector is None:
                raise ValueError("a selection on the device needs make_selector")
            self.selection.check(*self.per_sequence, name)
            self.selector = make_selector(selection_graph(self.selection, *self.per_sequence))
        self._slots: dict[int, dict[str, Any]] = {}

    def _value(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, self.device,
                                                               self.device_id)

    def _slot(self, size: int) -> dict[str, Any]:
        """The buffers and bindings of one bucket, made once (fixed addresses)."""
        if size in self._slots:
            return self._slots[size]
        slot: dict[str, Any] = {
            "in": self._value((size, *self._input_tail), self.input_dtype),
            "raw": self._value((size, *self.per_sequence), np.float32)}
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self.input_name, slot["in"])
        binding.bind_ortvalue_output(self.output_name, slot["raw"])
        slot["binding"] = binding
        slot["out"] = slot["raw"]
        if self.selector is not None:
            out_shape = (size, *self.selection.shape(*self.per_sequence))
            slot["out"] = self._value(out_shape, np.float32)
            selected = self.selector.io_binding()
            selected.bind_ortvalue_input(SELECT_INPUT, slot["raw"])
            selected.bind_ortvalue_output(SELECT_OUTPUT, slot["out"])
            slot["select"] = selected
        if self.buckets is not None:  # padded calls stage their rows here
            slot["staging"] = np.zeros((size, *self._input_tail), dtype=self.input_dtype)
        self._slots[size] = slot
        return slot

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Predictions for ``batch`` (C-contiguous, the graph's dtype): float32
        ``(B, bins, tracks)`` after the selection; padding rows never returned."""
        if batch.shape[1:] != self._input_tail:
            raise ValueError(f"{self.name}: bound input takes (B, "
                             f"{', '.join(map(str, self._input_tail))}), got {batch.shape}")
        n = batch.shape[0]
        pieces = []
        for start, stop, size in bucket_calls(n, self.buckets):
            slot = self._slot(size)
            rows = stop - start
            if rows == size:
                slot["in"].update_inplace(np.ascontiguousarray(batch[start:stop]))
            else:
                staging = slot["staging"]
                staging[:rows] = batch[start:stop]
                staging[rows:] = 0  # padding: a defined input, dropped below
                slot["in"].update_inplace(staging)
            self.session.run_with_iobinding(slot["binding"], self.run_options)
            if "select" in slot:
                self.selector.run_with_iobinding(slot["select"])
            # a host buffer's numpy() is a view of it: copy before the next call overwrites it
            pieces.append(np.array(slot["out"].numpy()[:rows], dtype=np.float32, copy=True))
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
