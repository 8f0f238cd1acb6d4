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
from creme_fast.errors import CremeFastWarning
from creme_fast.sequence.shuffle import creme_shuffle_into, legacy_random_state, warn_if_degenerate
from creme_fast.sequence.tokens import from_one_hot, one_hot

__all__ = ["dinuc_shuffle"]

_NATIVE_ONE_HOT = (np.float64, np.float32, np.float16, np.uint8)


def _one_hot_to_tokens(seq: np.ndarray) -> np.ndarray:
    """(L, D) one-hot -> tokens 0..D, D for an all-zero row (the reference's rule)."""
    if seq.shape[1] == 4:
        return from_one_hot(seq)
    ones = seq == 1
    if not np.all(ones | (seq == 0)) or np.any(ones.sum(axis=1) > 1):
        bad = int(np.flatnonzero(~np.all(ones | (seq == 0), axis=1) | (ones.sum(axis=1) > 1))[0])
        raise ValueError(f"one-hot input is not one-hot at position {bad}: {seq[bad].tolist()}")
    tokens = np.full(seq.shape[0], seq.shape[1], dtype=np.uint8)
    rows, cols = np.nonzero(ones)
    tokens[rows] = cols
    return tokens


def _tokens_to_one_hot(tokens: np.ndarray, depth: int, dtype: np.dtype) -> np.ndarray:
    if depth == 4 and dtype in _NATIVE_ONE_HOT:
        return one_hot(tokens, dtype=dtype)
    table = np.eye(depth + 1, depth, dtype=dtype)
    return table[tokens]


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
    result = _tokens_to_one_hot(out, seq.shape[1], seq.dtype)
    return result if num_shufs else result[0]
