"""``creme-fast bench`` against PyTorch on the user's machine (issue 33)."""
from __future__ import annotations

import json

import pytest
from creme_fast.export import export_enformer
from enformer_fixtures import make_small_enformer, write_checkpoints

from creme_fast import bench, bench_reference
from creme_fast.cli import main
from creme_fast.assays.registry import TESTS
from creme_fast.assays.spec import StepConfig
from creme_fast.runtime import OnnxPredictor

L = 8192  # 64 trunk rows: a 500 bp tile's windows cover well under half of them
TILE, SHUFFLES = 500, 1


@pytest.fixture(scope="module")
def enformer():
    return make_small_enformer()


@pytest.fixture(scope="module")
def exported(enformer, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_ref") / "small.onnx"
    export_enformer(enformer, out, seq_length=L, tracks=[1, 5], input_kind="tokens")
    return out


def _bench(model, tmp_path, *extra):
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", str(model), "--test", "necessity", "--tile-size",
                 str(TILE), "--shuffles", str(SHUFFLES), "--batch-sizes", "1", "--repeats",
                 "1", "--out", str(out), *extra])
    return code, (json.loads(out.read_text()) if out.exists() else None)


def test_bench_times_pytorch_against_onnx_runtime_and_estimates_each_test(exported, tmp_path,
                                                                         capsys):
    code, report = _bench(exported, tmp_path)
    assert code == 0
    times = report["pass_times"]
    assert times["torch_s"] > 0 and times["ort_full_s"] > 0 and times["ort_tile_mutant_s"] > 0
    assert report["reference"] == "auto"
    assert report["machine"]["summary"] and report["machine"]["logical_cpus"] >= 1
    config = StepConfig(tile_size=TILE, num_shuffles=SHUFFLES)
    assert set(report["per_gene"]) == set(bench.TESTS)
    for test, gene in report["per_gene"].items():
        assert gene["mutants"] == TESTS[test].expected_mutants(config, L), test
        assert gene["torch_s"] == pytest.approx(gene["mutants"] * times["torch_s"])
        assert gene["ort_full_s"] == pytest.approx(gene["mutants"] * times["ort_full_s"])
    necessity = report["per_gene"]["necessity"]
    # the wild type is the tile mutants' parent: one full pass, every tile incremental
    assert necessity["full_passes"] == 1 and necessity["incremental"] == necessity["mutants"] - 1
    assert necessity["ort_incremental_s"] == pytest.approx(
        times["ort_full_s"] + necessity["incremental"] * times["ort_tile_mutant_s"])
    assert report["per_gene"]["context"]["incremental"] == 0  # whole-background shuffles
    out = capsys.readouterr().out
    assert "machine: " in out and "PyTorch eager" in out and "x faster" in out
    assert "expected time per gene" in out and "necessity: " in out and "context: " in out
    assert "slower)" in out


def test_bench_reference_from_a_checkpoint_and_none(enformer, exported, tmp_path, capsys):
    checkpoint = write_checkpoints(enformer, tmp_path / "ck")["hf_dir"]
    reference = bench_reference.load_reference(OnnxPredictor(exported).metadata,
                                               str(checkpoint))
    assert "weights from" in reference.description
    tokens = bench.random_locus(L)
    assert bench_reference.time_reference(reference, tokens, "human", 1) > 0
    code, report = _bench(exported, tmp_path, "--reference", "none")
    assert code == 0 and report["pass_times"]["torch_s"] is None
    assert report["per_gene"]["necessity"]["torch_s"] is None
    out = capsys.readouterr().out
    assert "no PyTorch reference" in out and "x slower)" not in out


def test_bench_without_an_enformer_has_no_reference(tmp_path, capsys):
    code, report = _bench("synthetic", tmp_path)
    assert code == 0 and report["pass_times"]["torch_s"] is None
    assert report["pass_times"]["ort_tile_mutant_s"] is None  # no pieces
    gene = report["per_gene"]["necessity"]
    assert gene["incremental"] == 0 and gene["ort_incremental_s"] is None
    assert "    necessity: " in capsys.readouterr().out


@pytest.mark.parametrize("model", ["synthetic", "none"])
def test_a_named_reference_that_cannot_be_timed_is_refused_first(model, tmp_path, caplog):
    code, report = _bench(model, tmp_path, "--reference", str(tmp_path))
    assert code == 2 and report is None
    assert "--reference" in caplog.text


def test_a_missing_checkpoint_is_refused(exported, tmp_path, caplog):
    code, report = _bench(exported, tmp_path, "--reference", str(tmp_path / "missing"))
    assert code == 2 and report is None
    assert "no such checkpoint" in caplog.text


def test_path_counts_follow_the_engine(exported):
    predictor = OnnxPredictor(exported, threads=1)
    tokens = bench.random_locus(L)
    n_full, n_inc = bench_reference.path_counts(
        bench._run_test, "necessity", predictor.incremental.geometry, "tokens", tokens,
        num_shuffles=2, tile_size=TILE)
    n = TESTS["necessity"].expected_mutants(StepConfig(tile_size=TILE, num_shuffles=2), L)
    assert (n_full, n_inc) == (1, n - 1)
    assert bench_reference.path_counts(bench._run_test, "necessity", None, "tokens", tokens,
                                       num_shuffles=2, tile_size=TILE) == (n, 0)
    times = bench_reference.PassTimes(full_s=2.0, tile_s=0.5, torch_s=6.0)
    gene = bench_reference.per_gene(times, 1, 10)
    assert gene == {"mutants": 11, "full_passes": 1, "incremental": 10, "torch_s": 66.0,
                    "ort_full_s": 22.0, "ort_incremental_s": 7.0}
    assert bench_reference.tile_mutant_seconds(predictor, tokens, TILE) > 0
