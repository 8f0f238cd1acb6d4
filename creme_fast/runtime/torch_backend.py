"""The PyTorch predictor: the reference and fallback backend (imports torch lazily)."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from creme_fast.runtime.base import check_batch, select_output
from creme_fast.runtime.metadata import InputKind

log = logging.getLogger(__name__)

__all__ = ["TorchPredictor"]

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
    name : str, optional
    """

    def __init__(self, module: Any, *, seq_length: int, input_kind: InputKind = "onehot",
                 device: str = "cpu", dtype: str = "float32", compile: bool = False,
                 tracks: list[int] | None = None, bins: list[int] | None = None,
                 bin_reduce: str = "none", name: str | None = None) -> None:
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
        self.name = name or type(module).__name__

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Predict a batch; returns float32 ``(B, bins, tracks)``."""
        torch = self._torch
        batch = check_batch(batch, self.seq_length, self.input_kind, self.name)
        x = torch.from_numpy(batch).to(self.device)
        if self.input_kind == "onehot":
            x = x.to(self.torch_dtype)
        with torch.inference_mode():
            y = self._run(x)
        raw = y.float().cpu().numpy()
        return select_output(raw, self.tracks, self.bins, self.bin_reduce, self.name)
