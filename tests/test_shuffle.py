"""Properties of every dinucleotide-shuffle mode."""
import warnings

import numpy as np
import pytest
from conftest import dinuc_counts, random_tokens
from hypothesis import given, settings
from hypothesis import strategies as st

from creme_fast.errors import CremeFastWarning
from creme_fast.sequence import dinuc_shuffle, encode

MODES = ["creme", "fast", "uniform"]


@st.composite
def token_regions(draw):
    length = draw(st.integers(3, 400))
    tokens = np.array(draw(st.lists(st.integers(0, 4), min_size=length, max_size=length)),
                      dtype=np.uint8)
    start = draw(st.integers(0, length - 3))
    end = draw(st.integers(start + 3, length))
    return tokens, start, end


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=60, deadline=None)
@given(case=token_regions(), seed=st.integers(0, 2**64 - 1), num=st.integers(1, 4))
def test_shuffle_keeps_counts_ends_and_flanks(mode, case, seed, num):
    tokens, start, end = case
    if mode == "creme":
        seed %= 2**32  # creme mode seeds numpy's RandomState
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CremeFastWarning)  # single-token regions
        out = dinuc_shuffle(tokens, num, start=start, end=end, mode=mode, seed=seed)
    assert out.shape == (num, tokens.shape[0]) and out.dtype == np.uint8
    region = tokens[start:end]
    expected = dinuc_counts(region)[0]
    for row in out:
        assert np.array_equal(dinuc_counts(row[start:end])[0], expected)
        assert row[start] == region[0] and row[end - 1] == region[-1]
        assert np.array_equal(row[:start], tokens[:start])
        assert np.array_equal(row[end:], tokens[end:])


@pytest.mark.parametrize("mode", ["fast", "uniform"])
def test_seeded_modes_are_batch_and_thread_invariant(mode, rs):
    tokens = random_tokens(rs, 5000, n_runs=3)
    whole = dinuc_shuffle(tokens, 12, mode=mode, seed=99)
    parts = np.concatenate([dinuc_shuffle(tokens, 5, mode=mode, seed=99, stream=0),
                            dinuc_shuffle(tokens, 7, mode=mode, seed=99, stream=5)])
    threaded = dinuc_shuffle(tokens, 12, mode=mode, seed=99, n_threads=3)
    assert np.array_equal(whole, parts)
    assert np.array_equal(whole, threaded)
    assert not np.array_equal(whole[0], whole[1])
    assert not np.array_equal(whole, dinuc_shuffle(tokens, 12, mode=mode, seed=100))


def test_creme_mode_same_seed_same_bits(rs):
    tokens = random_tokens(rs, 2000, n_runs=2)
    a = dinuc_shuffle(tokens, 4, mode="creme", seed=0)
    b = dinuc_shuffle(tokens, 4, mode="creme", rng=np.random.RandomState(0))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, dinuc_shuffle(tokens, 4, mode="creme", seed=1))


def test_seed_zero_is_a_seed(rs):
    tokens = random_tokens(rs, 500)
    assert np.array_equal(dinuc_shuffle(tokens, 2, seed=0), dinuc_shuffle(tokens, 2, seed=0))


def test_fast_stream_is_pinned():
    """A change to the native generator or the kernel's draw order must be deliberate."""
    tokens = encode("ACGTTGCAACGTAGCTAGCTAGGATCCGATNNACGATCGTAGCTAGCTTTAAACG")
    fast = dinuc_shuffle(tokens, 2, mode="fast", seed=2024)
    uniform = dinuc_shuffle(tokens, 2, mode="uniform", seed=2024)
    assert "".join("ACGTN"[t] for t in fast[0]) == PINNED_FAST
    assert "".join("ACGTN"[t] for t in uniform[1]) == PINNED_UNIFORM


PINNED_FAST = "AGCGGTTATAGCCAGTATCGTACTGAAATTAACTNNACTCGCGAGAGCTTACGCG"
PINNED_UNIFORM = "ATGCCGTCTAAGTACTCAGAGCGCGATTAACTATTACGCGTNNACGGAAGCTTAG"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seq", ["AC", "A", "AAAAAA", "NNNNN"])
def test_degenerate_regions_warn_and_copy(mode, seq):
    tokens = encode(seq)
    with pytest.warns(CremeFastWarning, match="only one arrangement"):
        out = dinuc_shuffle(tokens, 3, mode=mode, seed=1)
    assert np.array_equal(out, np.tile(tokens, (3, 1)))


def test_empty_region_warns():
    with pytest.warns(CremeFastWarning, match="empty"):
        out = dinuc_shuffle(encode("ACGTACGT"), 2, start=4, end=4, seed=1)
    assert np.array_equal(out[1], encode("ACGTACGT"))


def test_shuffle_argument_errors():
    tokens = encode("ACGTACGTAC")
    with pytest.raises(ValueError, match=r"region \[2, 11\)"):
        dinuc_shuffle(tokens, start=2, end=11)
    with pytest.raises(ValueError, match="mode"):
        dinuc_shuffle(tokens, mode="random")
    with pytest.raises(ValueError, match="num_shuffles"):
        dinuc_shuffle(tokens, -1)
    with pytest.raises(TypeError, match="seed"):
        dinuc_shuffle(tokens, seed=1.5)
    with pytest.raises(ValueError, match="seed must be < 2"):
        dinuc_shuffle(tokens, seed=2**64)
    with pytest.raises(ValueError, match="RandomState, whose seed must be < 2"):
        dinuc_shuffle(tokens, mode="creme", seed=2**32)
    with pytest.raises(ValueError, match=r"invalid token 8 at index \(1,\)"):
        dinuc_shuffle(np.array([0, 8, 1, 2], dtype=np.uint8))
