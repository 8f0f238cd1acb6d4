"""Tokens, strings and one-hot encodings.

Sequences travel as uint8 tokens: A=0 C=1 G=2 T=3 N=4. One-hot encodings are
(L, 4) or (B, L, 4) in A, C, G, T order with N as an all-zero row.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import DTypeLike

from creme_fast import _native
from creme_fast._validate import ALPHABET, as_tokens, ascii_codes

__all__ = [
    "ALPHABET",
    "N_TOKEN",
    "encode",
    "decode",
    "reverse_complement",
    "one_hot",
    "from_one_hot",
]

N_TOKEN = 4

# bit pattern of 1 in each supported one-hot dtype
_ONE = {
    np.dtype(np.float64): (np.uint64, 0x3FF0000000000000),
    np.dtype(np.float32): (np.uint32, 0x3F800000),
    np.dtype(np.float16): (np.uint16, 0x3C00),
    np.dtype(np.uint8): (np.uint8, 1),
}


def encode(seq: str | bytes | bytearray | memoryview | np.ndarray, *,
           iupac: Literal["error", "n"] = "error") -> np.ndarray:
    """Encode a DNA string as tokens.

    Parameters
    ----------
    seq : str, bytes, bytearray, memoryview or numpy.ndarray of uint8 (ASCII codes)
        The sequence. Upper and lower case are accepted (soft-masked genomes).
    iupac : {"error", "n"}, default="error"
        What to do with IUPAC ambiguity codes (R Y S W K M B D H V): raise, or
        read them as N.

    Returns
    -------
    numpy.ndarray of uint8, shape=(L,)
        Tokens A=0 C=1 G=2 T=3 N=4.

    Raises
    ------
    ValueError
        On a character that is not a base, naming the character and its position.
    """
    if iupac not in ("error", "n"):
        raise ValueError(f"iupac must be 'error' or 'n', got {iupac!r}")
    if isinstance(seq, str):
        raw = ascii_codes(seq)
    elif isinstance(seq, (bytes, bytearray, memoryview)):
        raw = np.frombuffer(seq, dtype=np.uint8)
    elif isinstance(seq, np.ndarray) and seq.dtype == np.uint8 and seq.ndim == 1:
        raw = np.ascontiguousarray(seq)
    else:
        raise TypeError("seq must be a str, bytes or a 1-D uint8 array of ASCII codes, "
                        f"got {type(seq).__name__}")
    out = np.empty(raw.shape[0], dtype=np.uint8)
    bad = _native.encode(raw, out, iupac == "n")
    if bad >= 0:
        char = chr(raw[bad])
        hint = "" if iupac == "n" or char.upper() not in "RYSWKMBDHV" else \
            "; pass iupac='n' to read IUPAC ambiguity codes as N"
        raise ValueError(f"sequence has invalid character {char!r} at position {bad}; "
                         f"expected A, C, G, T or N{hint}")
    return out


def decode(tokens: np.ndarray) -> str:
    """Decode tokens to an upper-case ``ACGTN`` string.

    Parameters
    ----------
    tokens : numpy.ndarray of uint8, shape=(L,)

    Returns
    -------
    str
    """
    tokens = as_tokens(tokens, ndim=(1,), check_values=False)
    out = np.empty(tokens.shape[0], dtype=np.uint8)
    bad = _native.decode(tokens, out)
    if bad >= 0:
        raise ValueError(f"tokens holds invalid token {tokens[bad]} at index {bad}; "
                         "tokens are A=0 C=1 G=2 T=3 N=4")
    return out.tobytes().decode("ascii")


def reverse_complement(tokens: np.ndarray) -> np.ndarray:
    """Reverse complement of tokens (N stays N).

    Parameters
    ----------
    tokens : numpy.ndarray of uint8, shape=(L,) or (B, L)

    Returns
    -------
    numpy.ndarray of uint8, same shape
    """
    tokens = as_tokens(tokens, check_values=False)
    if tokens.size == 0:
        return tokens.copy()
    rows = tokens.reshape(-1, tokens.shape[-1])
    out = np.empty_like(rows)
    bad = _native.reverse_complement(rows, out)
    if bad >= 0:
        where = np.unravel_index(bad, tokens.shape)
        raise ValueError(f"tokens holds invalid token {tokens.reshape(-1)[bad]} at index "
                         f"{tuple(int(i) for i in where)}; tokens are A=0 C=1 G=2 T=3 N=4")
    return out.reshape(tokens.shape)


def one_hot(tokens: np.ndarray, dtype: DTypeLike = np.float32,
            out: np.ndarray | None = None) -> np.ndarray:
    """One-hot encode tokens, optionally straight into a caller's buffer.

    Parameters
    ----------
    tokens : numpy.ndarray of uint8, shape=(L,) or (B, L)
    dtype : {numpy.float32, numpy.float16, numpy.float64, numpy.uint8}, default=numpy.float32
        Output dtype; ignored when ``out`` is given.
    out : numpy.ndarray, shape=(L, 4) or (B, L, 4), optional
        C-contiguous, writeable buffer of a supported dtype (for example a slice
        ``batch[i:j]`` of a reusable batch buffer). Every element is written.

    Returns
    -------
    numpy.ndarray, shape=tokens.shape + (4,)
        ``out`` if given. N (token 4) gives an all-zero row.
    """
    tokens = as_tokens(tokens, check_values=False)
    shape = tokens.shape + (4,)
    if out is None:
        dt = np.dtype(dtype)
        if dt not in _ONE:
            raise ValueError(f"dtype must be float32, float16, float64 or uint8, got {dt}")
        out = np.empty(shape, dtype=dt)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        if out.shape != shape:
            raise ValueError(f"out has shape {out.shape}, expected {shape} for tokens of "
                             f"shape {tokens.shape}")
        if out.dtype not in _ONE:
            raise ValueError(f"out dtype must be float32, float16, float64 or uint8, "
                             f"got {out.dtype}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be C-contiguous and writeable")
    if tokens.size == 0:
        return out
    view_dtype, one = _ONE[out.dtype]
    rows = tokens.reshape(-1, shape[-2])
    bad = _native.one_hot(rows, out.reshape(-1, shape[-2], 4).view(view_dtype), one)
    if bad >= 0:
        where = np.unravel_index(bad, tokens.shape)
        raise ValueError(f"tokens holds invalid token {tokens.reshape(-1)[bad]} at index "
                         f"{tuple(int(i) for i in where)}; tokens are A=0 C=1 G=2 T=3 N=4")
    return out


def from_one_hot(x: np.ndarray) -> np.ndarray:
    """Tokens from a one-hot encoding; an all-zero row becomes N.

    Parameters
    ----------
    x : numpy.ndarray, shape=(L, 4) or (B, L, 4)
        Any real or boolean dtype; every entry must be 0 or 1 with at most one 1
        per row.

    Returns
    -------
    numpy.ndarray of uint8, shape=x.shape[:-1]

    Raises
    ------
    ValueError
        If a row is not one-hot, naming the row and its values.
    """
    arr = np.asarray(x)
    if arr.ndim not in (2, 3) or arr.shape[-1] != 4:
        raise ValueError(f"one-hot input must have shape (L, 4) or (B, L, 4), got {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    elif arr.dtype not in (np.float32, np.float64, np.uint8):
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"one-hot input must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    if arr.size == 0:
        return np.zeros(arr.shape[:-1], dtype=np.uint8)
    arr3 = np.ascontiguousarray(arr.reshape(-1, arr.shape[-2], 4))
    out = np.empty(arr3.shape[:2], dtype=np.uint8)
    bad = _native.from_one_hot(arr3, out)
    if bad >= 0:
        where = np.unravel_index(bad, arr.shape[:-1])
        row = arr.reshape(-1, 4)[bad]
        raise ValueError(f"one-hot input is not one-hot at position "
                         f"{tuple(int(i) for i in where)}: {row.tolist()}")
    return out.reshape(arr.shape[:-1])
