# cython: language_level=3
"""Dinucleotide-shuffle kernels on dense codes (uint8, alphabet size K <= 256).

A sequence ``t[0..n)`` is an Euler path in the multigraph whose vertices are
the codes and whose edges are the n - 1 adjacent pairs. Every kernel
rearranges, per vertex, the order in which its out-edges are taken, then walks
the graph from ``t[0]``. The walk keeps every dinucleotide count and the first
and last code.

All functions here trust their input and never touch Python objects.
Work buffers are owned by the caller.
"""
from libc.stdint cimport uint8_t, uint64_t, int64_t
from libc.string cimport memcpy, memset

from libc.stdint cimport uint32_t
from _rng cimport rng_t, rng_seed, rng_bounded, rng_next, rng_lemire


cdef enum:
    MODE_FAST = 1
    MODE_UNIFORM = 2


cdef inline void build_edges(const uint8_t* t, Py_ssize_t n, int k_alpha,
                             Py_ssize_t* offsets, Py_ssize_t* fill,
                             uint8_t* edges) noexcept nogil:
    """Group the successor of every position but the last by its code.

    ``offsets`` has k_alpha + 1 entries; vertex c's out-edges (targets) are
    ``edges[offsets[c]:offsets[c + 1]]`` in sequence order.
    """
    cdef Py_ssize_t j
    cdef int c
    for c in range(k_alpha + 1):
        offsets[c] = 0
    for j in range(n - 1):
        offsets[t[j] + 1] += 1
    for c in range(k_alpha):
        offsets[c + 1] += offsets[c]
    for c in range(k_alpha):
        fill[c] = offsets[c]
    for j in range(n - 1):
        edges[fill[t[j]]] = t[j + 1]
        fill[t[j]] += 1


cdef inline void walk(uint8_t first, Py_ssize_t n, int k_alpha,
                      const Py_ssize_t* offsets, const uint8_t* edges,
                      uint8_t* out) noexcept nogil:
    """Follow the out-edges in their current order, starting at ``first``."""
    cdef const uint8_t* ptr[256]
    cdef Py_ssize_t j
    cdef int c
    cdef uint8_t cur = first
    cdef uint8_t nxt
    for c in range(k_alpha):
        ptr[c] = edges + offsets[c]
    out[0] = cur
    for j in range(1, n):
        nxt = ptr[cur][0]
        ptr[cur] += 1
        out[j] = nxt
        cur = nxt


cdef inline void walk2(uint8_t first, Py_ssize_t n, const Py_ssize_t* offsets,
                       const uint8_t* edges_a, const uint8_t* edges_b,
                       uint8_t* out_a, uint8_t* out_b) noexcept nogil:
    """Two independent 5-token walks in one loop: each walk is a chain of
    dependent loads, so interleaving two roughly halves the time per walk."""
    cdef const uint8_t* pa[5]
    cdef const uint8_t* pb[5]
    cdef Py_ssize_t j
    cdef int c
    cdef uint8_t a = first, b = first, na, nb
    for c in range(5):
        pa[c] = edges_a + offsets[c]
        pb[c] = edges_b + offsets[c]
    out_a[0] = a
    out_b[0] = b
    for j in range(1, n):
        na = pa[a][0]
        nb = pb[b][0]
        pa[a] += 1
        pb[b] += 1
        out_a[j] = na
        out_b[j] = nb
        a = na
        b = nb


cdef inline void fisher_yates(rng_t* r, uint8_t* seg, Py_ssize_t m) noexcept nogil:
    """Uniform in-place permutation of ``seg[0..m)``; two swaps per 64-bit draw."""
    cdef Py_ssize_t i, j
    cdef uint64_t x
    cdef uint8_t tmp
    i = m - 1
    while i > 1:
        x = rng_next(r)
        j = rng_lemire(r, <uint32_t>(x >> 32), <uint32_t>(i + 1))
        tmp = seg[i]
        seg[i] = seg[j]
        seg[j] = tmp
        j = rng_lemire(r, <uint32_t>x, <uint32_t>i)
        tmp = seg[i - 1]
        seg[i - 1] = seg[j]
        seg[j] = tmp
        i -= 2
    if i == 1:
        j = rng_bounded(r, 2)
        tmp = seg[1]
        seg[1] = seg[j]
        seg[j] = tmp


cdef inline void order_fast(rng_t* r, int k_alpha, const Py_ssize_t* offsets,
                            uint8_t* edges) noexcept nogil:
    """deeplift / creme-nn rule: permute all out-edges but the last one."""
    cdef int c
    cdef Py_ssize_t m
    for c in range(k_alpha):
        m = offsets[c + 1] - offsets[c]
        if m > 2:
            fisher_yates(r, edges + offsets[c], m - 1)


cdef inline void order_uniform(rng_t* r, int k_alpha, uint8_t root,
                               const Py_ssize_t* offsets, uint8_t* edges,
                               uint8_t* in_tree, Py_ssize_t* last_edge) noexcept nogil:
    """Altschul-Erickson with a uniform random last-exit arborescence.

    Wilson's loop-erased random walk picks, for every vertex but the root
    (the last code), the out-edge taken last, so that these edges form an
    arborescence towards the root drawn uniformly among the arborescences of
    the labelled multigraph; the other out-edges are then permuted uniformly.
    By the BEST theorem every Euler path, hence every sequence with the same
    dinucleotide counts and first code, is then equally likely.
    """
    cdef int c
    cdef uint8_t u
    cdef Py_ssize_t m, k
    cdef uint8_t tmp
    for c in range(k_alpha):
        in_tree[c] = 0
    in_tree[root] = 1
    for c in range(k_alpha):
        if offsets[c + 1] == offsets[c]:
            continue
        u = <uint8_t>c
        while not in_tree[u]:
            k = rng_bounded(r, <unsigned int>(offsets[u + 1] - offsets[u]))
            last_edge[u] = k
            u = edges[offsets[u] + k]
        u = <uint8_t>c
        while not in_tree[u]:
            in_tree[u] = 1
            u = edges[offsets[u] + last_edge[u]]
    for c in range(k_alpha):
        m = offsets[c + 1] - offsets[c]
        if m == 0:
            continue
        if c == root:
            fisher_yates(r, edges + offsets[c], m)
        else:
            k = offsets[c] + last_edge[c]
            tmp = edges[k]
            edges[k] = edges[offsets[c] + m - 1]
            edges[offsets[c] + m - 1] = tmp
            fisher_yates(r, edges + offsets[c], m - 1)


cdef inline void pair_counts5(const uint8_t* t, Py_ssize_t n,
                              Py_ssize_t* counts) noexcept nogil:
    """5 x 5 counts of adjacent token pairs; four interleaved histograms keep
    the increments free of store-to-load dependency chains."""
    cdef Py_ssize_t h[100]
    cdef Py_ssize_t j = 0
    cdef int c
    for c in range(100):
        h[c] = 0
    while j + 4 < n:
        h[t[j] * 5 + t[j + 1]] += 1
        h[25 + t[j + 1] * 5 + t[j + 2]] += 1
        h[50 + t[j + 2] * 5 + t[j + 3]] += 1
        h[75 + t[j + 3] * 5 + t[j + 4]] += 1
        j += 4
    while j < n - 1:
        h[t[j] * 5 + t[j + 1]] += 1
        j += 1
    for c in range(25):
        counts[c] = h[c] + h[25 + c] + h[50 + c] + h[75 + c]


cdef inline void fill_edges5(const Py_ssize_t* counts, const uint8_t* last_target,
                             bint keep_last, Py_ssize_t* offsets,
                             uint8_t* edges) noexcept nogil:
    """Lay out each token's out-edges grouped by target; with ``keep_last``
    the successor of the token's last occurrence goes to the end of its group
    (the deeplift rule keeps it there)."""
    cdef int c, d
    cdef Py_ssize_t m, pos = 0
    for c in range(5):
        offsets[c] = pos
        m = 0
        for d in range(5):
            m += counts[c * 5 + d]
        if m == 0:
            continue
        for d in range(5):
            memset(edges + pos, d, counts[c * 5 + d])
            pos += counts[c * 5 + d]
        if keep_last:
            # move one copy of last_target[c] to the end of the group
            d = last_target[c]
            edges[offsets[c] + _first_of(counts, c, d)] = edges[pos - 1]
            edges[pos - 1] = d
    offsets[5] = pos


cdef inline Py_ssize_t _first_of(const Py_ssize_t* counts, int c, int d) noexcept nogil:
    """Index, within token c's group, of the first edge to target d."""
    cdef Py_ssize_t k = 0
    cdef int e
    for e in range(d):
        k += counts[c * 5 + e]
    return k


cdef inline void last_successors5(const uint8_t* t, Py_ssize_t n, const Py_ssize_t* counts,
                                  uint8_t* last_target) noexcept nogil:
    """Successor of each token's last occurrence among t[0..n-1)."""
    cdef int c, d, todo = 0
    cdef uint8_t seen[5]
    cdef Py_ssize_t j
    for c in range(5):
        seen[c] = 1
        for d in range(5):
            if counts[c * 5 + d]:
                seen[c] = 0
        if not seen[c]:
            todo += 1
    j = n - 2
    while todo and j >= 0:
        if not seen[t[j]]:
            seen[t[j]] = 1
            last_target[t[j]] = t[j + 1]
            todo -= 1
        j -= 1


cdef inline void prepare_seeded(const uint8_t* t, Py_ssize_t n, int mode,
                                uint64_t seed, uint64_t stream, Py_ssize_t* offsets,
                                uint8_t* edges, uint8_t* in_tree,
                                Py_ssize_t* last_edge) noexcept nogil:
    """Lay out and order the out-edges of tokens ``t[0..n)`` (n >= 3) for one
    shuffle from stream (seed, stream); ``walk`` then writes the shuffle.

    Buffers: offsets (6), edges (n), in_tree (5), last_edge (5).
    """
    cdef rng_t r
    cdef Py_ssize_t counts[25]
    cdef uint8_t last_target[5]
    rng_seed(&r, seed, stream)
    pair_counts5(t, n, counts)
    if mode == MODE_UNIFORM:
        fill_edges5(counts, last_target, False, offsets, edges)
        order_uniform(&r, 5, t[n - 1], offsets, edges, in_tree, last_edge)
    else:
        last_successors5(t, n, counts, last_target)
        fill_edges5(counts, last_target, True, offsets, edges)
        order_fast(&r, 5, offsets, edges)


cdef inline void shuffle_seeded(const uint8_t* t, Py_ssize_t n, int mode,
                                uint64_t seed, uint64_t stream, Py_ssize_t* offsets,
                                uint8_t* edges, uint8_t* in_tree,
                                Py_ssize_t* last_edge, uint8_t* out) noexcept nogil:
    """One shuffle of tokens ``t[0..n)`` (values 0..4) into ``out`` from
    stream (seed, stream). ``t`` and ``out`` may not overlap."""
    if n < 3:
        memcpy(out, t, n)
        return
    prepare_seeded(t, n, mode, seed, stream, offsets, edges, in_tree, last_edge)
    walk(t[0], n, 5, offsets, edges, out)
