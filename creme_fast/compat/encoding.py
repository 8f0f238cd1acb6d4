"""One-hot in creme-nn's conventions: N as a row of four 0.25, or as an all-zero row.

creme-nn's ``one_hot_encode`` (kipoiseq) writes N as ``[0.25, 0.25, 0.25,
0.25]``; creme-fast's own one-hot writes it as zeros. The compat layer reads
both and writes N back the way the caller's input wrote it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from creme_fast.sequence.tokens import N_TOKEN, from_one_hot, one_hot

__all__ = ["QUARTER", "decode_one_hot", "encode_one_hot"]

#: The value of each column in an N row of creme-nn's encoding.
QUARTER = 0.25


def decode_one_hot(x: Any, name: str = "x") -> tuple[np.ndarray, float]:
    """Tokens of a one-hot input, and the value its N rows hold.

    Parameters
    ----------
    x : array_like, shape=(L, 4) or (B, L, 4)
        One-hot; a row of four 0.25 and an all-zero row are both N.
    name : str, default="x"
        The argument, for error messages.

    Returns
    -------
    tokens : numpy.ndarray of uint8, shape=x.shape[:-1]
    n_value : float
        0.25 if ``x`` has a 0.25 row, else 0.0.

    Raises
    ------
    ValueError
        On a wrong shape or a row that is neither one-hot nor N, naming it.
    """
    x = np.asarray(x)
    if x.ndim not in (2, 3) or x.shape[-1] != 4:
        raise ValueError(f"{name} must be one-hot (L, 4) or (N, L, 4), got shape {x.shape}")
    if x.dtype.kind == "f":
        quarter = np.all(x == QUARTER, axis=-1)
        if quarter.any():
            return from_one_hot(np.where(quarter[..., None], 0, x)), QUARTER
    return from_one_hot(x), 0.0


def encode_one_hot(tokens: np.ndarray, n_value: float = 0.0,
                   dtype: Any = np.float64) -> np.ndarray:
    """One-hot of tokens (A=0 C=1 G=2 T=3 N=4) with N rows holding ``n_value`` in every column.

    Parameters
    ----------
    tokens : numpy.ndarray of uint8, shape=(L,) or (B, L)
    n_value : float, default=0.0
        0.0 (all-zero N) or 0.25 (creme-nn's N).
    dtype : numpy dtype, default=numpy.float64

    Returns
    -------
    numpy.ndarray, shape=tokens.shape + (4,)
    """
    dtype = np.dtype(dtype)
    if dtype in (np.float64, np.float32, np.float16, np.uint8):
        out = one_hot(tokens, dtype=dtype)
    else:
        out = np.eye(5, 4, dtype=dtype)[np.asarray(tokens)]
    if n_value:
        out[tokens == N_TOKEN] = n_value
    return out
