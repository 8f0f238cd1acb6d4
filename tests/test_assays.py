"""The native CREME tests: same experiment as compat, invariances, engine failures."""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from conftest import random_tokens
from toy_models import ConvToy

import creme_fast.compat as compat
from creme_fast import assays
from creme_fast.pipeline import PipelineStats, PlanBuilder, run_plan
from creme_fast.runtime import CallablePredictor
from creme_fast.sequence import one_hot

L = 2000


@pytest.fixture
def toy():
    return ConvToy(seq_length=L)


@pytest.fixture
def predictor(toy):
    # creme-nn's tests compare raw predictions of every bin: the toy's readout is all of them
    return CallablePredictor(toy, tss_bins=list(range(L // toy.bin_size)))


@pytest.fixture
def loci():
    rs = np.random.RandomState(17)
    return np.stack([random_tokens(rs, L, n_runs=1) for _ in range(3)])


TILES = compat.set_tile_range(L, 200)


def test_native_necessity_equals_compat(predictor, toy, loci):
    center, tiles = TILES
    x = one_hot(loci[0], dtype=np.float64)
    wt, mean, _ = compat.necessity_test(toy, x, tiles, 3, rng=np.random.RandomState(4))
    native = assays.necessity(predictor, loci[0], tiles=tiles, num_shuffles=3, shuffle="creme",
                              rng=np.random.RandomState(4), verbose=False, batch_size=5)
    np.testing.assert_allclose(native.wt[0], wt[0], rtol=1e-5)
    np.testing.assert_allclose(native.mut[0].mean(axis=1), mean, rtol=1e-5)


def test_native_context_equals_compat(predictor, toy, loci):
    center, _ = TILES
    x = one_hot(loci[1], dtype=np.float64)
    wt, mean, std = compat.context_dependence_test(toy, x, center, 4,
                                                   rng=np.random.RandomState(9))
    native = assays.context_dependence(predictor, loci[1], tss_tile=center, num_shuffles=4,
                                       shuffle="creme", rng=np.random.RandomState(9),
                                       verbose=False)
    np.testing.assert_allclose(native.mut[0].mean(axis=0), mean, rtol=1e-5)
    np.testing.assert_allclose(native.mut[0].std(axis=0), std, rtol=1e-4, atol=1e-6)


def test_native_sufficiency_equals_compat(predictor, toy, loci):
    center, tiles = TILES
    x = one_hot(loci[2], dtype=np.float64)
    ref = compat.sufficiency_test(toy, x, center, tiles[:3], 2, mean=False,
                                  rng=np.random.RandomState(2))
    native = assays.sufficiency(predictor, loci[2], tiles=tiles[:3], tss_tile=center,
                                num_shuffles=2, shared_backgrounds=False, shuffle="creme",
                                rng=np.random.RandomState(2), verbose=False)
    np.testing.assert_allclose(native.mut[0], ref[1], rtol=1e-5)
    np.testing.assert_allclose(native.control[0], ref[2], rtol=1e-5)


def test_native_distance_equals_compat(predictor, toy, loci):
    center, tiles = TILES
    x = one_hot(loci[0], dtype=np.float64)
    positions = [t[0] for t in tiles[::2]]
    ref = compat.distance_test(toy, x, center, tiles[1], positions, 2, mean=False,
                               rng=np.random.RandomState(3))
    native = assays.distance(predictor, loci[0], tiles[1], positions=positions, tss_tile=center,
                             num_shuffles=2, shared_backgrounds=False, shuffle="creme",
                             rng=np.random.RandomState(3), verbose=False)
    np.testing.assert_allclose(native.control, ref["control"], rtol=1e-5)
    np.testing.assert_allclose(native.mut, ref["mut"], rtol=1e-5)


def test_native_higher_order_equals_compat(predictor, toy, loci):
    _, tiles = TILES
    x = one_hot(loci[1], dtype=np.float64)
    ref = compat.higher_order_interaction_test(toy, x, tiles[:4], np.argmin, num_shuffle=3,
                                               num_rounds=3, rng=np.random.RandomState(6))
    native = assays.higher_order(predictor, loci[1], tiles=tiles[:4], num_shuffles=3,
                                 num_rounds=3, shuffle="creme", rng=np.random.RandomState(6),
                                 verbose=False)
    assert [list(native.tiles[i]) for i in native.selected] == [ref[r]["selected_tile"]
                                                                for r in range(3)]
    np.testing.assert_allclose(native.observed, [ref[r]["selected_mean_pred"] for r in range(3)],
                               rtol=1e-5)


def test_context_swap_equals_compat(predictor, toy, loci):
    center, _ = TILES
    native = assays.context_swap(predictor, loci, tss_tile=center, verbose=False)
    for i in range(3):
        ref = compat.context_swap_test(toy, one_hot(loci[i], dtype=np.float64),
                                       one_hot(loci, dtype=np.float64), center)
        np.testing.assert_allclose(native.pred[i], ref, rtol=1e-5)
    # the diagonal is each sequence unchanged
    np.testing.assert_allclose(native.pred[1, 1], predictor.predict(one_hot(loci[1:2]))[0])


@pytest.mark.parametrize("test", ["context", "necessity", "sufficiency"])
def test_batch_size_and_locus_invariance(predictor, loci, test):
    run = {"context": assays.context_dependence, "necessity": assays.necessity,
           "sufficiency": assays.sufficiency}[test]
    kwargs = dict(num_shuffles=3, seed=5, verbose=False, tile_size=200)
    if test != "context":
        kwargs["tiles"] = TILES[1][:4]
    all_loci = run(predictor, loci, batch_size=7, locus_keys_=[10, 11, 12], **kwargs)
    alone = run(predictor, loci[1], batch_size=1, locus_keys_=[11], **kwargs)
    for name in ("wt", "mut"):
        np.testing.assert_array_equal(getattr(all_loci, name)[1], getattr(alone, name)[0])


def test_results_save_load_and_frames(predictor, loci, tmp_path):
    result = assays.necessity(predictor, loci[:2], tiles=TILES[1][:3], num_shuffles=2,
                              verbose=False)
    path = result.save(tmp_path / "necessity.npz")
    back = assays.NecessityResult.load(path)
    np.testing.assert_array_equal(back.mut, result.mut)
    assert back.seed == result.seed
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 2 * 3 * 3
    assert {"name", "tile", "track", "effect", "tile_start", "tss_offset"} <= set(frame.columns)
    assert back.settings == result.settings and back.settings["num_shuffles"] == 2
    with pytest.raises(ValueError, match="holds a necessity result"):
        assays.SufficiencyResult.load(path)


def test_every_assay_runs_and_frames(predictor, loci):
    center, tiles = TILES
    seq = loci[0]
    common = dict(num_shuffles=2, verbose=False, tss_tile=center)
    results = [
        assays.context_dependence(predictor, seq, **common),
        assays.context_swap(predictor, loci, tss_tile=center, verbose=False),
        assays.necessity(predictor, seq, tiles=tiles[:3], num_shuffles=2, verbose=False),
        assays.sufficiency(predictor, seq, tiles=tiles[:3], **common),
        assays.distance(predictor, seq, tiles[2], positions=[t[0] for t in tiles[:4]], **common),
        assays.higher_order(predictor, seq, tiles=tiles[:3], num_shuffles=2, verbose=False),
        assays.multiplicity(predictor, seq, tiles[2], positions=[t[0] for t in tiles[4:8]],
                            num_copies=2, **common),
        assays.fine_tile_search(predictor, seq, tiles[2], scales=(50, 10), thresholds=(0.5, 0.5),
                                n_batches=(1, 2), **common),
    ]
    for result in results:
        frame = result.to_frame()
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0, type(result).__name__


class Exploding:
    seq_length = L

    def __init__(self, bad_row):
        self.bad_row, self.seen = bad_row, 0

    def predict(self, x):
        out = np.ones((x.shape[0], 2, 1))
        if self.seen <= self.bad_row < self.seen + x.shape[0]:
            out[self.bad_row - self.seen, 1, 0] = np.nan
        self.seen += x.shape[0]
        return out


def test_nan_prediction_names_the_mutant(loci):
    predictor = CallablePredictor(Exploding(bad_row=7), tss_bins=[0, 1])
    with pytest.raises(ValueError, match=r"NaN or infinity for mutant 7 \(locus=0, tile=2, "
                                         r"shuffle=0\)"):
        assays.necessity(predictor, loci[0], tiles=TILES[1][:4], num_shuffles=3, verbose=False,
                         batch_size=4)


def test_producer_failure_surfaces_and_stops(predictor, loci):
    builder = PlanBuilder()
    base = builder.base(loci[0])
    builder.rows(20, base)
    plan = builder.build()
    original = plan.materialize
    calls = []

    def failing(begin, end, out=None):
        calls.append(begin)
        if begin >= 8:
            raise RuntimeError("disk on fire")
        return original(begin, end, out)

    plan.materialize = failing
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_plan(plan, predictor, batch_size=4, verbose=False)
    assert threading.active_count() == before  # the producer thread has ended
    assert max(calls) == 8


def test_consumer_failure_stops_the_producer(loci):
    class Failing:
        seq_length = L

        def predict(self, x):
            raise KeyboardInterrupt  # as Ctrl-C would

    builder = PlanBuilder()
    builder.rows(50, builder.base(loci[0]))
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        run_plan(builder.build(), CallablePredictor(Failing()), batch_size=2, verbose=False)
    assert threading.active_count() == before


def test_stats_and_selection(predictor, loci):
    stats = PipelineStats()
    result = assays.context_dependence(predictor, loci[0], num_shuffles=4, verbose=False,
                                       tracks=[2], bins=[9, 10], stats=stats, tss_tile=TILES[0])
    assert result.wt.shape == (1, 2, 1)
    assert stats.n_mutants == 5 and stats.model_s > 0 and stats.splice_s > 0
    assert 0 < stats.model_efficiency <= 1


def test_categories_and_interaction_classes():
    assert list(assays.categorize_context(np.array([0.99, 0.0, -0.5, 0.5]))) == [
        "enhancing", "neutral", "silencing", "other"]
    # wt 10, singles sum to a drop of 6: a joint drop of 8 is redundancy
    # (sub-additive), of 4 synergy (super-additive), of 6 additive
    classes = assays.classify_interaction(np.array([2.0, 6.0, 4.0]),
                                          np.array([4.0, 4.0, 4.0]), wt=10.0)
    assert list(classes) == ["sub-additive", "super-additive", "additive"]


def test_bad_arguments(predictor, loci):
    with pytest.raises(ValueError, match=r"tss_tile \[1900, 2100\) is not inside"):
        assays.context_dependence(predictor, loci[0], tss_tile=(1900, 2100), verbose=False)
    with pytest.raises(ValueError, match="sequences are 1,000 bp but the model takes 2,000"):
        assays.context_dependence(predictor, loci[0, :1000], tile_size=100, verbose=False)
    with pytest.raises(ValueError, match="optimization must be"):
        assays.higher_order(predictor, loci[0], optimization="best", verbose=False)
    with pytest.raises(TypeError, match="Predictor"):
        assays.necessity(object(), loci[0])
