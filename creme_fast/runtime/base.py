"""The Predictor protocol and the checks every backend shares."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from creme_fast.runtime.metadata import InputKind

__all__ = ["Predictor", "check_batch", "known_output_shape", "output_shape", "select_output"]

_ONEHOT_DTYPES = (np.float32, np.float16)


@runtime_checkable
class Predictor(Protocol):
    """What the CREME tests need from a model.

    Attributes
    ----------
    seq_length : int
        Input length in bp.
    input_kind : {"onehot", "tokens"}
        ``predict`` takes one-hot ``(B, L, 4)`` float32/float16, or uint8 tokens
        ``(B, L)`` (A=0 C=1 G=2 T=3 N=4).
    input_dtype : numpy.dtype
        The dtype ``predict`` takes without a conversion.
    """

    seq_length: int
    input_kind: InputKind
    input_dtype: np.dtype

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Predict a batch; returns float32 ``(B, bins, tracks)``."""
        ...


def check_batch(batch: object, seq_length: int, input_kind: InputKind, name: str) -> np.ndarray:
    """Validate a batch against what a predictor takes; raise naming the mismatch.

    Parameters
    ----------
    batch : numpy.ndarray
    seq_length : int
    input_kind : {"onehot", "tokens"}
    name : str
        The predictor, for the message (e.g. the .onnx path).

    Returns
    -------
    numpy.ndarray
        The batch, C-contiguous.
    """
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"{name}: batch must be a numpy array, got {type(batch).__name__}")
    if input_kind == "tokens":
        if batch.ndim != 2 or batch.dtype != np.uint8:
            hint = " (this model takes uint8 tokens, not one-hot)" if batch.ndim == 3 else ""
            raise ValueError(f"{name}: expected uint8 tokens of shape (B, {seq_length}), got "
                             f"{batch.dtype} {batch.shape}{hint}")
        length = batch.shape[1]
    else:
        if batch.ndim != 3 or batch.shape[2] != 4:
            hint = " (this model takes one-hot (B, L, 4), not tokens)" if batch.ndim == 2 else ""
            raise ValueError(f"{name}: expected one-hot of shape (B, {seq_length}, 4), got "
                             f"{batch.dtype} {batch.shape}{hint}")
        if batch.dtype not in _ONEHOT_DTYPES:
            raise ValueError(f"{name}: one-hot batch must be float32 or float16, got "
                             f"{batch.dtype}")
        length = batch.shape[1]
    if length != seq_length:
        raise ValueError(f"{name}: model takes sequences of {seq_length:,} bp, got {length:,} bp")
    if batch.shape[0] == 0:
        raise ValueError(f"{name}: empty batch")
    return np.ascontiguousarray(batch)


def select_output(pred: np.ndarray, tracks: list[int] | None, bins: list[int] | None,
                  bin_reduce: str, name: str) -> np.ndarray:
    """Apply track/bin selection to raw predictions ``(B, bins, tracks)`` or ``(B, tracks)``.

    Returns
    -------
    numpy.ndarray of float32, shape=(B, n_bins, n_tracks)
    """
    pred = np.asarray(pred)
    if pred.ndim == 2:
        pred = pred[:, None, :]
    if pred.ndim != 3:
        raise ValueError(f"{name}: model returned shape {pred.shape}; expected (B, bins, "
                         "tracks) or (B, tracks)")
    if bins is not None:
        bad = [b for b in bins if not -pred.shape[1] <= b < pred.shape[1]]
        if bad:
            raise ValueError(f"{name}: bin {bad[0]} is out of range for {pred.shape[1]} bins")
        pred = pred[:, bins, :]
    if tracks is not None:
        bad = [t for t in tracks if not -pred.shape[2] <= t < pred.shape[2]]
        if bad:
            raise ValueError(f"{name}: track {bad[0]} is out of range for {pred.shape[2]} tracks")
        pred = pred[:, :, tracks]
    if bin_reduce == "mean":
        pred = pred.mean(axis=1, keepdims=True)
    elif bin_reduce != "none":
        raise ValueError(f"bin_reduce must be 'none' or 'mean', got {bin_reduce!r}")
    return np.ascontiguousarray(pred, dtype=np.float32)


def known_output_shape(predictor: object) -> tuple[int, int] | None:
    """``(bins, tracks)`` of the model's output when known without running it (an
    export's metadata, or a graph's static output shape); None otherwise."""
    meta = getattr(predictor, "metadata", None)
    if meta is not None and hasattr(meta, "n_bins"):
        return int(meta.n_bins), int(meta.n_tracks)
    session = getattr(predictor, "session", None)
    if session is not None and hasattr(session, "get_outputs"):
        shape = session.get_outputs()[0].shape
        if len(shape) == 3 and all(isinstance(d, int) for d in shape[1:]):
            return int(shape[1]), int(shape[2])
    return None


def output_shape(predictor: Predictor) -> tuple[int, int]:
    """``(bins, tracks)`` of the model's output: :func:`known_output_shape`, else from
    one prediction of an all-N window.

    Raises
    ------
    ValueError
        The model does not return ``(batch, bins, tracks)``.
    """
    known = known_output_shape(predictor)
    if known is not None:
        return known
    length = predictor.seq_length
    probe = (np.zeros((1, length, 4), np.float32) if predictor.input_kind == "onehot"
             else np.full((1, length), 4, np.uint8))
    out = np.asarray(predictor.predict(probe))
    if out.ndim != 3:
        raise ValueError(f"{predictor}: the model returns shape {out.shape}; expected "
                         "(batch, bins, tracks)")
    return int(out.shape[1]), int(out.shape[2])
