"""Splicing a batch of mutants from bases and edits."""
import numpy as np
import pytest
from conftest import dinuc_counts, random_tokens

from creme_fast.sequence import (
    OP_COPY,
    OP_SHUFFLE_FAST,
    OP_SHUFFLE_UNIFORM,
    EditList,
    dinuc_shuffle,
    splice,
)


def test_context_style_mutants_equal_step_by_step_construction(rs):
    """Shuffle everything, then restore the TSS tile: equals shuffle + numpy copy."""
    length, tss = 3000, (1400, 1600)
    wt = random_tokens(rs, length, n_runs=2)
    edits = EditList()
    tile = edits.source(wt[tss[0]:tss[1]])
    for row in range(6):
        edits.shuffle(row, 0, length, stream=row)
        edits.copy(row, tss[0], tss[1], tile)
    batch = splice(wt, *edits.build(), seed=5)
    expected = dinuc_shuffle(wt, 6, mode="fast", seed=5)
    expected[:, tss[0]:tss[1]] = wt[tss[0]:tss[1]]
    assert np.array_equal(batch, expected)


def test_necessity_style_region_shuffles(rs):
    wt = random_tokens(rs, 2000)
    tiles = [(0, 500), (500, 1000), (1500, 2000)]
    edits = EditList()
    for t, (start, end) in enumerate(tiles):
        for n in range(3):
            edits.shuffle(t * 3 + n, start, end, stream=100 + t * 3 + n, mode="uniform")
    batch = splice(wt, *edits.build(), seed=1, n_rows=9)
    for t, (start, end) in enumerate(tiles):
        for n in range(3):
            row = batch[t * 3 + n]
            expected = dinuc_shuffle(wt, 1, start=start, end=end, mode="uniform", seed=1,
                                     stream=100 + t * 3 + n)[0]
            assert np.array_equal(row, expected)
            assert np.array_equal(dinuc_counts(row[start:end]), dinuc_counts(wt[start:end]))


def test_multiple_bases_and_insert(rs):
    bases = np.stack([random_tokens(rs, 1000) for _ in range(3)])
    cre = random_tokens(rs, 100)
    edits = EditList()
    src = edits.source(cre)
    edits.copy(0, 200, 300, src)
    edits.copy(2, 800, 900, src)
    edits.copy(2, 10, 60, src + 50)  # a part of the pool
    batch = splice(bases, *edits.build(), base_index=np.array([2, 0, 1]))
    expected = bases[[2, 0, 1]].copy()
    expected[0, 200:300] = cre
    expected[2, 800:900] = cre
    expected[2, 10:60] = cre[50:]
    assert np.array_equal(batch, expected)


def test_batch_and_thread_invariance(rs):
    wt = random_tokens(rs, 4000, n_runs=2)
    rows = 20
    starts = rs.randint(0, 3000, rows)
    edits = np.array([[r, OP_SHUFFLE_FAST, s, s + 1000, 7 * r + 1] for r, s in enumerate(starts)])
    whole = splice(wt, edits, seed=3)
    threaded = splice(wt, edits, seed=3, n_threads=4)
    # the same mutants in a different batch (rows 10..19 as rows 0..9)
    second = edits[10:].copy()
    second[:, 0] -= 10
    part = splice(wt, second, seed=3)
    shuffled_order = splice(wt, edits[rs.permutation(rows)], seed=3)
    assert np.array_equal(whole, threaded)
    assert np.array_equal(whole[10:], part)
    assert np.array_equal(whole, shuffled_order)


def test_reused_out_buffer(rs):
    wt = random_tokens(rs, 500)
    buffer = np.full((4, 500), 9, dtype=np.uint8)
    edits = np.array([[1, OP_SHUFFLE_UNIFORM, 0, 500, 0]])
    result = splice(wt, edits, out=buffer, n_rows=4, seed=2)
    assert result is buffer
    assert np.array_equal(buffer[[0, 2, 3]], np.tile(wt, (3, 1)))
    assert not np.array_equal(buffer[1], wt)


@pytest.mark.parametrize("edit,match", [
    ([5, OP_COPY, 0, 10, 0], r"edit 0 .*row outside \[0, 2\)"),
    ([0, 9, 0, 10, 0], "unknown op"),
    ([0, OP_COPY, 50, 40, 0], "not inside a sequence of length 100"),
    ([0, OP_COPY, 90, 101, 0], "not inside"),
    ([0, OP_COPY, 0, 30, 0], "outside the pool of 20 tokens"),
    ([1, OP_SHUFFLE_FAST, 0, 30, -1], "stream must be >= 0"),
])
def test_bad_edits_are_named(rs, edit, match):
    wt = random_tokens(rs, 100)
    pool = random_tokens(rs, 20)
    with pytest.raises(ValueError, match=match):
        splice(wt, np.array([edit]), pool, n_rows=2)


def test_bad_arguments(rs):
    wt = random_tokens(rs, 100)
    with pytest.raises(ValueError, match="shape \\(E, 5\\)"):
        splice(wt, np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"base_index\[1\] = 3"):
        splice(wt, np.zeros((0, 5), dtype=np.int64), base_index=np.array([0, 3]))
    with pytest.raises(ValueError, match="out must be"):
        splice(wt, np.zeros((0, 5), dtype=np.int64), n_rows=2, out=np.empty((2, 99), np.uint8))
