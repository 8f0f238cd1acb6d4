"""The PyTorch predictor: the reference and fallback backend (imports torch lazily)."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from creme_fast.runtime.base import check_batch, select_output
from creme_fast.runtime.geometry import TrunkGeometry, compose_layers
from creme_fast.runtime.incremental import check_window
from creme_fast.runtime.metadata import InputKind
from creme_fast.runtime.readout import selected_readout

log = logging.getLogger(__name__)

__all__ = ["TorchIncremental", "TorchPredictor"]

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


class TorchPredictor:
    """Run a ``torch.nn.Module`` on CPU or CUDA.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a float one-hot ``(B, L, 4)`` (or uint8 tokens ``(B, L)`` when
        ``input_kind="tokens"``) to ``(B, bins, tracks)`` or ``(B, tracks)``.
    seq_length : int
    input_kind : {"onehot", "tokens"}, default="onehot"
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype : {"float32", "float16", "bfloat16"}, default="float32"
        Weight and compute dtype; predictions are returned as float32.
    compile : bool, default=False
        Wrap the module in ``torch.compile``.
    tracks, bins, bin_reduce
        Output selection applied after the module (see CallablePredictor).
    tss_bins : list of int, optional
        The output bins the CREME tests average by default (see CallablePredictor).
    name : str, optional

    Attributes
    ----------
    incremental : TorchIncremental or None
        For a module that declares its split (``trunk``, ``tower`` and
        ``trunk_layers``, as :class:`creme_fast.export.modules.EnformerBody`):
        trunk rows of windows and the tower on rows (see
        :mod:`creme_fast.runtime.incremental`).
    """

    def __init__(self, module: Any, *, seq_length: int, input_kind: InputKind = "onehot",
                 device: str = "cpu", dtype: str = "float32", compile: bool = False,
                 tracks: list[int] | None = None, bins: list[int] | None = None,
                 bin_reduce: str = "none", tss_bins: list[int] | None = None,
                 name: str | None = None) -> None:
        import torch

        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("device='cuda' requested but torch sees no CUDA device")
        self._torch = torch
        self.device = torch.device(device)
        self.torch_dtype = getattr(torch, _DTYPES[dtype])
        self.module = module.to(device=self.device, dtype=self.torch_dtype).eval()
        self._run = torch.compile(self.module) if compile else self.module
        self.seq_length = int(seq_length)
        self.input_kind: InputKind = input_kind
        self.input_dtype = np.dtype(np.uint8 if input_kind == "tokens" else np.float32)
        self.tracks, self.bins, self.bin_reduce = tracks, bins, bin_reduce
        self.tss_bins = selected_readout(bins, bin_reduce, tss_bins)
        self.name = name or type(module).__name__
        self.incremental = (TorchIncremental(self) if all(
            callable(getattr(module, f, None)) for f in ("trunk", "tower", "trunk_layers"))
            else None)

    def _tensor(self, batch: np.ndarray) -> Any:
        x = self._torch.from_numpy(batch).to(self.device)
        return x.to(self.torch_dtype) if self.input_kind == "onehot" else x

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Predict a batch; returns float32 ``(B, bins, tracks)``."""
        torch = self._torch
        batch = check_batch(batch, self.seq_length, self.input_kind, self.name)
        with torch.inference_mode():
            y = self._run(self._tensor(batch))
        raw = y.float().cpu().numpy()
        return select_output(raw, self.tracks, self.bins, self.bin_reduce, self.name)


class TorchIncremental:
    """The trunk and tower of a PyTorch module that declares its split."""

    def __init__(self, predictor: TorchPredictor) -> None:
        self._p = predictor
        self.input_kind = predictor.input_kind
        self.input_dtype = predictor.input_dtype
        stride, left, right = compose_layers(predictor.module.trunk_layers())
        if predictor.seq_length % stride:
            raise ValueError(f"{predictor.name}: sequence length {predictor.seq_length} is "
                             f"not a multiple of the trunk's stride {stride}")
        probe = np.zeros((1, stride) + ((4,) if self.input_kind == "onehot" else ()),
                         dtype=self.input_dtype)
        channels = self._rows(probe).shape[2]
        self.geometry = TrunkGeometry(stride, left, right, predictor.seq_length // stride,
                                      int(channels))
        self.trunk_flops_per_bp = 0.0

    def _rows(self, batch: np.ndarray) -> np.ndarray:
        p = self._p
        with p._torch.inference_mode():
            return p.module.trunk(p._tensor(batch)).float().cpu().numpy()

    def trunk(self, batch: np.ndarray) -> np.ndarray:
        """Trunk rows of windows ``(B, W[, 4])``: float32 ``(B, W / stride, channels)``."""
        return self._rows(check_window(batch, self.geometry, self.input_kind, self._p.name))

    def tower(self, rows: np.ndarray) -> np.ndarray:
        """Predictions from rows ``(B, rows, channels)``, with the predictor's selection."""
        p = self._p
        with p._torch.inference_mode():
            x = p._torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
            y = p.module.tower(x.to(device=p.device, dtype=p.torch_dtype))
        return select_output(y.float().cpu().numpy(), p.tracks, p.bins, p.bin_reduce, p.name)
