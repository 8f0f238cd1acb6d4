"""A predictor around any callable or creme-nn-style model object."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from creme_fast.runtime.base import check_batch, select_output
from creme_fast.runtime.readout import selected_readout
from creme_fast.runtime.metadata import InputKind

__all__ = ["CallablePredictor"]


class CallablePredictor:
    """Wrap ``fn(batch)`` or ``model.predict(batch)`` as a Predictor.

    Parameters
    ----------
    model : callable or object with ``predict``
        Takes a batch (``(B, L, 4)`` one-hot or ``(B, L)`` tokens) and returns
        ``(B, bins, tracks)`` or ``(B, tracks)`` (numpy or anything
        ``numpy.asarray`` takes).
    seq_length : int, optional
        Default: ``model.seq_length`` (creme-nn's convention).
    input_kind : {"onehot", "tokens"}, default="onehot"
    input_dtype : numpy dtype, default=numpy.float32
        One-hot dtype handed to the model.
    tracks, bins : list of int, optional
        Output selection applied to what the model returns.
    bin_reduce : {"none", "mean"}, default="none"
    tss_bins : list of int, optional
        The output bins (after ``bins`` and ``bin_reduce``) that read a gene's
        activity at the window's centre: what the CREME tests average when they
        are not given ``bins=``. Default: every bin ``bins`` selects (the one bin
        under ``bin_reduce="mean"``); with neither, the model records none and the
        tests ask for ``bins=`` (see :mod:`creme_fast.runtime.readout`).
    name : str, optional
        Used in error messages.
    """

    def __init__(self, model: Callable[[np.ndarray], Any] | Any, *, seq_length: int | None = None,
                 input_kind: InputKind = "onehot", input_dtype: Any = np.float32,
                 tracks: list[int] | None = None, bins: list[int] | None = None,
                 bin_reduce: str = "none", tss_bins: list[int] | None = None,
                 name: str | None = None) -> None:
        if hasattr(model, "predict") and callable(model.predict):
            self._fn = model.predict
        elif callable(model):
            self._fn = model
        else:
            raise TypeError(f"model must be callable or have a predict method, got "
                            f"{type(model).__name__}")
        if seq_length is None:
            seq_length = getattr(model, "seq_length", None)
        if seq_length is None:
            raise ValueError("seq_length is required: the model has no seq_length attribute")
        if input_kind not in ("onehot", "tokens"):
            raise ValueError(f"input_kind must be 'onehot' or 'tokens', got {input_kind!r}")
        self.seq_length = int(seq_length)
        self.input_kind: InputKind = input_kind
        self.input_dtype = np.dtype(np.uint8 if input_kind == "tokens" else input_dtype)
        self.tracks = None if tracks is None else [int(t) for t in tracks]
        self.bins = None if bins is None else [int(b) for b in bins]
        self.bin_reduce = bin_reduce
        self.tss_bins = selected_readout(self.bins, bin_reduce, tss_bins)
        self.name = name or getattr(model, "__name__", type(model).__name__)
        self.raw_shape: tuple[int, ...] | None = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Predict a batch; returns float32 ``(B, bins, tracks)``."""
        batch = check_batch(batch, self.seq_length, self.input_kind, self.name)
        if batch.dtype != self.input_dtype:
            batch = batch.astype(self.input_dtype)
        raw = self._fn(batch)
        if hasattr(raw, "detach"):  # a torch tensor
            raw = raw.detach().cpu().numpy()
        self.raw_shape = tuple(np.shape(raw)[1:])  # per-sequence shape the model returned
        out = select_output(raw, self.tracks, self.bins, self.bin_reduce, self.name)
        if out.shape[0] != batch.shape[0]:
            raise ValueError(f"{self.name}: returned {out.shape[0]} predictions for a batch of "
                             f"{batch.shape[0]}")
        return out
