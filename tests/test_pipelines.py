"""``creme-fast run`` as a workflow manager drives it (issue 20): options after the
subcommand, logs and progress in a file, threads, empty selections, shards and their
merge, resume after the TSS table changed, the API reproducing a CLI run."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from compat_fixtures import input_dependent_enformer, write_export
from enformer_fixtures import SEQ_LENGTH
from genome_fixtures import GENES, make_genome, write_tss

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.io.genome import Genome
from creme_fast.io.store import RunStore
from creme_fast.runtime import load_predictor
from creme_fast.synthetic import load_synthetic

L = 196_608
FAST = ["--tile-size", "20000", "--shuffles", "2"]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("genome")
    path, _ = make_genome(directory)
    return path, write_tss(directory)


def _args(genome, test, out, *extra, tss=None):
    path, default_tss = genome
    return ["run", test, "--model", "synthetic", "--fasta", str(path), "--tss",
            str(tss or default_tss), "--out", str(out), *FAST, *extra]


def _code(argv):
    """main's exit code, also when argparse refuses the command line."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _results(out):
    frame = pd.concat([pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet"))])
    keys = [c for c in ("name", "track", "tile", "round") if c in frame]
    return frame.sort_values(keys, ignore_index=True)


# --- item 3: options after the subcommand, log file, progress, final record -----------

def test_global_options_after_the_subcommand_and_a_final_record(tmp_path, genome, capfd):
    log_file = tmp_path / "logs" / "act.log"
    assert _code(_args(genome, "activity", tmp_path / "act", "-q", "--log-file",
                       str(log_file))) == 0
    err = capfd.readouterr().err
    assert "run activity: 8 loci selected, 8 run, 0 already done, 0 failed" in err  # under -q
    assert err.count("\n") == 1  # nothing else under -q
    text = log_file.read_text()
    assert "run activity: 8 loci selected" in text
    assert _code(["run", "activity", "--log-level", "WARNING", "--help"]) == 0
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert _code(_args(genome, "activity", tmp_path / "x", "--log-file",
                       str(blocked / "act.log"))) == 2
    assert "--log-file" in capfd.readouterr().err and not (tmp_path / "x").exists()


def test_progress_is_log_lines_off_a_terminal(tmp_path, genome, monkeypatch):
    log_file = tmp_path / "nec.log"
    assert main(_args(genome, "necessity", tmp_path / "nec", "--log-file", str(log_file),
                      "--progress-interval", "0", "--chunk-loci", "4",
                      "--query", "name in ['geneA', 'geneB']")) == 0
    text = log_file.read_text()
    assert "\r" not in text
    lines = [ln for ln in text.splitlines() if "creme_fast.progress" in ln]
    assert len(lines) >= 2
    assert "necessity: " in lines[0] and " mutants (" in lines[0] and "mutant/s" in lines[0]
    assert "genes geneA..geneB 1-2/2" in text  # the loci in flight are named
    assert "2 loci done, 0 left" in lines[-1]
    # TQDM_DISABLE and --no-progress turn progress off
    for env, flag in ((("TQDM_DISABLE", "1"),), ()), ((), ("--no-progress",)):
        quiet = tmp_path / f"quiet{len(flag)}.log"
        with monkeypatch.context() as m:
            for key, value in env:
                m.setenv(key, value)
            assert main(_args(genome, "activity", tmp_path / f"q{len(flag)}", "--log-file",
                              str(quiet), "--progress-interval", "0", *flag)) == 0
        assert "creme_fast.progress" not in quiet.read_text()
        assert "run activity: 8 loci selected" in quiet.read_text()


def test_engine_progress_names_the_test_and_locus(tmp_path, genome, caplog, monkeypatch):
    """Issue 21 item 4: the bars said "stage 2", "copy 3", in seq/s."""
    from creme_fast.pipeline import engine
    from creme_fast.progress import Progress

    class EveryUpdate(Progress):  # the real reporter, a line at every update
        def __init__(self, total, desc, **options):
            super().__init__(total, desc, **{**options, "interval": 0})

    monkeypatch.setattr(engine, "Progress", EveryUpdate)
    path, _ = genome
    with Genome(path) as g:
        seq = g.window("chr1", 120_000, "+", L)
    caplog.set_level(logging.INFO, logger="creme_fast.progress")
    assays.multiplicity(load_synthetic(), seq, (110_000, 115_000), num_copies=2,
                        tile_size=20_000, num_shuffles=1, name="geneA", bins=[447, 448])
    lines = [r.getMessage() for r in caplog.records if r.name == "creme_fast.progress"]
    assert lines and all(ln.startswith("multiplicity geneA: ") for ln in lines)
    assert any("copy 2" in ln for ln in lines) and any("controls" in ln for ln in lines)
    assert all(" mutants (" in ln and "mutant/s" in ln for ln in lines)
    caplog.clear()
    assays.context_dependence(load_synthetic(), np.stack([seq, seq]), tile_size=20_000,
                              num_shuffles=1, names=["geneA", "geneB"], bins=[447, 448])
    lines = [r.getMessage() for r in caplog.records if r.name == "creme_fast.progress"]
    assert lines and all(ln.startswith("context dependence geneA..geneB (2 loci): ")
                         for ln in lines)


# --- item 2: threads ---------------------------------------------------------------

def test_threads_reach_onnx_runtime(tmp_path, genome):
    from creme_fast.cli import build_parser
    from creme_fast.cli.run_cmd import _load_model

    args = build_parser().parse_args(_args(genome, "activity", tmp_path / "t", "--threads",
                                           "1"))
    from creme_fast.cli.run_cmd import _model_path

    model = _model_path(args)  # "synthetic": the shipped graph
    predictor = _load_model(args, {model.name: model.read_bytes()})[0]
    assert predictor.session.get_session_options().intra_op_num_threads == 1
    assert main(_args(genome, "activity", tmp_path / "t", "--threads", "1", "-q")) == 0
    assert _code(_args(genome, "activity", tmp_path / "t", "--threads", "0")) == 2


# --- item 1: an empty selection is an outcome ---------------------------------------

def test_an_empty_selection_writes_an_empty_run(tmp_path, genome, caplog):
    full = tmp_path / "full"
    assert main(_args(genome, "necessity", full, "-q", "--query", "name == 'geneA'")) == 0
    empty = tmp_path / "empty"
    code = main(_args(genome, "necessity", empty, "--query", "name == 'no such gene'"))
    assert code == 0
    assert "no TSS rows left after the selection" in caplog.text
    want = pd.read_parquet(full / "summary.parquet")
    got = pd.read_parquet(empty / "summary.parquet")
    assert len(got) == 0 and list(got.columns) == list(want.columns)
    assert dict(got.dtypes.astype(str)) == dict(want.dtypes.astype(str))
    assert list(pd.read_csv(empty / "summary.csv").columns) == list(want.columns)
    failed = pd.read_csv(empty / "failed.tsv", sep="\t")
    assert list(failed.columns) == ["name", "error"] and len(failed) == 0
    # a chained step on the empty summary is empty too (fine-tile needs a CRE column)
    code = main(_args(genome, "fine-tile", tmp_path / "ft", "-q",
                      "--query", "track == 0 and enhancer_tiles > 0",
                      tss=empty / "summary.parquet"))
    assert code == 0 and len(pd.read_parquet(tmp_path / "ft" / "summary.parquet")) == 0
    # --top on a selection that leaves nothing behind it
    assert main(_args(genome, "activity", tmp_path / "top", "-q", "--query",
                      "name == 'none'", "--top", "3", "--by", "tss")) == 0


def test_an_empty_tss_file_stays_an_error(tmp_path, genome, caplog):
    header_only = tmp_path / "header.tsv"
    header_only.write_text("name\tchrom\ttss\tstrand\n")
    assert main(_args(genome, "activity", tmp_path / "o", tss=header_only)) == 2
    assert "has no rows" in caplog.text
    assert not (tmp_path / "o").exists()


# --- item 4: shards and merge --------------------------------------------------------

def test_shards_merge_into_the_single_run(tmp_path, genome, capfd):
    single = tmp_path / "single"
    assert main(_args(genome, "context", single, "-q", "--chunk-loci", "2")) == 0
    shards = [tmp_path / f"shard{k}" for k in (1, 2, 3)]
    names = []
    for k, shard in enumerate(shards, start=1):
        assert main(_args(genome, "context", shard, "-q", "--shard", f"{k}/3",
                          "--chunk-loci", "2")) == 0
        names.append(list(pd.read_parquet(shard / "summary.parquet")["name"].unique()))
    # dealt out by line: rows 1, 4, 7 to shard 1, ...
    assert names == [[g[0] for g in GENES[k::3]] for k in range(3)]
    merged = tmp_path / "merged"
    capfd.readouterr()
    assert main(["-q", "merge", *map(str, shards), "--out", str(merged)]) == 0
    assert "merge context: 3 runs, 8 loci, 0 failed" in capfd.readouterr().err
    want = pd.read_parquet(single / "summary.parquet")
    got = pd.read_parquet(merged / "summary.parquet")
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(_results(merged), _results(single))
    assert (merged / "failed.tsv").is_file() and (merged / "summary.png").is_file()
    settings = json.loads((merged / "settings.json").read_text())
    assert settings["identity"] == json.loads((single / "settings.json").read_text())["identity"]
    # a merged run is a run: the next step reads it, and merging again replaces it
    assert main(["-q", "merge", *map(str, shards), "--out", str(merged)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(merged / "summary.parquet"), want)


def test_merge_refuses_mixed_settings_naming_the_difference(tmp_path, genome, caplog):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(_args(genome, "activity", a, "-q", "--shard", "1/2")) == 0
    assert main(_args(genome, "activity", b, "-q", "--shard", "2/2", "--bins", "447")) == 0
    out = tmp_path / "m"
    assert main(["merge", str(a), str(b), "--out", str(out)]) == 2
    assert "other settings" in caplog.text and "bins: [447, 448] vs [447]" in caplog.text
    assert not (out / "summary.parquet").exists()
    assert main(["merge", str(a), str(tmp_path), "--out", str(out)]) == 2
    assert "not a creme-fast run directory" in caplog.text
    assert main(["merge", str(a), "--out", str(b)]) == 2  # never over a run
    assert "holds a creme-fast run, not a merge" in caplog.text
    assert (b / "summary.parquet").is_file()
    with RunStore(a):  # a shard being (re)run is not merged
        assert main(["merge", str(a), "--out", str(out)]) == 2
    assert "in use by another creme-fast run" in caplog.text


def test_shard_option_is_checked(tmp_path, genome, caplog):
    for bad in ("0/3", "4/3", "x", "1/0"):
        assert _code(_args(genome, "activity", tmp_path / "s", "--shard", bad)) == 2
    assert not (tmp_path / "s").exists()


# --- item 5: resume after the table changed ------------------------------------------

def test_resume_after_genes_added_and_reordered(tmp_path, genome, capfd, caplog):
    out = tmp_path / "ctx"
    first = write_tss(tmp_path, GENES[:6], "first.tsv")
    assert main(_args(genome, "context", out, "-q", tss=first)) == 0
    parts = sorted((out / "results").glob("*.parquet"))
    done = _results(out)
    # a gene added at the top, the others reordered: the six are kept, one runs
    changed = write_tss(tmp_path, [GENES[7]] + GENES[:6][::-1], "changed.tsv")
    capfd.readouterr()
    assert main(_args(genome, "context", out, "-q", tss=changed)) == 0
    assert "7 loci selected, 1 run, 6 already done" in capfd.readouterr().err
    after = sorted((out / "results").glob("*.parquet"))
    assert set(parts) < set(after) and len(after) == len(parts) + 1
    pd.testing.assert_frame_equal(_results(out).query("name != 'geneH'")
                                  .reset_index(drop=True), done)
    whole = tmp_path / "whole"
    assert main(_args(genome, "context", whole, "-q", tss=changed)) == 0
    pd.testing.assert_frame_equal(_results(out), _results(whole))
    assert list(pd.read_parquet(out / "summary.parquet")["name"].unique()) == \
        [GENES[7][0]] + [g[0] for g in GENES[:6][::-1]]
    # a finished gene whose TSS moved is refused, naming it
    moved = write_tss(tmp_path, [("geneA", "chr1", 120_500, "+")] + GENES[1:6], "moved.tsv")
    assert main(_args(genome, "context", out, tss=moved)) == 2
    assert "geneA: tss 120000 -> 120500" in caplog.text


# --- item 6: the API reproduces a CLI run -------------------------------------------

SHORT = SEQ_LENGTH  # the small Enformer's window (2,048 bp, 8 bins)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """The suite's small Enformer whose predictions depend on the input (the synthetic
    model reads only whole motifs, so two draws of shuffles give it the same
    prediction and an equality test on it could not fail)."""
    path = tmp_path_factory.mktemp("model") / "enformer_small.onnx"
    return write_export(input_dependent_enformer(), path, tracks=[0, 1, 2])


def _windows(genome, genes, length=SHORT):
    with Genome(genome[0]) as g:
        return np.stack([g.window(c, t, s, length) for _, c, t, s in genes])


def _short_args(genome, model, test, out, *extra):
    return ["run", test, "--model", str(model), "--fasta", str(genome[0]), "--tss",
            str(genome[1]), "--out", str(out), "--tile-size", "200", "--shuffles", "3",
            *extra]


def test_api_names_reproduce_a_cli_run_exactly(tmp_path, genome, small_model):
    out = tmp_path / "nec"
    assert main(_short_args(genome, small_model, "necessity", out, "-q", "--chunk-loci",
                            "3")) == 0
    cli = _results(out)
    tokens = _windows(genome, GENES)
    names = [g[0] for g in GENES]
    model = load_predictor(small_model)
    res = assays.necessity(model, tokens, tile_size=200, num_shuffles=3, verbose=False,
                           names=names)
    api = res.to_frame()
    assert list(api["name"].unique()) == names  # names= names the rows too
    api = api.sort_values(["name", "track", "tile"], ignore_index=True)
    pd.testing.assert_frame_equal(cli[api.columns], api, check_dtype=False, rtol=0, atol=0)
    # the effects depend on the input, and without names the keys are positions:
    # other shuffles, other results (the 5.9e-4 difference)
    assert np.ptp(res.effect) > 0.01
    plain = assays.necessity(model, tokens, tile_size=200, num_shuffles=3, verbose=False)
    assert np.abs(plain.effect - res.effect).max() > 1e-4
    with pytest.raises(ValueError, match="names has 1 names for 8 sequences"):
        assays.necessity(model, tokens, names=["x"], tile_size=200, verbose=False)


def test_api_name_reproduces_a_one_locus_cli_run(tmp_path, genome, small_model):
    out = tmp_path / "ho"
    assert main(_short_args(genome, small_model, "higher-order", out, "-q", "--query",
                            "name == 'geneB'", "--track", "1", "--rounds", "3")) == 0
    cli = _results(out).sort_values("round", ignore_index=True)
    seq = _windows(genome, [g for g in GENES if g[0] == "geneB"])[0]
    model = load_predictor(small_model)
    res = assays.higher_order(model, seq, tile_size=200, num_shuffles=3, num_rounds=3,
                              track=1, verbose=False, name="geneB")
    api = res.to_frame()
    assert cli["observed"].nunique() == 3  # input-sensitive
    np.testing.assert_array_equal(cli["observed"].to_numpy(), api["observed"].to_numpy())
    np.testing.assert_array_equal(cli["tile_start"].to_numpy(), api["tile_start"].to_numpy())
    other = assays.higher_order(model, seq, tile_size=200, num_shuffles=3, num_rounds=3,
                                track=1, verbose=False)
    assert not np.array_equal(other.to_frame()["observed"].to_numpy(), api["observed"])
    with pytest.raises(ValueError, match="name or locus_key"):
        assays.higher_order(model, seq, name="geneB", locus_key=3)


# --- item 7: batch size --------------------------------------------------------------

def test_batch_size_changes_results_only_by_float_rounding(genome, small_model):
    """Batch mates never change a result; the batch size may change the float
    rounding of the model's kernels (README: up to float rounding, bounded here)."""
    tokens = _windows(genome, GENES[:4])
    model = load_predictor(small_model)
    runs = {b: assays.necessity(model, tokens, tile_size=200, num_shuffles=3,
                                verbose=False, batch_size=b)
            for b in (1, 3, 8)}
    assert np.ptp(runs[8].effect) > 0.01  # input-sensitive
    for b in (1, 3):
        np.testing.assert_allclose(runs[b].mut, runs[8].mut, rtol=1e-6, atol=0)
        np.testing.assert_allclose(runs[b].effect, runs[8].effect, rtol=0, atol=1e-6)
