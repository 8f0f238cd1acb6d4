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
    expected = ref.higher_order_interaction_test(model, x, copy.deepcopy(tiles), optimization,
                                                 num_shuffle=3, num_rounds=3)
    original = copy.deepcopy(tiles)
    got = fast.higher_order_interaction_test(model, x, tiles, optimization, num_shuffle=3,
                                             num_rounds=3, rng=np.random.RandomState(13),
                                             batch_size=3)
    assert tiles == original  # the caller's list is left alone
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
    for e, g in zip(expected["all_mutants"], got["all_mutants"]):
        close(e, g)


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


def test_helpers_and_tiles():
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
