"""Encoding, decoding, reverse complement and one-hot."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from creme_fast.sequence import decode, encode, from_one_hot, one_hot, reverse_complement

DNA = st.text(alphabet="ACGTNacgtn", max_size=300)


@given(DNA)
def test_encode_decode_round_trip(seq):
    tokens = encode(seq)
    assert tokens.dtype == np.uint8
    assert decode(tokens) == seq.upper()
    assert np.array_equal(encode(seq.encode("ascii")), tokens)


@given(st.lists(st.integers(0, 4), max_size=300))
def test_one_hot_round_trip(values):
    tokens = np.array(values, dtype=np.uint8)
    for dtype in (np.float32, np.float16, np.float64, np.uint8):
        x = one_hot(tokens, dtype=dtype)
        assert x.dtype == dtype and x.shape == (len(values), 4)
        expected = np.eye(5, 4, dtype=dtype)[tokens]
        assert np.array_equal(x, expected)
        assert np.array_equal(from_one_hot(x), tokens)


def test_encode_table():
    assert encode("ACGTNacgtn").tolist() == [0, 1, 2, 3, 4] * 2


def test_encode_rejects_bad_character_with_position():
    with pytest.raises(ValueError, match=r"'X' at position 3"):
        encode("ACGXT")
    with pytest.raises(ValueError, match=r"'é' at position 2"):
        encode("ACé")


def test_encode_iupac_option():
    with pytest.raises(ValueError, match="iupac='n'"):
        encode("ACRT")
    assert encode("ACRYSWKMBDHVryswkmbdhvT", iupac="n").tolist() == [0, 1] + [4] * 20 + [3]
    with pytest.raises(ValueError, match="'-' at position 1"):
        encode("A-", iupac="n")


def test_reverse_complement():
    tokens = encode("AACGTN")
    assert decode(reverse_complement(tokens)) == "NACGTT"
    batch = np.stack([tokens, encode("GGGTTT")])
    rc = reverse_complement(batch)
    assert decode(rc[1]) == "AAACCC"
    assert np.array_equal(reverse_complement(rc), batch)


def test_one_hot_into_caller_buffer_slice():
    tokens = encode("ACGTN" * 4).reshape(2, 10)
    batch = np.full((4, 10, 4), 7, dtype=np.float32)
    result = one_hot(tokens, out=batch[1:3])
    assert np.shares_memory(result, batch)
    assert np.all(batch[0] == 7) and np.all(batch[3] == 7)
    assert np.array_equal(batch[1:3], np.eye(5, 4, dtype=np.float32)[tokens])


def test_one_hot_buffer_errors():
    tokens = encode("ACGT")
    with pytest.raises(ValueError, match="shape"):
        one_hot(tokens, out=np.empty((5, 4), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        one_hot(tokens, out=np.empty((4, 4), np.int32))
    with pytest.raises(ValueError, match="contiguous"):
        one_hot(tokens, out=np.empty((4, 8), np.float32)[:, ::2])
    with pytest.raises(ValueError, match=r"invalid token 9 at index \(2,\)"):
        one_hot(np.array([0, 1, 9], dtype=np.uint8))


def test_from_one_hot_names_bad_row():
    x = one_hot(encode("ACGTA"))
    x[3, 1] = 1  # two hot entries
    with pytest.raises(ValueError, match=r"not one-hot at position \(3,\)"):
        from_one_hot(x)
    y = one_hot(encode("ACGTA")).astype(np.float64)
    y[1, 1] = 0.5
    with pytest.raises(ValueError, match=r"position \(1,\)"):
        from_one_hot(y)
    with pytest.raises(ValueError, match="shape"):
        from_one_hot(np.zeros((3, 5)))


def test_from_one_hot_bool_and_batch():
    tokens = encode("ACGTNNAC").reshape(2, 4)
    x = one_hot(tokens, dtype=np.uint8).astype(bool)
    assert np.array_equal(from_one_hot(x), tokens)


def test_tokens_validation():
    with pytest.raises(TypeError, match="encode strings"):
        reverse_complement("ACGT")
    with pytest.raises(ValueError, match="tokens 0..4"):
        one_hot(np.array([0, 7], dtype=np.int64))
