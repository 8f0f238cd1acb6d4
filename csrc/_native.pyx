# cython: language_level=3
"""creme_fast._native: per-base kernels (private; use creme_fast.sequence).

Every ``def`` here releases the GIL around a ``noexcept nogil`` loop and
trusts its input: shapes, dtypes, contiguity and value ranges are checked by
the Python wrappers in :mod:`creme_fast.sequence`. Kernels that can meet bad
data report the first offending flat index (or -1) instead of raising, so the
wrapper can name it.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t, uint64_t
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.string cimport memcpy
from libc.stdlib cimport malloc, free

from _dinuc cimport MODE_FAST, MODE_UNIFORM, build_edges, walk, walk2, prepare_seeded
from _dinuc cimport shuffle_seeded as _shuffle_kernel

import numpy as np

cdef enum:
    _OP_COPY = 0
    _N_TOKEN = 4
    _INVALID = 255

OP_COPY = _OP_COPY
OP_SHUFFLE_FAST = MODE_FAST
OP_SHUFFLE_UNIFORM = MODE_UNIFORM
SHUFFLE_FAST = MODE_FAST
SHUFFLE_UNIFORM = MODE_UNIFORM
N_TOKEN = _N_TOKEN
INVALID = _INVALID

# ---------------------------------------------------------------------------
# encode / decode / reverse complement
# ---------------------------------------------------------------------------

cdef uint8_t[256] _ENCODE_STRICT
cdef uint8_t[256] _ENCODE_IUPAC
cdef uint8_t[5] _DECODE
cdef uint8_t[5] _COMPLEMENT


cdef int _init_tables() except -1:
    cdef int i, ch
    for i in range(256):
        _ENCODE_STRICT[i] = _INVALID
        _ENCODE_IUPAC[i] = _INVALID
    for i in range(5):
        ch = ord("ACGTN"[i])
        _ENCODE_STRICT[ch] = i
        _ENCODE_STRICT[ch + 32] = i
        _ENCODE_IUPAC[ch] = i
        _ENCODE_IUPAC[ch + 32] = i
        _DECODE[i] = ch
    for i in range(10):
        ch = ord("RYSWKMBDHV"[i])
        _ENCODE_IUPAC[ch] = _N_TOKEN
        _ENCODE_IUPAC[ch + 32] = _N_TOKEN
    _COMPLEMENT[0] = 3
    _COMPLEMENT[1] = 2
    _COMPLEMENT[2] = 1
    _COMPLEMENT[3] = 0
    _COMPLEMENT[4] = 4
    return 0


_init_tables()


def encode(const uint8_t[::1] src, uint8_t[::1] out, bint iupac_to_n):
    """ASCII bytes -> tokens. Returns -1, or the index of the first bad byte."""
    cdef Py_ssize_t i, n = src.shape[0], bad = -1
    cdef const uint8_t* table = &_ENCODE_STRICT[0]
    if iupac_to_n:
        table = &_ENCODE_IUPAC[0]
    cdef uint8_t v
    with nogil:
        for i in range(n):
            v = table[src[i]]
            out[i] = v
            if v == _INVALID and bad < 0:
                bad = i
    return bad


def decode(const uint8_t[::1] tokens, uint8_t[::1] out):
    """Tokens -> ASCII bytes ``ACGTN``. Returns -1 or the first token > 4."""
    cdef Py_ssize_t i, n = tokens.shape[0], bad = -1
    with nogil:
        for i in range(n):
            if tokens[i] > 4:
                if bad < 0:
                    bad = i
                out[i] = 63  # '?'
            else:
                out[i] = _DECODE[tokens[i]]
    return bad


def reverse_complement(const uint8_t[:, ::1] tokens, uint8_t[:, ::1] out):
    """Rows of tokens -> their reverse complements. Returns -1 or first bad flat index."""
    cdef Py_ssize_t b, i, n = tokens.shape[1], bad = -1
    cdef uint8_t v
    with nogil:
        for b in range(tokens.shape[0]):
            for i in range(n):
                v = tokens[b, n - 1 - i]
                if v > 4:
                    if bad < 0:
                        bad = b * n + (n - 1 - i)
                    v = 4
                out[b, i] = _COMPLEMENT[v]
    return bad


# ---------------------------------------------------------------------------
# one-hot
# ---------------------------------------------------------------------------

ctypedef fused onehot_t:
    uint64_t   # float64 bit patterns
    uint32_t   # float32 bit patterns
    uint16_t   # float16 bit patterns
    uint8_t


cdef inline Py_ssize_t _first_above(const uint8_t* tok, Py_ssize_t n, uint8_t limit) noexcept nogil:
    """Index of the first value > limit, or -1 (a vectorisable max first)."""
    cdef uint8_t top = 0
    cdef Py_ssize_t i
    for i in range(n):
        top = tok[i] if tok[i] > top else top
    if top <= limit:
        return -1
    for i in range(n):
        if tok[i] > limit:
            return i
    return -1


cdef inline void _one_hot_kernel(const uint8_t* tok, Py_ssize_t n,
                                 onehot_t* out, onehot_t one) noexcept nogil:
    # branch-free masks so the compiler vectorises the loop
    cdef Py_ssize_t i
    cdef onehot_t v
    for i in range(n):
        v = tok[i]
        out[4 * i] = (<onehot_t>(0) - <onehot_t>(v == 0)) & one
        out[4 * i + 1] = (<onehot_t>(0) - <onehot_t>(v == 1)) & one
        out[4 * i + 2] = (<onehot_t>(0) - <onehot_t>(v == 2)) & one
        out[4 * i + 3] = (<onehot_t>(0) - <onehot_t>(v == 3)) & one


def one_hot(const uint8_t[:, ::1] tokens, onehot_t[:, :, ::1] out, onehot_t one):
    """Tokens (B, L) -> one-hot (B, L, 4) written into ``out``; N -> zeros.

    ``out`` is an unsigned-integer view of the output dtype and ``one`` the
    bit pattern of 1 in it. Returns -1 or the first flat index holding a token
    > 4 (nothing is written then).
    """
    cdef Py_ssize_t n = tokens.shape[0] * tokens.shape[1]
    cdef Py_ssize_t bad
    if n == 0:
        return -1
    with nogil:
        bad = _first_above(&tokens[0, 0], n, 4)
        if bad < 0:
            _one_hot_kernel(&tokens[0, 0], n, &out[0, 0, 0], one)
    return bad


ctypedef fused dense_t:
    float
    double
    uint8_t


def from_one_hot(const dense_t[:, :, ::1] x, uint8_t[:, ::1] out):
    """One-hot (B, L, 4) -> tokens; all-zero row -> N.

    Returns -1 or the first flat row index that is not one-hot (every entry
    0 or 1, at most one 1).
    """
    cdef Py_ssize_t b, i, bad = -1
    cdef int c, hot, ones
    cdef dense_t v
    with nogil:
        for b in range(x.shape[0]):
            for i in range(x.shape[1]):
                hot = 4
                ones = 0
                for c in range(4):
                    v = x[b, i, c]
                    if v == 1:
                        hot = c
                        ones += 1
                    elif v != 0:
                        ones += 2
                if ones > 1 and bad < 0:
                    bad = b * x.shape[1] + i
                out[b, i] = hot
    return bad


# ---------------------------------------------------------------------------
# dinucleotide shuffle
# ---------------------------------------------------------------------------

cdef struct _work_t:
    Py_ssize_t* offsets
    Py_ssize_t* last_edge
    uint8_t* in_tree
    uint8_t* edges
    uint8_t* edges_b
    uint8_t* scratch


cdef int _work_alloc(_work_t* w, Py_ssize_t n) noexcept nogil:
    w.offsets = <Py_ssize_t*>malloc(6 * sizeof(Py_ssize_t))
    w.last_edge = <Py_ssize_t*>malloc(5 * sizeof(Py_ssize_t))
    w.in_tree = <uint8_t*>malloc(5)
    w.edges = <uint8_t*>malloc(n + 1)
    w.edges_b = <uint8_t*>malloc(n + 1)
    w.scratch = <uint8_t*>malloc(n + 1)
    if (w.offsets == NULL or w.last_edge == NULL or w.in_tree == NULL
            or w.edges == NULL or w.edges_b == NULL or w.scratch == NULL):
        return -1
    return 0


cdef void _work_free(_work_t* w) noexcept nogil:
    free(w.offsets)
    free(w.last_edge)
    free(w.in_tree)
    free(w.edges)
    free(w.edges_b)
    free(w.scratch)


def shuffle_seeded(const uint8_t[::1] codes, int mode, uint64_t seed,
                   uint64_t stream0, uint8_t[:, ::1] out, Py_ssize_t offset):
    """Shuffle ``codes`` once per row of ``out``; row i uses stream ``stream0 + i``.

    The shuffle is written to ``out[i, offset:offset + len(codes)]``; ``codes``
    are tokens 0..4 and may not overlap ``out``. Rows are walked in pairs.
    """
    cdef Py_ssize_t n = codes.shape[0], i = 0, rows = out.shape[0]
    cdef _work_t w
    if rows == 0 or n == 0:
        return
    with nogil:
        if _work_alloc(&w, n) != 0:
            _work_free(&w)
            with gil:
                raise MemoryError("dinucleotide shuffle work buffers")
        if n < 3:
            for i in range(rows):
                memcpy(&out[i, offset], &codes[0], n)
        else:
            while i + 1 < rows:
                prepare_seeded(&codes[0], n, mode, seed, stream0 + <uint64_t>i,
                               w.offsets, w.edges, w.in_tree, w.last_edge)
                prepare_seeded(&codes[0], n, mode, seed, stream0 + <uint64_t>(i + 1),
                               w.offsets, w.edges_b, w.in_tree, w.last_edge)
                walk2(codes[0], n, w.offsets, w.edges, w.edges_b,
                      &out[i, offset], &out[i + 1, offset])
                i += 2
            if i < rows:
                _shuffle_kernel(&codes[0], n, mode, seed, stream0 + <uint64_t>i,
                                w.offsets, w.edges, w.in_tree, w.last_edge, &out[i, offset])
        _work_free(&w)


def edge_table(const uint8_t[::1] codes, int k_alpha):
    """Out-edge table of ``codes``: (offsets (K + 1,) int64, targets (n - 1,) uint8)."""
    cdef Py_ssize_t n = codes.shape[0]
    offsets_arr = np.zeros(k_alpha + 1, dtype=np.intp)
    edges_arr = np.zeros(max(n - 1, 0) + 1, dtype=np.uint8)
    cursor_arr = np.zeros(k_alpha, dtype=np.intp)
    cdef Py_ssize_t[::1] offsets = offsets_arr
    cdef Py_ssize_t[::1] cursor = cursor_arr
    cdef uint8_t[::1] edges = edges_arr
    if n >= 1:
        with nogil:
            build_edges(&codes[0], n, k_alpha, &offsets[0], &cursor[0], &edges[0])
    return offsets_arr, edges_arr[: max(n - 1, 0)]


def permute_and_walk(uint8_t first, Py_ssize_t n, int k_alpha,
                     const Py_ssize_t[::1] offsets, uint8_t[::1] edges,
                     const Py_ssize_t[::1] perm_offsets, const int64_t[::1] perms,
                     uint8_t[::1] out):
    """creme-nn step: reorder each vertex's out-edges, then walk.

    For vertex c with m out-edges and a permutation p of range(m - 1)
    (``perms[perm_offsets[c]:perm_offsets[c + 1]]``), the new order is
    ``edges[:m - 1] = edges[p]`` with the last edge kept. ``edges`` is updated
    in place, so successive calls build on each other as creme-nn's do.
    """
    cdef Py_ssize_t c, k, m, base, pbase
    cdef uint8_t* tmp
    if n == 0:
        return
    with nogil:
        tmp = <uint8_t*>malloc(n + 1)
        for c in range(k_alpha):
            m = offsets[c + 1] - offsets[c]
            if m < 2:
                continue
            base = offsets[c]
            pbase = perm_offsets[c]
            for k in range(m - 1):
                tmp[k] = edges[base + perms[pbase + k]]
            memcpy(&edges[base], tmp, m - 1)
        walk(first, n, k_alpha, &offsets[0], &edges[0] if n > 1 else tmp, &out[0])
        free(tmp)


cdef extern from *:
    """
    /* NumPy's bitgen_t (numpy/random/bitgen.h): the documented C interface of
       every numpy.random bit generator since NumPy 1.17, declared here so the
       build does not need NumPy's headers. */
    typedef struct creme_fast_bitgen {
        void *state;
        uint64_t (*next_uint64)(void *st);
        uint32_t (*next_uint32)(void *st);
        double (*next_double)(void *st);
        uint64_t (*next_raw)(void *st);
    } creme_fast_bitgen_t;
    """
    ctypedef struct creme_fast_bitgen_t:
        void* state
        uint64_t (*next_uint64)(void* st) noexcept nogil
        uint32_t (*next_uint32)(void* st) noexcept nogil


cdef inline uint64_t _legacy_interval(creme_fast_bitgen_t* bg, uint64_t max_value) noexcept nogil:
    """NumPy's legacy ``random_interval``: masked rejection sampling in [0, max]."""
    cdef uint64_t mask = max_value, value
    if max_value == 0:
        return 0
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    if max_value <= 0xFFFFFFFFUL:
        value = bg.next_uint32(bg.state) & mask
        while value > max_value:
            value = bg.next_uint32(bg.state) & mask
    else:
        value = bg.next_uint64(bg.state) & mask
        while value > max_value:
            value = bg.next_uint64(bg.state) & mask
    return value


def creme_shuffle_bitgen(object capsule, uint8_t first, Py_ssize_t n, int k_alpha,
                         const Py_ssize_t[::1] offsets, uint8_t[::1] edges,
                         const uint8_t[::1] present, uint8_t[:, ::1] out, Py_ssize_t offset):
    """creme-nn's shuffles, drawing from a RandomState's bit generator directly.

    For each shuffle and each present code c (ascending), the reference calls
    ``rng.permutation(m - 1)`` (m = out-degree of c) and reorders c's first
    m - 1 out-edges by it. ``permutation`` is a Fisher-Yates shuffle of
    ``arange`` driven by NumPy's legacy ``random_interval``; applying the same
    swaps to the edges directly gives the same order from the same draws.
    The caller holds the generator's lock.
    """
    cdef creme_fast_bitgen_t* bg = <creme_fast_bitgen_t*>PyCapsule_GetPointer(capsule, "BitGenerator")
    cdef Py_ssize_t i, p, m, k, j
    cdef uint8_t* seg
    cdef uint8_t tmp
    if n == 0:
        return
    with nogil:
        for i in range(out.shape[0]):
            for p in range(present.shape[0]):
                m = offsets[present[p] + 1] - offsets[present[p]]
                if m < 3:
                    continue
                seg = &edges[offsets[present[p]]]
                k = m - 2
                while k > 0:
                    j = <Py_ssize_t>_legacy_interval(bg, <uint64_t>k)
                    tmp = seg[k]
                    seg[k] = seg[j]
                    seg[j] = tmp
                    k -= 1
            if n > 1:
                walk(first, n, k_alpha, &offsets[0], &edges[0], &out[i, offset])
            else:
                out[i, offset] = first


# ---------------------------------------------------------------------------
# splice: a batch of mutants from bases and edits
# ---------------------------------------------------------------------------

def splice(const uint8_t[:, ::1] bases, const int64_t[::1] base_index,
           const uint8_t[::1] pool, const int64_t[:, ::1] edits, uint64_t seed,
           uint8_t[:, ::1] out, Py_ssize_t row_begin, Py_ssize_t row_end,
           Py_ssize_t edit_begin, Py_ssize_t edit_end, Py_ssize_t max_region):
    """Materialise rows [row_begin, row_end) of a mutant batch.

    Each row starts as ``bases[base_index[row]]``; then the edits
    ``edits[edit_begin:edit_end]`` (columns: row, op, start, end, arg; sorted
    by row) are applied in order: OP_COPY writes ``pool[arg:arg + end - start]``
    into ``[start, end)``; OP_SHUFFLE_* dinucleotide-shuffles the current
    ``[start, end)`` of the row with stream ``(seed, arg)``.
    """
    cdef Py_ssize_t r, e, row, op, start, end, length
    cdef Py_ssize_t L = out.shape[1]
    cdef _work_t w
    if row_end <= row_begin:
        return
    with nogil:
        if _work_alloc(&w, max_region + 1) != 0:
            _work_free(&w)
            with gil:
                raise MemoryError("splice work buffers")
        for r in range(row_begin, row_end):
            memcpy(&out[r, 0], &bases[base_index[r], 0], L)
        for e in range(edit_begin, edit_end):
            row = edits[e, 0]
            op = edits[e, 1]
            start = edits[e, 2]
            end = edits[e, 3]
            length = end - start
            if length <= 0:
                continue
            if op == _OP_COPY:
                memcpy(&out[row, start], &pool[edits[e, 4]], length)
            else:
                memcpy(w.scratch, &out[row, start], length)
                _shuffle_kernel(w.scratch, length, <int>op, seed, <uint64_t>edits[e, 4],
                                w.offsets, w.edges, w.in_tree, w.last_edge, &out[row, start])
        _work_free(&w)
