"""creme-nn's ``creme.shuffle`` module on the native kernel.

``dinuc_shuffle`` takes the reference's arguments and returns the reference's
shapes and types, drawing the same ``rng.permutation`` calls in the same
order, so with the same ``numpy.random.RandomState`` it returns the same bits.

Deliberate differences from creme-nn 0.2.5
-------------------------------------------
- ``seed=0`` seeds the generator. The reference's ``if seed:`` treats 0 as "no
  seed" and silently draws from fresh entropy.
- A one-hot input that is not one-hot (a value other than 0/1, or two 1s in a
  row) raises ``ValueError`` naming the row. The reference assumes well-formed
  input and silently produces a wrong shuffle.
- A row of four 0.25 (how creme-nn's ``one_hot_encode`` writes N) is N: it
  is shuffled as N and comes back as a 0.25 row. The reference reads it as T
  (the last nonzero column) and returns a T row. Without such rows the two
  give the same bits.
- ``random_shuffle`` takes an optional ``rng``; without one it draws from
  NumPy's global generator as the reference does (``np.random.seed`` applies).
- ``char_array_to_string`` works on NumPy 2 (the reference calls the removed
  ``ndarray.tostring``); both ``string_to_char_array`` and it take ASCII only.
- ``one_hot_to_tokens`` and ``tokens_to_one_hot`` check their input and raise
  naming the offending row or token.
- A string must be ASCII; the reference garbles multi-byte characters.
- An empty sequence returns empty copies with a warning instead of an
  ``IndexError``.
- A region too short to shuffle, or holding a single token, warns
  (``CremeFastWarning``) instead of silently returning copies.
"""
from __future__ import annotations

import warnings

import numpy as np

from creme_fast._validate import ascii_codes
from creme_fast.compat.encoding import decode_one_hot, encode_one_hot
from creme_fast.errors import CremeFastWarning
from creme_fast.sequence.shuffle import creme_shuffle_into, legacy_random_state, warn_if_degenerate

__all__ = ["char_array_to_string", "dinuc_shuffle", "one_hot_to_tokens", "random_shuffle",
           "string_to_char_array", "tokens_to_one_hot"]


def _one_hot_to_tokens(seq: np.ndarray) -> np.ndarray:
    """(L, D) one-hot -> tokens 0..D, D for an all-zero row (the reference's rule)."""
    if seq.shape[1] == 4:
        return decode_one_hot(seq, "seq")[0]
    ones = seq == 1
    if not np.all(ones | (seq == 0)) or np.any(ones.sum(axis=1) > 1):
        bad = int(np.flatnonzero(~np.all(ones | (seq == 0), axis=1) | (ones.sum(axis=1) > 1))[0])
        raise ValueError(f"one-hot input is not one-hot at position {bad}: {seq[bad].tolist()}")
    tokens = np.full(seq.shape[0], seq.shape[1], dtype=np.uint8)
    rows, cols = np.nonzero(ones)
    tokens[rows] = cols
    return tokens


def _tokens_to_one_hot(tokens: np.ndarray, depth: int, dtype: np.dtype,
                       n_value: float = 0.0) -> np.ndarray:
    if depth == 4:
        return encode_one_hot(tokens, n_value, dtype)
    return np.eye(depth + 1, depth, dtype=dtype)[tokens]


def random_shuffle(seq: np.ndarray, rng: np.random.RandomState | None = None) -> np.ndarray:
    """The rows of ``seq`` in a random order (a mononucleotide shuffle of one-hot).

    Parameters
    ----------
    seq : numpy.ndarray, shape=(L, ...)
    rng : numpy.random.RandomState, optional
        Default: NumPy's global generator, as the reference.

    Returns
    -------
    numpy.ndarray, same shape and dtype
    """
    seq = np.asarray(seq)
    if seq.ndim == 0:
        raise ValueError("seq must be an array with a sequence axis, got a scalar")
    order = (np.random if rng is None else rng).permutation(len(seq))
    return seq[order]


def string_to_char_array(seq: str) -> np.ndarray:
    """ASCII codes of a string as int8 (``"ACGT"`` -> ``[65, 67, 71, 84]``)."""
    return ascii_codes(seq, "seq").view(np.int8)


def char_array_to_string(arr: np.ndarray) -> str:
    """The string of an array of ASCII codes (the inverse of ``string_to_char_array``)."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(f"arr must be a 1-D integer array of ASCII codes, got {arr.dtype} "
                         f"{arr.shape}")
    bad = np.flatnonzero((arr < 0) | (arr > 127))
    if bad.size:
        raise ValueError(f"arr[{int(bad[0])}] = {int(arr[bad[0]])} is not an ASCII code")
    return arr.astype(np.uint8).tobytes().decode("ascii")


def one_hot_to_tokens(one_hot: np.ndarray) -> np.ndarray:
    """(L, D) one-hot -> int64 tokens ``0..D``; an all-zero row (or, with D = 4, a 0.25
    row) is ``D``."""
    arr = np.asarray(one_hot)
    if arr.ndim != 2:
        raise ValueError(f"one_hot must have shape (L, D), got {arr.shape}")
    return _one_hot_to_tokens(arr).astype(np.int64)


def tokens_to_one_hot(tokens: np.ndarray, one_hot_dim: int) -> np.ndarray:
    """Tokens ``0..D`` -> float64 (L, D) one-hot; token ``D`` is an all-zero row."""
    tokens = np.asarray(tokens)
    if tokens.dtype.kind not in "iu":
        raise ValueError(f"tokens must be integers, got {tokens.dtype}")
    bad = np.flatnonzero((tokens.reshape(-1) < 0) | (tokens.reshape(-1) > one_hot_dim))
    if bad.size:
        raise ValueError(f"token {int(tokens.reshape(-1)[bad[0]])} at index {int(bad[0])} is "
                         f"outside 0..{one_hot_dim}")
    return np.eye(one_hot_dim + 1, one_hot_dim)[tokens]


def dinuc_shuffle(seq: str | np.ndarray, num_shufs: int | None = None,
                  rng: np.random.RandomState | None = None,
                  seed: int | None = None) -> str | list[str] | np.ndarray:
    """Dinucleotide shuffles with creme-nn 0.2.5's signature and results.

    Parameters
    ----------
    seq : str or numpy.ndarray, shape=(L, D)
        A string (any ASCII characters), or a one-hot array; an all-zero row
        is a fifth token and is shuffled too.
    num_shufs : int, optional
        Number of shuffles N. When None, one shuffle is made and returned
        without the leading N axis.
    rng : numpy.random.RandomState, optional
        The stream to draw from; advanced exactly as creme-nn advances it.
    seed : int, optional
        Used as ``RandomState(seed)`` when ``rng`` is None (0 included).

    Returns
    -------
    str, list of str, or numpy.ndarray of seq.dtype, shape=(L, D) or (N, L, D)
    """
    if isinstance(seq, str):
        codes = ascii_codes(seq, "seq")
        k_alpha = 256
    elif isinstance(seq, np.ndarray) and seq.ndim == 2:
        n_value = decode_one_hot(seq, "seq")[1] if seq.shape[1] == 4 else 0.0
        codes = _one_hot_to_tokens(seq)
        k_alpha = seq.shape[1] + 1
    else:
        raise ValueError("Expected string or one-hot encoded array")
    if rng is None:
        rng = legacy_random_state(seed)
    count = num_shufs if num_shufs else 1
    out = np.empty((count, codes.shape[0]), dtype=np.uint8)
    if codes.shape[0] == 0:
        warnings.warn("empty sequence: returning empty copies", CremeFastWarning, stacklevel=2)
    else:
        warn_if_degenerate(codes, "sequence")
        creme_shuffle_into(codes, count, rng, out, 0, k_alpha=k_alpha)
    if isinstance(seq, str):
        strings = [row.tobytes().decode("ascii") for row in out]
        return strings if num_shufs else strings[0]
    result = _tokens_to_one_hot(out, seq.shape[1], seq.dtype, n_value)
    return result if num_shufs else result[0]
