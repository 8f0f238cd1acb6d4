# cython: language_level=3
"""Inline, GIL-free random number generator shared by the native kernels.

xoshiro256** (Blackman & Vigna) seeded through splitmix64. A generator is
keyed by ``(seed, stream)``: stream ``i`` of a seed is independent of how many
other streams were drawn before it, which is what makes every result
independent of batch size and thread count.
"""
from libc.stdint cimport uint32_t, uint64_t


ctypedef struct rng_t:
    uint64_t s0
    uint64_t s1
    uint64_t s2
    uint64_t s3


cdef inline uint64_t _splitmix64_next(uint64_t* x) noexcept nogil:
    x[0] += <uint64_t>0x9E3779B97F4A7C15ULL
    cdef uint64_t z = x[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline void rng_seed(rng_t* r, uint64_t seed, uint64_t stream) noexcept nogil:
    """Key the generator by (seed, stream); distinct streams never collide."""
    cdef uint64_t x = seed
    cdef uint64_t k = _splitmix64_next(&x)
    # multiplication by an odd constant is a bijection mod 2**64
    x = k ^ (stream * <uint64_t>0xD1B54A32D192ED03ULL)
    r.s0 = _splitmix64_next(&x)
    r.s1 = _splitmix64_next(&x)
    r.s2 = _splitmix64_next(&x)
    r.s3 = _splitmix64_next(&x)
    if (r.s0 | r.s1 | r.s2 | r.s3) == 0:
        r.s0 = 1


cdef inline uint64_t _rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline uint64_t rng_next(rng_t* r) noexcept nogil:
    cdef uint64_t result = _rotl(r.s1 * 5, 7) * 9
    cdef uint64_t t = r.s1 << 17
    r.s2 ^= r.s0
    r.s3 ^= r.s1
    r.s1 ^= r.s2
    r.s0 ^= r.s3
    r.s2 ^= t
    r.s3 = _rotl(r.s3, 45)
    return result


cdef inline uint32_t rng_lemire(rng_t* r, uint32_t x, uint32_t bound) noexcept nogil:
    """Unbiased integer in [0, bound) from the 32 random bits ``x``; draws more
    only in the rare rejection case."""
    cdef uint64_t m = <uint64_t>x * <uint64_t>bound
    cdef uint32_t low = <uint32_t>m
    cdef uint32_t threshold
    if low < bound:
        threshold = (<uint32_t>(0 - bound)) % bound
        while low < threshold:
            x = <uint32_t>(rng_next(r) >> 32)
            m = <uint64_t>x * <uint64_t>bound
            low = <uint32_t>m
    return <uint32_t>(m >> 32)


cdef inline uint32_t rng_bounded(rng_t* r, uint32_t bound) noexcept nogil:
    """Unbiased integer in [0, bound), bound >= 1 (Lemire's method)."""
    return rng_lemire(r, <uint32_t>(rng_next(r) >> 32), bound)
