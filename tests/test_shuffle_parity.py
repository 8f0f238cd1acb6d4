"""`creme` mode and the compat layer equal creme-nn 0.2.5 bit for bit."""
import warnings

import numpy as np
import pytest
from conftest import random_tokens
from creme import shuffle as reference

from creme_fast.compat import shuffle as compat
from creme_fast.errors import CremeFastWarning
from creme_fast.sequence import dinuc_shuffle, from_one_hot, one_hot

LENGTHS = [1, 2, 3, 4, 7, 13, 64, 257, 1000, 5000]


def _cases():
    rs = np.random.RandomState(7)
    for length in LENGTHS:
        for variant in ("plain", "n_runs", "absent_base", "mostly_n"):
            if variant == "plain":
                tokens = random_tokens(rs, length)
            elif variant == "n_runs":
                tokens = random_tokens(rs, length, n_runs=3)
            elif variant == "absent_base":
                tokens = random_tokens(rs, length, absent=int(rs.randint(4)), n_runs=1)
            else:
                tokens = np.where(rs.rand(length) < 0.8, 4,
                                  rs.randint(0, 4, length)).astype(np.uint8)
            yield length, variant, tokens


@pytest.mark.parametrize("num_shufs", [None, 1, 5])
@pytest.mark.parametrize("length,variant,tokens", list(_cases()),
                         ids=[f"{n}-{v}" for n, v, _ in _cases()])
def test_creme_mode_equals_reference(length, variant, tokens, num_shufs):
    x = np.eye(5, 4)[tokens]  # float64, like creme-nn's callers
    expected = reference.dinuc_shuffle(x, num_shufs, rng=np.random.RandomState(length))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CremeFastWarning)
        got = dinuc_shuffle(tokens, num_shufs or 1, mode="creme",
                            rng=np.random.RandomState(length))
        got_compat = compat.dinuc_shuffle(x, num_shufs, rng=np.random.RandomState(length))
    assert np.array_equal(from_one_hot(expected.reshape(-1, length, 4)), got)
    assert got_compat.dtype == expected.dtype and got_compat.shape == expected.shape
    assert np.array_equal(got_compat, expected)


def test_stream_stays_in_step_across_calls(rs):
    """Calls interleaved on one RandomState leave it where creme-nn leaves it."""
    tokens = random_tokens(rs, 3000, n_runs=2)
    x = one_hot(tokens, dtype=np.float64)
    ref_rng, our_rng = np.random.RandomState(11), np.random.RandomState(11)
    for start, end in [(0, 3000), (100, 600), (2500, 2990), (0, 3000)]:
        expected = reference.dinuc_shuffle(x[start:end], 2, rng=ref_rng)
        got = dinuc_shuffle(tokens, 2, start=start, end=end, mode="creme", rng=our_rng)
        assert np.array_equal(from_one_hot(expected), got[:, start:end])
    assert ref_rng.randint(2**31) == our_rng.randint(2**31)


def test_region_matches_reference_on_slice(rs):
    tokens = random_tokens(rs, 2000, n_runs=1)
    x = one_hot(tokens, dtype=np.float64)
    expected = reference.dinuc_shuffle(x[500:1500], 3, rng=np.random.RandomState(2))
    got = dinuc_shuffle(tokens, 3, start=500, end=1500, mode="creme",
                        rng=np.random.RandomState(2))
    assert np.array_equal(from_one_hot(expected), got[:, 500:1500])


@pytest.mark.parametrize("num_shufs", [None, 3])
def test_compat_strings_equal_reference(monkeypatch, num_shufs):
    # creme-nn's string path calls ndarray.tostring(), removed in NumPy 2; patch that
    # helper so the reference's algorithm can be compared on strings.
    monkeypatch.setattr(reference, "char_array_to_string",
                        lambda arr: arr.tobytes().decode("ascii"))
    seq = "ACGTNNACGTTGCAAGGCTNacgtACGGGTTTAACCNNNTGCA" * 5
    expected = reference.dinuc_shuffle(seq, num_shufs, rng=np.random.RandomState(4))
    got = compat.dinuc_shuffle(seq, num_shufs, rng=np.random.RandomState(4))
    assert got == expected


def test_compat_seed_zero_is_deterministic(rs):
    x = one_hot(random_tokens(rs, 400), dtype=np.float64)
    assert np.array_equal(compat.dinuc_shuffle(x, 2, seed=0), compat.dinuc_shuffle(x, 2, seed=0))
    assert np.array_equal(compat.dinuc_shuffle(x, 2, seed=0),
                          reference.dinuc_shuffle(x, 2, rng=np.random.RandomState(0)))


def test_compat_other_depth_and_errors(rs):
    tokens = rs.randint(0, 6, 300)
    x = np.eye(6, 5, dtype=np.float32)[tokens]
    expected = reference.dinuc_shuffle(x, 2, rng=np.random.RandomState(3))
    assert np.array_equal(compat.dinuc_shuffle(x, 2, rng=np.random.RandomState(3)), expected)
    bad = x.copy()
    bad[10, :2] = 1
    with pytest.raises(ValueError, match="position 10"):
        compat.dinuc_shuffle(bad)
    with pytest.raises(ValueError, match="Expected string or one-hot"):
        compat.dinuc_shuffle(np.zeros(5))


class _DuckRandom:
    """Not a RandomState: takes the Python path that calls ``permutation``."""

    def __init__(self, seed):
        self._rs = np.random.RandomState(seed)
        self.calls = 0

    def permutation(self, n):
        self.calls += 1
        return self._rs.permutation(n)


def test_duck_typed_rng_takes_python_path_and_agrees(rs):
    tokens = random_tokens(rs, 3000, n_runs=2)
    duck = _DuckRandom(21)
    got = dinuc_shuffle(tokens, 3, mode="creme", rng=duck)
    expected = reference.dinuc_shuffle(one_hot(tokens, dtype=np.float64), 3,
                                       rng=np.random.RandomState(21))
    assert duck.calls == 3 * 5  # one permutation per distinct token per shuffle
    assert np.array_equal(got, from_one_hot(expected))
