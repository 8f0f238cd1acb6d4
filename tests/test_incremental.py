"""Incremental evaluation: exact trunk windows, the exported pieces, every tile test."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from creme_fast.export import export_enformer
from creme_fast.export.modules import EnformerBody
from enformer_fixtures import input_spread, make_small_enformer

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.pipeline import PipelineStats, PlanBuilder, run_plan
from creme_fast.runtime import OnnxPredictor
from creme_fast.runtime.geometry import compose_layers
from creme_fast.sequence import one_hot

L = 8192  # 64 trunk rows: a 500 bp tile changes 7 of them
RTOL = 1e-5


@pytest.fixture(scope="module")
def enformer():
    return make_small_enformer()


@pytest.fixture(scope="module")
def exported(enformer, tmp_path_factory):
    out = tmp_path_factory.mktemp("inc") / "small.onnx"
    export_enformer(enformer, out, seq_length=L, tracks=[1, 5], input_kind="tokens")
    return out


@pytest.fixture(scope="module")
def predictor(exported):
    return OnnxPredictor(exported, threads=1)


@pytest.fixture(scope="module")
def loci():
    return np.random.default_rng(3).integers(0, 4, size=(3, L), dtype=np.uint8)


def trunk_rows(body, tokens):
    with torch.no_grad():
        return body.trunk(torch.from_numpy(one_hot(tokens))).numpy()


def test_receptive_field_is_derived_exact_and_windows_match_the_full_trunk(enformer):
    body = EnformerBody(enformer, "human").eval()
    stride, left, right = compose_layers(body.trunk_layers())
    assert stride == 2 ** enformer.config.num_downsamples  # one pooling per downsample
    tokens = np.random.default_rng(0).integers(0, 4, size=(1, 2048), dtype=np.uint8)
    full = trunk_rows(body, tokens)[0]
    rows = full.shape[0]
    assert input_spread(full[3], full[9]) > 1e-2  # rows differ: the comparison can fail
    # windows at the start, in the middle and at the end give the full pass's rows
    for lo, hi in ((0, 3), (7, 9), (rows - 3, rows)):
        w0 = max(0, (lo * stride - left) // stride * stride)
        w1 = min(2048, -(-(hi * stride + right) // stride) * stride)
        got = trunk_rows(body, tokens[:, w0:w1])[0]
        off = w0 // stride
        np.testing.assert_allclose(got[lo - off:hi - off], full[lo:hi], rtol=RTOL, atol=1e-6)
        if 0 < w0:  # a window one row shorter on the left is wrong: the halo is needed
            short = trunk_rows(body, tokens[:, w0 + stride:w1])[0]
            assert not np.allclose(short[lo - off - 1], full[lo], rtol=RTOL, atol=1e-6)
    # the halo is tight: a base just inside row r's field changes it, one outside does not
    r = 8
    for pos, inside in ((r * stride - left, True), (r * stride - left - 1, False),
                        ((r + 1) * stride + right - 1, True), ((r + 1) * stride + right, False)):
        mutant = tokens.copy()
        mutant[0, pos] = (mutant[0, pos] + 1) % 4
        changed = np.abs(trunk_rows(body, mutant)[0, r] - full[r]).max()
        assert (changed > 0) == inside, (pos, changed)


def test_pieces_are_written_checked_and_shown(exported, predictor, loci, tmp_path):
    inc = predictor.incremental
    g = inc.geometry
    assert (g.stride, g.rows) == (128, L // 128)
    np.testing.assert_allclose(inc.tower(inc.trunk(loci)), predictor.predict(loci), rtol=RTOL,
                               atol=1e-7)
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "creme_fast", "info", str(exported), "--json"],
        capture_output=True, text=True, check=True).stdout)
    assert report["model"]["pieces"]["trunk"]["ok"] and report["model"]["pieces"]["tower"]["ok"]
    with pytest.raises(ValueError, match="multiple of 128"):
        inc.trunk(loci[:, :1000])
    # a tampered piece is refused by info and by the predictor
    for src in exported.parent.glob("small.*onnx"):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    copy = tmp_path / exported.name
    tower = copy.with_suffix(".tower.onnx")
    tower.write_bytes(tower.read_bytes()[:-1] + b"\0")
    assert main(["info", str(copy)]) == 1
    tampered = OnnxPredictor(copy)
    with pytest.raises(ValueError, match="sha256"):
        tampered.incremental
    with pytest.raises(ValueError, match="sha256"):  # asked for: an error
        assays.necessity(tampered, loci[:1], tiles=[(0, 500)], num_shuffles=1, verbose=False,
                         incremental=True)
    stats = PipelineStats()  # by default: full passes, with a warning
    assays.necessity(tampered, loci[:1], tiles=[(0, 500)], num_shuffles=1, verbose=False,
                     stats=stats)
    assert stats.n_incremental == 0 and stats.n_full_path == 2


def test_export_without_pieces_takes_the_full_path(enformer, loci, tmp_path):
    out = tmp_path / "plain.onnx"
    export_enformer(enformer, out, seq_length=L, tracks=[1], incremental=False)
    assert not out.with_suffix(".trunk.onnx").exists()
    plain = OnnxPredictor(out)
    assert plain.incremental is None
    stats = PipelineStats()
    assays.necessity(plain, loci[:1], tiles=[(0, 500)], num_shuffles=1, verbose=False,
                     stats=stats)
    assert stats.n_incremental == 0 and stats.n_full_path == 2
    with pytest.raises(ValueError, match="incremental=True"):
        assays.necessity(plain, loci[:1], tiles=[(0, 500)], num_shuffles=1, verbose=False,
                         incremental=True)


def _compare(full, inc, fields):
    for name in fields:
        a, b = getattr(full, name), getattr(inc, name)
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-7, err_msg=name)


TILES = [(0, 500), (3500, 4000), (4300, 4800), (7692, 8192), (6000, 6300)]  # edges, by the TSS
TSS = (4000, 4200)


def run_both(fn):
    full_stats, inc_stats = PipelineStats(), PipelineStats()
    full = fn(incremental=False, stats=full_stats)
    inc = fn(incremental=True, stats=inc_stats)
    assert full_stats.n_incremental == 0 and inc_stats.n_incremental > 0
    return full, inc, inc_stats


def test_necessity_and_sufficiency_equal_full_path(predictor, loci):
    opts = dict(tiles=TILES, num_shuffles=2, verbose=False, batch_size=4)
    full, inc, stats = run_both(lambda **o: assays.necessity(predictor, loci, **opts, **o))
    # sensitivity: tiles move the prediction far beyond the tolerance
    assert np.nanmax(np.abs(full.effect)) > 100 * RTOL
    _compare(full, inc, ["wt", "mut"])
    np.testing.assert_allclose(inc.effect, full.effect, atol=1e-5)
    assert stats.n_incremental == 3 * len(TILES) * 2 and stats.n_parents == 3
    assert stats.trunk_bp_avoided > 0
    full, inc, stats = run_both(lambda **o: assays.sufficiency(predictor, loci, tss_tile=TSS,
                                                               **opts, **o))
    assert np.nanmax(np.abs(full.effect)) > 100 * RTOL
    _compare(full, inc, ["wt", "control", "mut"])
    assert stats.n_parents == 3 * 2  # the shuffled backgrounds


def test_distance_and_multiplicity_multi_edit_mutants(predictor, loci):
    cre = (1000, 1400)
    full, inc, stats = run_both(lambda **o: assays.distance(
        predictor, loci[0], cre, positions=[0, 2000, 7792], tss_tile=TSS, num_shuffles=2,
        verbose=False, **o))
    assert input_spread(full.mut[0], full.mut[1]) > 100 * RTOL
    _compare(full, inc, ["control", "mut"])
    full, inc, stats = run_both(lambda **o: assays.multiplicity(
        predictor, loci[0], cre, positions=[0, 2000, 6000, 7792], tss_tile=TSS,
        num_shuffles=2, num_copies=2, verbose=False, **o))
    np.testing.assert_array_equal(full.selected_positions, inc.selected_positions)
    _compare(full, inc, ["round_activity", "activity_by_copies"])


def test_higher_order_and_fine_tile_equal_full_path(predictor, loci):
    full, inc, stats = run_both(lambda **o: assays.higher_order(
        predictor, loci[1], tiles=TILES, num_shuffles=3, num_rounds=3, verbose=False, **o))
    np.testing.assert_array_equal(full.selected, inc.selected)
    assert np.nanmax(np.abs(full.round_activity - full.wt)) > 100 * RTOL * abs(full.wt)
    _compare(full, inc, ["round_activity", "observed", "single"])
    full, inc, stats = run_both(lambda **o: assays.fine_tile_search(
        predictor, loci[1], (1000, 1600), scales=(200, 50), thresholds=(0.999, 0.999),
        n_batches=(1, 2), tss_tile=TSS, num_shuffles=2, verbose=False, **o))
    np.testing.assert_array_equal(full.kept, inc.kept)
    _compare(full, inc, ["scores"])


def test_wide_edits_and_small_cache(predictor, loci):
    """Whole-sequence shuffles take the full path; a tiny cache runs parents in chunks."""
    builder = PlanBuilder(seed=1)
    rows = []
    for i in range(3):
        base = builder.base(loci[i])
        wt = builder.rows(1, base)
        wide = builder.rows(2, base, parent=wt)
        builder.shuffle(wide, 0, L, np.arange(2) + 10 * i)
        tile = builder.rows(2, base, parent=wt)
        builder.shuffle(tile, 100 * i, 100 * i + 300, np.arange(2) + 10 * i)
        rows.append(tile)
    plan = builder.build()
    full = run_plan(plan, predictor, verbose=False, incremental=False)
    stats = PipelineStats()
    got = run_plan(plan, predictor, verbose=False, batch_size=3, trunk_cache_gb=1e-9,
                   stats=stats)
    assert input_spread(full[1], full[0]) > 100 * RTOL
    np.testing.assert_allclose(got, full, rtol=RTOL, atol=1e-7)
    assert stats.n_incremental == 6 and stats.n_parents == 3 and stats.n_full_path == 9


def test_torch_predictor_offers_the_same_interface(enformer, predictor, loci):
    from creme_fast.runtime import TorchPredictor
    from creme_fast.runtime.readout import recorded_tss_bins

    body = EnformerBody(enformer, "human", tracks=[1, 5])
    torch_predictor = TorchPredictor(body, seq_length=L,
                                     tss_bins=recorded_tss_bins(predictor))  # the export's
    assert torch_predictor.incremental.geometry == predictor.incremental.geometry
    tiles = [(0, 500), (7692, 8192)]
    full, inc, stats = run_both(lambda **o: assays.necessity(
        torch_predictor, loci[:2], tiles=tiles, num_shuffles=2, verbose=False, **o))
    assert np.nanmax(np.abs(full.effect)) > 20 * RTOL  # edge tiles: smaller effects
    _compare(full, inc, ["wt", "mut"])
    onnx_res = assays.necessity(predictor, loci[:2], tiles=tiles, num_shuffles=2, verbose=False)
    np.testing.assert_allclose(onnx_res.mut, inc.mut, rtol=1e-4, atol=1e-6)


def test_bench_reports_both_paths(exported, tmp_path):
    report_path = tmp_path / "bench.json"
    assert main(["bench", "--model", str(exported), "--test", "necessity", "--tile-size", "1000",
                 "--shuffles", "1", "--batch-sizes", "2", "--repeats", "1", "--out",
                 str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["end_to_end"]["n_incremental"] == 0
    inc = report["end_to_end_incremental"]
    assert inc["n_incremental"] == inc["mutants"] - 1 and inc["trunk_bp_avoided"] > 0


def test_run_progress_counts_mutants_on_both_paths(predictor, loci):
    """A run's progress (ChunkResult.mutants, the per-batch callback) counts mutants
    whether the model ran them in full passes or through the pieces."""
    import pandas as pd

    from creme_fast.runs.executor import ChunkTask, LocalExecutor
    from creme_fast.runs.steps import StepConfig

    rows = pd.DataFrame({"name": ["a", "b"], "chrom": "c", "tss": [10, 20], "strand": "+"})
    task = ChunkTask(index=0, tokens=loci[:2], keys=np.array([1, 2]), rows=rows)
    counts = {}
    for incremental in (False, True):
        ticks: list[int] = []
        cfg = StepConfig(tile_size=2000, num_shuffles=2, batch_size=4, incremental=incremental)
        [result] = LocalExecutor(predictor, on_batch=ticks.append).run("necessity", cfg, [task])
        counts[incremental] = (result.mutants, sum(ticks))
    from creme_fast.sequence.tiles import tile_layout

    expected = 2 * (1 + len(tile_layout(L, 2000).tiles) * 2)
    assert counts[False] == counts[True] == (expected, expected)


def test_cpu_sessions_do_not_keep_a_second_copy_of_the_weights(exported):
    # onnxruntime's Python session built from bytes keeps them ("_model_bytes") to
    # rebuild itself on another provider; for the published Enformer that doubled
    # the weights held (1.6 GiB). The loaded bytes are checked, then let go.
    fresh = OnnxPredictor(exported, threads=1)
    pieces = fresh.incremental
    sessions = [fresh.session, pieces._trunk, pieces._tower]
    assert all(getattr(s, "_model_bytes", None) is None for s in sessions)
    tokens = np.random.default_rng(0).integers(0, 4, size=(2, L), dtype=np.uint8)
    assert fresh.predict(tokens).shape[0] == 2  # the sessions still run


def test_large_tower_batches_run_in_sub_batches_with_the_same_answers(exported):
    from creme_fast.runtime.incremental import CPU_TOWER_CALL_FLOATS

    fresh = OnnxPredictor(exported, threads=1)
    pieces = fresh.incremental
    g = pieces.geometry
    assert pieces.tower_call == max(1, CPU_TOWER_CALL_FLOATS // (g.rows * g.channels))
    tokens = np.random.default_rng(4).integers(0, 4, size=(5, L), dtype=np.uint8)
    rows = pieces.trunk(tokens)
    whole = pieces.tower(rows)
    pieces.tower_call = 2  # 5 sequences in calls of 2, 2 and 1
    split = pieces.tower(rows)
    assert input_spread(whole[0], whole[-1]) > 1e-3  # different answers to compare
    assert split.shape == whole.shape and split.dtype == np.float32
    np.testing.assert_allclose(split, whole, rtol=1e-6, atol=1e-7)
