"""Input validation shared by every public entry point.

Kernels in :mod:`creme_fast._native` trust their input; these helpers are
where a bad argument becomes a ``ValueError``/``TypeError`` that names it.
"""
from __future__ import annotations

import numbers

import numpy as np

N_TOKEN = 4
ALPHABET = "ACGTN"


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_seed(seed: object, name: str = "seed") -> int:
    """A seed for the native RNG: a non-negative integer below 2**64."""
    seed = check_int(seed, name, minimum=0)
    if seed >= 2**64:
        raise ValueError(f"{name} must be < 2**64, got {seed}")
    return seed


def fresh_seed() -> int:
    """A seed drawn from the operating system's entropy (non-reproducible)."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])


def ascii_codes(seq: str, name: str = "sequence") -> np.ndarray:
    """A str as uint8 ASCII codes; a non-ASCII character is named with its position."""
    try:
        return np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} has invalid character {seq[exc.start]!r} at position "
                         f"{exc.start}; expected A, C, G, T or N") from None


def first_bad_token(tokens: np.ndarray) -> int:
    """Flat index of the first token > 4, or -1."""
    bad = np.flatnonzero(tokens.reshape(-1) > N_TOKEN)
    return int(bad[0]) if bad.size else -1


def as_tokens(tokens: object, name: str = "tokens", *, ndim: tuple[int, ...] = (1, 2),
              check_values: bool = True) -> np.ndarray:
    """Validate a token array: uint8, values 0..4, C-contiguous.

    Parameters
    ----------
    tokens : array_like of uint8, shape=(L,) or (B, L)
        Tokens A=0 C=1 G=2 T=3 N=4.
    name : str, default="tokens"
        Argument name used in error messages.
    ndim : tuple of int, default=(1, 2)
        Accepted numbers of dimensions.
    check_values : bool, default=True
        Check that every value is <= 4.

    Returns
    -------
    numpy.ndarray of uint8
        The same data, C-contiguous (copied only if needed).
    """
    if isinstance(tokens, (str, bytes, bytearray)):
        raise TypeError(f"{name} must be a uint8 token array; encode strings with "
                        "creme_fast.sequence.encode first")
    arr = np.asarray(tokens)
    if arr.dtype != np.uint8:
        if arr.dtype.kind in "iu" and arr.size and (arr.min() < 0 or arr.max() > N_TOKEN):
            raise ValueError(f"{name} must hold tokens 0..4, found values in "
                             f"[{arr.min()}, {arr.max()}]")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer token array (uint8), got dtype "
                            f"{arr.dtype}; use creme_fast.sequence.from_one_hot for one-hot")
        arr = arr.astype(np.uint8)
    if arr.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimension(s), "
                         f"got shape {arr.shape}")
    arr = np.ascontiguousarray(arr)
    if check_values and arr.size:
        bad = first_bad_token(arr)
        if bad >= 0:
            where = np.unravel_index(bad, arr.shape)
            raise ValueError(f"{name} holds invalid token {arr.reshape(-1)[bad]} at index "
                             f"{tuple(int(i) for i in where)}; tokens are A=0 C=1 G=2 T=3 N=4")
    return arr


def check_region(start: object, end: object, length: int) -> tuple[int, int]:
    """Resolve ``[start, end)`` against a sequence of ``length``; ``end=None`` is the end."""
    start = check_int(start, "start", minimum=0)
    end = length if end is None else check_int(end, "end", minimum=0)
    if not start <= end <= length:
        raise ValueError(f"region [{start}, {end}) is not inside a sequence of length {length}")
    return start, end


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """A whole number >= ``minimum`` (a count: shuffles, rounds, copies, a batch size);
    a ValueError naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value}")
    return int(value)


def check_indices(values: object, size: int | None, name: str, what: str) -> list[int]:
    """A non-empty list of distinct indices ``0 <= i < size`` (``size`` None: not known
    yet, only ``i >= 0``); negative indices never wrap.

    Parameters
    ----------
    values : sequence of int
    size : int or None
        How many there are (e.g. the model's output bins).
    name : str
        The argument or option, for the message (``"bins"``, ``"--tracks"``).
    what : str
        What is indexed, plural (``"output bins"``, ``"tracks"``).

    Raises
    ------
    ValueError
        Naming ``name`` and the first bad value.
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a list of {what} indices, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: give at least one of the {what}, or None for all")
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise ValueError(f"{name} must hold whole numbers, got {v!r}")
        if v < 0 or (size is not None and v >= size):
            span = f"the model has {size} {what} (0..{size - 1})" if size is not None else (
                f"{what} count from 0")
            raise ValueError(f"{name} {v} is out of range: {span}")
    dup = sorted({int(v) for v in values if values.count(v) > 1})
    if dup:
        raise ValueError(f"{name} lists {what[:-1]} {dup[0]} more than once")
    return [int(v) for v in values]
