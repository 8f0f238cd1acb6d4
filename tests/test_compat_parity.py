"""creme_fast.compat equals creme-nn 0.2.5 test by test, with the same random stream."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import random_tokens
from creme import creme as ref
from creme import shuffle as ref_shuffle
from toy_models import ConvToy

import creme_fast.compat as fast
from creme_fast.errors import CremeFastWarning
from creme_fast.sequence import one_hot

L = 2000
RTOL = 1e-5


@pytest.fixture
def model():
    return ConvToy(seq_length=L)


@pytest.fixture
def x():
    rs = np.random.RandomState(3)
    return one_hot(random_tokens(rs, L, n_runs=2), dtype=np.float64)


@pytest.fixture
def stream(monkeypatch):
    """The reference's dinuc_shuffle draws from one RandomState (seeded calls: their own)."""
    original = ref_shuffle.dinuc_shuffle
    state = {"rng": np.random.RandomState(0)}

    def drawing(seq, num_shufs=None, rng=None, seed=None):
        source = np.random.RandomState(seed) if seed is not None else state["rng"]
        return original(seq, num_shufs, rng=source)

    monkeypatch.setattr(ref_shuffle, "dinuc_shuffle", drawing)

    def reset(seed):
        state["rng"] = np.random.RandomState(seed)
        return np.random.RandomState(seed)

    return reset


def close(a, b):
    """Equal to 1e-5 relative; near zero (a std of equal values, say) the floor is 1e-5 of
    the array's scale, since the engine stores predictions as float32."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    np.testing.assert_allclose(b, a, rtol=RTOL, atol=RTOL * scale)


LAYOUTS = [(100, 2), (250, 3)]  # (tile size, shuffles)


def tiles_for(size):
    center, others = fast.set_tile_range(L, size)
    return center, others


@pytest.mark.parametrize("tile_size,num_shuffle", LAYOUTS)
@pytest.mark.parametrize("batch_size", [1, 7])
def test_context_dependence(model, x, stream, tile_size, num_shuffle, batch_size):
    center, _ = tiles_for(tile_size)
    for mean in (True, False):
        rng = stream(11)
        expected = ref.context_dependence_test(model, x, center, num_shuffle, mean=mean)
        got = fast.context_dependence_test(model, x, center, num_shuffle, mean=mean, rng=rng,
                                           batch_size=batch_size)
        for e, g in zip(expected, got):
            close(e, g)


def test_context_swap(model, x):
    rs = np.random.RandomState(9)
    targets = np.stack([one_hot(random_tokens(rs, L), dtype=np.float64) for _ in range(3)])
    center, _ = tiles_for(200)
    close(ref.context_swap_test(model, x, targets, center),
          fast.context_swap_test(model, x, targets, center, batch_size=2))


@pytest.mark.parametrize("tile_size,num_shuffle", LAYOUTS)
@pytest.mark.parametrize("batch_size", [1, 16])
def test_necessity(model, x, stream, tile_size, num_shuffle, batch_size):
    _, tiles = tiles_for(tile_size)
    tiles = tiles[:5]
    rng = stream(5)
    expected = ref.necessity_test(model, x, tiles, num_shuffle, mean=False, return_seqs=True)
    got = fast.necessity_test(model, x, tiles, num_shuffle, mean=False, return_seqs=True,
                              rng=rng, batch_size=batch_size)
    for e, g in zip(expected, got):
        close(e, g)
    stream(6)
    expected = ref.necessity_test(model, x, tiles, num_shuffle)
    got = fast.necessity_test(model, x, tiles, num_shuffle, rng=np.random.RandomState(6))
    for e, g in zip(expected, got):
        close(e, g)


def test_generate_tile_shuffles(x, stream):
    _, tiles = tiles_for(150)
    stream(4)
    expected = ref.generate_tile_shuffles(x, tiles[:3], 4)
    got = fast.generate_tile_shuffles(x, tiles[:3], 4, rng=np.random.RandomState(4))
    assert got.dtype == expected.dtype
    close(expected, got)


@pytest.mark.parametrize("tile_size,num_shuffle", LAYOUTS)
def test_sufficiency(model, x, stream, tile_size, num_shuffle):
    center, tiles = tiles_for(tile_size)
    tiles = tiles[:4]
    for mean in (True, False):
        stream(8)
        expected = ref.sufficiency_test(model, x, center, tiles, num_shuffle, mean=mean,
                                        return_seqs=True)
        got = fast.sufficiency_test(model, x, center, tiles, num_shuffle, mean=mean,
                                    return_seqs=True, rng=np.random.RandomState(8), batch_size=5)
        assert len(expected) == len(got)
        for e, g in zip(expected, got):
            close(e, g)


@pytest.mark.parametrize("seeded", [False, True])
def test_distance(model, x, stream, seeded):
    center, tiles = tiles_for(100)
    positions = [t[0] for t in tiles[::3]]
    for mean in (True, False):
        stream(2)
        expected = ref.distance_test(model, x, center, tiles[2], positions, 3, mean=mean,
                                     seed=seeded)
        got = fast.distance_test(model, x, center, tiles[2], positions, 3, mean=mean,
                                 seed=seeded, rng=np.random.RandomState(2), batch_size=6)
        assert expected.keys() == got.keys()
        for key in expected:
            close(expected[key], got[key])


@pytest.mark.parametrize("optimization", [np.argmin, np.argmax])
def test_higher_order(model, x, stream, optimization):
    _, tiles = tiles_for(200)
    tiles = tiles[:4]
    stream(13)
    # 3 shuffles: with 2, both are equally far from their mean and the carried sequence
    # is decided by a float tie (see the compat module docstring)
    ref_tiles = copy.deepcopy(tiles)
    expected = ref.higher_order_interaction_test(model, x, ref_tiles, optimization,
                                                 num_shuffle=3, num_rounds=3)
    got = fast.higher_order_interaction_test(model, x, tiles, optimization, num_shuffle=3,
                                             num_rounds=3, rng=np.random.RandomState(13),
                                             batch_size=3)
    assert len(tiles) == 1 and tiles == ref_tiles  # selected tiles leave the caller's list
    assert expected.keys() == got.keys()
    for r in expected:
        assert expected[r]["selected_tile"] == got[r]["selected_tile"]
        for key in ("initial_pred", "preds", "selected_mean_pred"):
            close(expected[r][key], got[r][key])


def test_multiplicity(model, x, stream):
    center, tiles = tiles_for(100)
    cre = tiles[3]
    positions = [list(t) for t in tiles[::2]]
    stream(21)
    expected = ref.multiplicity_test(model, x, center, cre, x[cre[0]:cre[1]], list(positions), 3,
                                     3, np.argmax)
    got = fast.multiplicity_test(model, x, center, cre, x[cre[0]:cre[1]], list(positions), 3, 3,
                                 np.argmax, rng=np.random.RandomState(21), batch_size=4)
    assert expected["selected_tile_order"] == got["selected_tile_order"]
    for key in ("only_tss_pred", "tss_and_cre_pred", "best_tss_signal"):
        close(expected[key], got[key])
        assert np.asarray(got[key]).dtype == np.asarray(expected[key]).dtype == np.float64
    for e, g in zip(expected["all_mutants"], got["all_mutants"]):
        close(e, g)
        assert g.dtype == e.dtype == np.float64


def _prune_inputs(model, x, stream, tile):
    center, tiles = tiles_for(200)
    stream(30)
    controls = ref_shuffle.dinuc_shuffle(x, 3)  # patched: draws from the stream
    controls[:, center[0]:center[1]] = x[center[0]:center[1]]
    start, end = tiles[tile]
    with_cre = controls.copy()
    with_cre[:, start:end] = x[start:end]
    return controls, model.predict(with_cre).mean(), start, end


# the toy model's CREs move the mean output by about 0.2%, hence thresholds near 1
@pytest.mark.parametrize("tile,cre_type,thresholds", [(4, "enhancer", [0.999, 0.998]),
                                                      (6, "silencer", [1.0005, 1.001])])
def test_prune_sequence(model, x, stream, tile, cre_type, thresholds):
    controls, mut, start, end = _prune_inputs(model, x, stream, tile)
    expected = ref.prune_sequence(model, x, controls, mut, start, end, [100, 20],
                                  thresholds, 1.0, [1, 2], cre_type=cre_type)
    got = fast.prune_sequence(model, x, controls, mut, start, end, [100, 20], thresholds, 1.0,
                              [1, 2], cre_type=cre_type, batch_size=4)
    assert expected.keys() == got.keys()
    for window in expected:
        assert len(expected[window]["scores"]) >= 1
        close(expected[window]["scores"], got[window]["scores"])
        close(expected[window]["bps"], got[window]["bps"])
        close(expected[window]["all_removed_tiles"], got[window]["all_removed_tiles"])
        close(np.array(expected[window]["insert_coords"]), np.array(got[window]["insert_coords"]))


def test_prune_sequence_that_prunes_everything(model, x, stream):
    """The reference raises once no sub-tile is left; compat stops with none kept."""
    controls, mut, start, end = _prune_inputs(model, x, stream, 5)
    with pytest.raises(ValueError):
        ref.prune_sequence(model, x, controls, mut, start, end, [100, 20], [0.999, 0.998], 1.0,
                           [1, 2])
    got = fast.prune_sequence(model, x, controls, mut, start, end, [100, 20], [0.999, 0.998],
                              1.0, [1, 2])
    assert len(got[20]["insert_coords"]) == 0


@pytest.fixture
def ref_utils(monkeypatch):
    """creme-nn's creme.utils, whose module imports kipoiseq and logomaker (not installed
    here; set_tile_range uses neither)."""
    import importlib
    import sys
    import types

    for name in ("kipoiseq", "logomaker"):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.Interval = object  # an annotation in creme.utils
            monkeypatch.setitem(sys.modules, name, stub)
    return importlib.import_module("creme.utils")


def test_helpers_and_tiles(ref_utils):
    pred_wt = np.array([[2.0, 4.0], [1.0, 3.0]])
    pred_mut = np.array([[1.0, 1.0], [2.0, 6.0]])
    close(ref.context_effect_on_tss(pred_wt, pred_mut),
          fast.context_effect_on_tss(pred_wt, pred_mut))
    close(ref.fold_change_over_control(pred_wt[0], pred_mut, 1),
          fast.fold_change_over_control(pred_wt[0], pred_mut, 1))
    close(ref.normalized_tile_effect(pred_wt[0], pred_mut, pred_wt, 0),
          fast.normalized_tile_effect(pred_wt[0], pred_mut, pred_wt, 0))
    center, others = fast.set_tile_range(196_608, 5000)
    assert center == [95_804, 100_804] and len(others) == 38
    assert others[0] == [804, 5804] and others[-1] == [190_804, 195_804]
    for length, window in [(196_608, 5000), (2000, 100), (2001, 250), (1000, 333), (7, 2)]:
        ref_center, ref_others = ref_utils.set_tile_range(length, window)
        got_center, got_others = fast.set_tile_range(length, window)
        assert got_center == ref_center and got_others == ref_others
        assert [type(v) for v in got_center] == [type(v) for v in ref_center]
        assert {type(v) for t in got_others for v in t} == \
            {type(v) for t in ref_others for v in t} == {np.int64}
    tiles = [[0, 1], [1, 2]]
    fast.remove_tss_tile(tiles, 0)
    assert tiles == [[1, 2]]


def test_batching_cuts_model_calls(x, stream):
    """The point of the engine: one call per batch, not per mutant."""
    model_ref, model_fast = ConvToy(seq_length=L), ConvToy(seq_length=L)
    _, tiles = tiles_for(100)
    stream(1)
    ref.necessity_test(model_ref, x, tiles[:6], 4)
    fast.necessity_test(model_fast, x, tiles[:6], 4, rng=np.random.RandomState(1), batch_size=8)
    assert model_ref.calls == 1 + 24
    assert model_fast.calls == 1 + 3


# ---------------------------------------------------------------------------
# N written as 0.25 rows (creme-nn's one_hot_encode), and tiles past the end
# ---------------------------------------------------------------------------

# no tile of either layout (100 or 250 bp tiles at 2,000 bp) touches these
N_OUTSIDE_TILES = [(0, 40), (1960, 2000)]


@pytest.fixture
def x_quarter():
    """A window padded with N at both ends, as creme-nn writes it: rows of four 0.25."""
    rs = np.random.RandomState(7)
    x = one_hot(random_tokens(rs, L), dtype=np.float64)
    for start, end in N_OUTSIDE_TILES:
        x[start:end] = 0.25
    return x


def test_model_sees_quarter_rows(model, x_quarter):
    """The equality tests below can tell 0.25 rows from zero rows."""
    zeros = np.where(np.all(x_quarter == 0.25, axis=-1, keepdims=True), 0.0, x_quarter)
    assert not np.allclose(model.predict(x_quarter[None]), model.predict(zeros[None]),
                           rtol=1e-3)
    shuffled = x_quarter.copy()
    shuffled[100:300] = x_quarter[100:300][::-1]
    assert not np.allclose(model.predict(x_quarter[None]), model.predict(shuffled[None]),
                           rtol=1e-3)


@pytest.mark.parametrize("tile_size,num_shuffle", LAYOUTS)
def test_necessity_with_quarter_n(model, x_quarter, stream, tile_size, num_shuffle):
    _, tiles = tiles_for(tile_size)
    tiles = tiles[:3] + tiles[-2:]  # both ends
    rng = stream(15)
    expected = ref.necessity_test(model, x_quarter, tiles, num_shuffle, mean=False,
                                  return_seqs=True)
    got = fast.necessity_test(model, x_quarter, tiles, num_shuffle, mean=False,
                              return_seqs=True, rng=rng, batch_size=4)
    for e, g in zip(expected, got):
        close(e, g)
    assert np.all(got[2][..., :40, :] == 0.25)  # N handed back as the caller wrote it


def test_generate_tile_shuffles_with_quarter_n(x_quarter, stream):
    _, tiles = tiles_for(250)
    stream(16)
    expected = ref.generate_tile_shuffles(x_quarter, tiles, 3)
    got = fast.generate_tile_shuffles(x_quarter, tiles, 3, rng=np.random.RandomState(16))
    np.testing.assert_array_equal(got, expected)


def test_context_swap_with_quarter_n(model, x, x_quarter):
    center, _ = tiles_for(200)
    close(ref.context_swap_test(model, x_quarter, x_quarter[None], center),
          fast.context_swap_test(model, x_quarter, x_quarter[None], center))
    # the zero-row N of x and the 0.25 rows of x_quarter in one call: N reach the model as 0.25
    got = fast.context_swap_test(model, x, x_quarter[None], center)
    expected_input = x_quarter.copy()
    expected_input[center[0]:center[1]] = x[center[0]:center[1]]
    expected_input[np.all(expected_input == 0, axis=-1)] = 0.25
    close(model.predict(expected_input[None]), got)


@pytest.mark.parametrize("optimization", [np.argmin, np.argmax])
def test_higher_order_with_quarter_n(model, x_quarter, stream, optimization):
    _, tiles = tiles_for(250)
    stream(17)
    ref_tiles = copy.deepcopy(tiles)
    expected = ref.higher_order_interaction_test(model, x_quarter, ref_tiles, optimization,
                                                 num_shuffle=3, num_rounds=2)
    got = fast.higher_order_interaction_test(model, x_quarter, tiles, optimization,
                                             num_shuffle=3, num_rounds=2,
                                             rng=np.random.RandomState(17))
    assert tiles == ref_tiles
    for r in expected:
        assert expected[r]["selected_tile"] == got[r]["selected_tile"]
        for key in ("initial_pred", "preds", "selected_mean_pred"):
            close(expected[r][key], got[r][key])


def test_prune_sequence_with_quarter_n(model, x_quarter, stream):
    center, tiles = tiles_for(200)
    stream(31)
    controls = np.stack([x_quarter] * 3)
    for n in range(3):  # shuffle only between the N ends, so both sides see them alike
        controls[n, 40:1960] = ref_shuffle.dinuc_shuffle(x_quarter[40:1960])
    controls[:, center[0]:center[1]] = x_quarter[center[0]:center[1]]
    start, end = tiles[6]
    with_cre = controls.copy()
    with_cre[:, start:end] = x_quarter[start:end]
    mut = model.predict(with_cre).mean()
    expected = ref.prune_sequence(model, x_quarter, controls, mut, start, end, [100, 20],
                                  [0.999, 0.998], 1.0, [1, 2])
    got = fast.prune_sequence(model, x_quarter, controls, mut, start, end, [100, 20],
                              [0.999, 0.998], 1.0, [1, 2], batch_size=4)
    for window in expected:
        assert len(expected[window]["scores"]) >= 1
        close(expected[window]["scores"], got[window]["scores"])
        close(expected[window]["all_removed_tiles"], got[window]["all_removed_tiles"])
        close(np.array(expected[window]["insert_coords"]), np.array(got[window]["insert_coords"]))


def test_quarter_n_inside_a_shuffled_tile_stays_n(model, x_quarter):
    """creme-nn shuffles a 0.25 row as T; compat shuffles it as N (documented)."""
    x = x_quarter.copy()
    x[500:530] = 0.25
    _, pred_mut, seqs = fast.necessity_test(model, x, [[450, 650]], 3, mean=False,
                                            return_seqs=True, rng=np.random.RandomState(0))
    quarter = np.all(seqs == 0.25, axis=-1)  # (1, 3, L)
    assert np.all(quarter.sum(axis=-1) == 30 + 80)
    assert np.all(np.isin(seqs, (0.0, 1.0, 0.25)))
    assert not np.array_equal(seqs[0, 0, 450:650], x[450:650])


# tiles running past the end: clipped as creme-nn's numpy slicing clips them, with a warning

def test_necessity_clips_like_the_reference(model, x, stream):
    tiles = [[1900, 2100], [100, 200]]
    stream(18)
    expected = ref.necessity_test(model, x, tiles, 2, mean=False, return_seqs=True)
    with pytest.warns(CremeFastWarning, match=r"tiles\[0\] \[1900, 2100\) runs past the end "
                                              r"of the 2,000 bp sequence"):
        got = fast.necessity_test(model, x, tiles, 2, mean=False, return_seqs=True,
                                  rng=np.random.RandomState(18))
    for e, g in zip(expected, got):
        close(e, g)


def test_generate_tile_shuffles_and_sufficiency_clip(model, x, stream):
    center, _ = tiles_for(100)
    stream(19)
    expected = ref.generate_tile_shuffles(x, [[1950, 2050]], 2)
    with pytest.warns(CremeFastWarning, match="tile_set"):
        got = fast.generate_tile_shuffles(x, [[1950, 2050]], 2, rng=np.random.RandomState(19))
    np.testing.assert_array_equal(got, expected)
    stream(20)
    expected = ref.sufficiency_test(model, x, center, [[1900, 2300]], 2, mean=False)
    with pytest.warns(CremeFastWarning):
        got = fast.sufficiency_test(model, x, center, [[1900, 2300]], 2, mean=False,
                                    rng=np.random.RandomState(20))
    for e, g in zip(expected, got):
        close(e, g)
    stream(21)
    expected = ref.context_dependence_test(model, x, [1800, 2200], 2, mean=False)
    with pytest.warns(CremeFastWarning, match="tile_pos"):
        got = fast.context_dependence_test(model, x, [1800, 2200], 2, mean=False,
                                           rng=np.random.RandomState(21))
    for e, g in zip(expected, got):
        close(e, g)


def test_tiles_that_cannot_be_clipped_raise_in_user_terms(model, x):
    center, tiles = tiles_for(100)
    with pytest.raises(ValueError, match=r"tiles\[0\] \[2100, 2200\) starts past the end"):
        fast.necessity_test(model, x, [[2100, 2200]], 2)
    with pytest.raises(ValueError, match=r"tiles\[0\] \[-5, 100\) is not a tile"):
        fast.necessity_test(model, x, [[-5, 100]], 2)
    # a fixed-width tile placed where it does not fit: the reference fails inside numpy
    with pytest.raises(ValueError):
        ref.distance_test(model, x, center, tiles[2], [1950], 2)
    with pytest.raises(ValueError, match=r"test_positions\[1\]: a 100 bp tile placed at 1,950 "
                                         r"does not fit in the 2,000 bp sequence"):
        fast.distance_test(model, x, center, tiles[2], [0, 1950], 2)
    with pytest.raises(ValueError, match=r"test_coords\[0\]"):
        fast.multiplicity_test(model, x, center, tiles[3], x[tiles[3][0]:tiles[3][1]],
                               [[1950, 2050]], 2, 1, np.argmax)


# ---------------------------------------------------------------------------
# creme.shuffle's helpers
# ---------------------------------------------------------------------------

def test_shuffle_helpers_equal_the_reference(x):
    seq = x[:300]
    np.testing.assert_array_equal(fast.shuffle.one_hot_to_tokens(seq),
                                  ref_shuffle.one_hot_to_tokens(seq))
    assert fast.shuffle.one_hot_to_tokens(seq).dtype == ref_shuffle.one_hot_to_tokens(seq).dtype
    tokens = ref_shuffle.one_hot_to_tokens(seq)
    expected = ref_shuffle.tokens_to_one_hot(tokens, 4)
    got = fast.shuffle.tokens_to_one_hot(tokens, 4)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    chars = ref_shuffle.string_to_char_array("ACGTNacgt")
    got_chars = fast.shuffle.string_to_char_array("ACGTNacgt")
    assert got_chars.dtype == chars.dtype
    np.testing.assert_array_equal(got_chars, chars)
    assert fast.shuffle.char_array_to_string(chars) == "ACGTNacgt"
    np.random.seed(3)
    expected = ref_shuffle.random_shuffle(seq)
    np.random.seed(3)
    np.testing.assert_array_equal(fast.shuffle.random_shuffle(seq), expected)
    np.testing.assert_array_equal(fast.shuffle.random_shuffle(seq, rng=np.random.RandomState(3)),
                                  expected)
    with pytest.raises(ValueError, match="token 5 at index 1"):
        fast.shuffle.tokens_to_one_hot(np.array([0, 5]), 4)
    with pytest.raises(ValueError, match="not an ASCII code"):
        fast.shuffle.char_array_to_string(np.array([65, -3], dtype=np.int8))


def test_dinuc_shuffle_reads_quarter_rows_as_n(x_quarter):
    """The reference rejects nothing and shuffles a 0.25 row as T; compat keeps it N."""
    got = fast.shuffle.dinuc_shuffle(x_quarter, 3, rng=np.random.RandomState(0))
    quarter = np.all(got == 0.25, axis=-1)
    assert np.all(quarter.sum(axis=-1) == 80)
    assert np.all(quarter[:, 0])  # the first token is kept, and it is N
    tokens = fast.shuffle.one_hot_to_tokens(x_quarter)
    assert np.all(tokens[:40] == 4)
    # without 0.25 rows the two agree bit for bit
    plain = x_quarter[40:1960]
    np.testing.assert_array_equal(
        fast.shuffle.dinuc_shuffle(plain, 2, rng=np.random.RandomState(1)),
        ref_shuffle.dinuc_shuffle(plain, 2, rng=np.random.RandomState(1)))
