"""Dinucleotide shuffles of token arrays.

Three modes share one Euler-path kernel:

``"creme"``
    Reproduces creme-nn 0.2.5's ``creme.shuffle.dinuc_shuffle`` (the deeplift
    algorithm) bit for bit when both draw from the same
    ``numpy.random.RandomState``: the same ``rng.permutation`` calls in the
    same order, and several shuffles in one call build on each other as in
    the reference. Only the permutations come from Python (a handful of calls
    per shuffle); the walk is native.
``"fast"``
    The same algorithm driven by the native xoshiro256** generator. Shuffle
    ``i`` of a call uses stream ``stream + i`` of ``seed``, so results do not
    depend on how shuffles are split into calls, batches or threads.
``"uniform"``
    Draws uniformly among all sequences with the same dinucleotide counts and
    the same first (hence last) token: a random last-exit arborescence
    (Altschul & Erickson 1985; Kandel et al. 1996) by Wilson's algorithm.
    The deeplift rule keeps every token's last successor in place and so
    reaches only part of those sequences (tangermeme issue #27). Same
    randomness contract as ``"fast"``.

Every mode keeps all 25 dinucleotide counts (N included), the first and last
token and everything outside the shuffled region.
"""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from creme_fast import _native
from creme_fast._threads import run_chunked
from creme_fast._validate import as_tokens, check_int, check_region, check_seed, fresh_seed
from creme_fast.errors import CremeFastWarning

__all__ = ["ShuffleMode", "dinuc_shuffle", "legacy_random_state", "resolve_seed"]

ShuffleMode = Literal["creme", "fast", "uniform"]
_SEEDED_MODES = {"fast": _native.SHUFFLE_FAST, "uniform": _native.SHUFFLE_UNIFORM}
_K_TOKENS = 5


def resolve_seed(seed: int | None, rng: object = None) -> int:
    """The native seed for a call: ``seed``, else one drawn from ``rng``, else fresh entropy.

    Parameters
    ----------
    seed : int or None
        Non-negative integer below 2**64.
    rng : numpy.random.Generator or numpy.random.RandomState, optional
        Used only when ``seed`` is None; one 63-bit draw.

    Returns
    -------
    int
    """
    if seed is not None:
        return check_seed(seed)
    if rng is None:
        return fresh_seed()
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    if isinstance(rng, np.random.RandomState):
        return int(rng.randint(0, 2**63, dtype=np.int64))
    raise TypeError(f"rng must be a numpy Generator or RandomState, got {type(rng).__name__}")


def legacy_random_state(seed: int | None) -> np.random.RandomState:
    """``numpy.random.RandomState(seed)``, with a clear error for a seed it cannot take.

    Parameters
    ----------
    seed : int or None
        None draws fresh entropy; otherwise an integer in [0, 2**32).

    Returns
    -------
    numpy.random.RandomState
    """
    if seed is None:
        return np.random.RandomState()
    seed = check_int(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed {seed} is too large: creme-nn's shuffle draws from "
                         "numpy.random.RandomState, whose seed must be < 2**32")
    return np.random.RandomState(seed)


def warn_if_degenerate(region: np.ndarray, where: str, stacklevel: int = 3) -> None:
    """Warn when ``region`` (non-empty) admits a single arrangement: shuffles are copies."""
    if region.shape[0] < 3 or region.min() == region.max():
        what = "is too short" if region.shape[0] < 3 else "holds a single token"
        warnings.warn(f"{where} {what}: it has only one arrangement with the same "
                      "dinucleotide counts, so every shuffle is a copy",
                      CremeFastWarning, stacklevel=stacklevel + 1)


def dinuc_shuffle(tokens: np.ndarray, num_shuffles: int = 1, *, start: int = 0,
                  end: int | None = None, mode: ShuffleMode = "fast",
                  seed: int | None = None, rng: object = None, stream: int = 0,
                  n_threads: int = 1) -> np.ndarray:
    """Dinucleotide-shuffle a region of a token sequence, several times at once.

    Parameters
    ----------
    tokens : numpy.ndarray of uint8, shape=(L,)
        Tokens A=0 C=1 G=2 T=3 N=4.
    num_shuffles : int, default=1
        Number of shuffled copies to return.
    start, end : int, default=0 and None (the end)
        The region ``[start, end)`` to shuffle; the rest is copied unchanged.
    mode : {"fast", "uniform", "creme"}, default="fast"
        Algorithm and randomness source (see the module docstring).
    seed : int, optional
        ``"fast"``/``"uniform"``: the native seed (below 2**64). ``"creme"``:
        used as ``RandomState(seed)`` when ``rng`` is None. Seed 0 is a seed.
    rng : numpy.random.RandomState or numpy.random.Generator, optional
        ``"creme"``: the stream the permutations are drawn from, advanced
        exactly as creme-nn advances it. Other modes: draws one seed when
        ``seed`` is None. With neither, the shuffles are not reproducible.
    stream : int, default=0
        ``"fast"``/``"uniform"``: shuffle ``i`` uses native stream ``stream + i``.
    n_threads : int, default=1
        Threads for ``"fast"``/``"uniform"``; results do not depend on it.

    Returns
    -------
    numpy.ndarray of uint8, shape=(num_shuffles, L)

    Warns
    -----
    CremeFastWarning
        When the region is shorter than 3 or holds a single token: the only
        arrangement is the region itself, and the copies are returned.
    """
    tokens = as_tokens(tokens, ndim=(1,))
    num_shuffles = check_int(num_shuffles, "num_shuffles", minimum=0)
    n_threads = check_int(n_threads, "n_threads", minimum=1)
    stream = check_seed(stream, "stream")
    start, end = check_region(start, end, tokens.shape[0])
    if mode not in ("creme", "fast", "uniform"):
        raise ValueError(f"mode must be 'creme', 'fast' or 'uniform', got {mode!r}")
    out = np.empty((num_shuffles, tokens.shape[0]), dtype=np.uint8)
    out[:] = tokens
    region = tokens[start:end]
    if region.shape[0] == 0:
        warnings.warn(f"region [{start}, {end}) is empty; returning copies",
                      CremeFastWarning, stacklevel=2)
        return out
    warn_if_degenerate(region, f"region [{start}, {end})")
    if num_shuffles == 0:
        return out
    if mode == "creme":
        if rng is None:
            rng = legacy_random_state(seed)
        creme_shuffle_into(region, num_shuffles, rng, out, start, k_alpha=_K_TOKENS)
        return out
    native_seed = resolve_seed(seed, rng)
    kind = _SEEDED_MODES[mode]

    def work(begin: int, stop: int) -> None:
        _native.shuffle_seeded(region, kind, native_seed, stream + begin,
                               out[begin:stop], start)

    run_chunked(work, num_shuffles, n_threads)
    return out


def creme_shuffle_into(codes: np.ndarray, num_shuffles: int, rng: object, out: np.ndarray,
                       offset: int, *, k_alpha: int) -> None:
    """creme-nn's dinucleotide shuffle of ``codes`` into ``out[i, offset:offset + n]``.

    Parameters
    ----------
    codes : numpy.ndarray of uint8, shape=(n,)
        Codes below ``k_alpha``. creme-nn iterates over the distinct codes in
        ascending order (``numpy.unique``); so does this function.
    num_shuffles : int
        Shuffles to draw; each builds on the edge order the previous one left,
        as in creme-nn.
    rng : numpy.random.RandomState
        A plain ``RandomState`` is drawn from in the kernel (same draws as its
        ``permutation``); any other object with creme-nn's ``permutation(n)``
        is called from Python, one call per distinct code per shuffle.
    out : numpy.ndarray of uint8, shape=(num_shuffles, L)
    offset : int
    k_alpha : int
        Alphabet size (5 for tokens, 256 for raw ASCII codes).
    """
    n = codes.shape[0]
    present = np.flatnonzero(np.bincount(codes, minlength=k_alpha))
    offsets, edges = _native.edge_table(codes, k_alpha)
    first = int(codes[0])
    bit_generator = getattr(rng, "_bit_generator", None)
    if type(rng) is np.random.RandomState and bit_generator is not None:
        # the same legacy draws, made in the kernel under the generator's lock
        with bit_generator.lock:
            _native.creme_shuffle_bitgen(bit_generator.capsule, first, n, k_alpha, offsets,
                                         edges, present.astype(np.uint8),
                                         out[:num_shuffles], offset)
        return
    out_degree = np.diff(offsets)
    perm_len = np.zeros(k_alpha, dtype=np.int64)
    perm_len[present] = np.maximum(out_degree[present] - 1, 0)
    perm_offsets = np.zeros(k_alpha + 1, dtype=np.intp)
    np.cumsum(perm_len, out=perm_offsets[1:])
    for i in range(num_shuffles):
        # same calls, same order as creme-nn: one permutation per distinct code
        perms = [np.asarray(rng.permutation(int(out_degree[c]) - 1), dtype=np.int64)
                 for c in present]
        flat = np.concatenate(perms) if perms else np.zeros(0, dtype=np.int64)
        _native.permute_and_walk(first, n, k_alpha, offsets, edges, perm_offsets, flat,
                                 out[i, offset:offset + n])
