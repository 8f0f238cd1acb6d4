"""Issue 29: adding a CREME test is one module plus one registry entry.

A toy ninth test ("tile swap", ``tests/toy_tile_swap.py``) is added to the
registry here and nowhere else; ``creme-fast run`` (its choices, checks, chunks,
progress, summary, resume), ``creme-fast plot`` and the empty-run schema pick it up.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from genome_fixtures import GENES, make_genome, write_tss
from toy_tile_swap import SPEC, TileSwapResult

from creme_fast.assays.registry import TESTS
from creme_fast.assays.runner import run_design
from creme_fast.assays.spec import StepConfig
from creme_fast.cli import main
from creme_fast.io.genome import Genome
from creme_fast.pipeline import fit_engine
from creme_fast.synthetic import load_synthetic

L = 196_608
BINS = "447,448"


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("genome")
    path, _ = make_genome(directory)
    return path, write_tss(directory, GENES[:2])


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(TESTS, SPEC.name, SPEC)  # the one registry entry
    return SPEC


def _run(genome, out, *extra):
    fasta, tss = genome
    return main(["run", "tile-swap", "--model", "synthetic", "--fasta", str(fasta), "--tss",
                 str(tss), "--out", str(out), "--tile-size", "20000", "--bins", BINS, *extra])


def test_the_cli_runs_progress_and_plots_pick_up_a_ninth_test(registered, genome, tmp_path,
                                                             capsys):
    out = tmp_path / "run"
    assert _run(genome, out, "--progress-interval", "0") == 0
    err = capsys.readouterr().err
    results = pd.concat([pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet"))],
                        ignore_index=True)
    pairs = len(SPEC.design(np.zeros((1, L), np.uint8), np.zeros(1, np.int64),
                            pd.DataFrame({"name": ["x"]}), StepConfig(tile_size=20000)).tiles) - 1
    assert set(results["name"]) == {"geneA", "geneB"}
    n_tracks = load_synthetic().metadata.n_tracks
    assert len(results) == 2 * pairs * n_tracks  # per gene, pair and track
    assert {"chrom", "tss", "strand", "start", "end", "tss_offset", "effect"} <= set(results)
    # the swap moves the planted enhancer 12 kb from the TSS: the model reads it
    assert np.nanmax(np.abs(results["effect"])) > 1e-3
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == 2 * n_tracks and "top_effect" in summary  # per gene and track
    assert list(dict.fromkeys(summary["name"])) == ["geneA", "geneB"]
    # progress: the plan's rows per locus (wild type + one row per pair), counted
    total = 2 * (1 + pairs)
    assert SPEC.expected_mutants(StepConfig(tile_size=20000), L) == 1 + pairs
    assert f"tile-swap: {total}/{total} mutants" in err and "2 loci done, 0 left" in err
    # resume: nothing left to run
    assert _run(genome, out) == 0
    assert "0 run, 2 already done" in capsys.readouterr().err
    # plots: the test's per-gene figure and its summary figure
    figures = tmp_path / "figures"
    assert main(["plot", str(out), "--out", str(figures), "--format", "png"]) == 0
    names = sorted(p.name for p in figures.iterdir())
    assert names == ["geneA.tile-swap.png", "geneB.tile-swap.png", "index.tsv",
                     "tile-swap.summary.png"]


def test_the_cli_checks_a_ninth_test_by_its_spec(registered, genome, tmp_path, caplog):
    # tiled: a tile size that leaves no tile beside the TSS tile is refused before any file
    out = tmp_path / "refused"
    assert _run(genome, out, "--tile-size", str(L)) == 2
    assert "leaves no tile beside the TSS tile" in caplog.text and "tile-swap" in caplog.text
    assert not out.exists()
    # an empty selection still writes the test's summary schema
    empty = tmp_path / "empty"
    assert _run(genome, empty, "--query", "name == 'none'") == 0
    summary = pd.read_parquet(empty / "summary.parquet")
    assert len(summary) == 0 and "top_effect" in summary


def test_a_ninth_test_runs_the_same_through_the_runner(registered, genome):
    fasta, _ = genome
    rows = pd.DataFrame([GENES[0]], columns=["name", "chrom", "tss", "strand"])
    with Genome(fasta) as g:
        tokens = np.stack([g.window(c, t, s, L) for _, c, t, s in rows.itertuples(index=False)])
    predictor = load_synthetic()
    engine = fit_engine(predictor, {"bins": [447, 448], "verbose": False})
    config = StepConfig(tile_size=20000)
    [design] = SPEC.designs(tokens, np.zeros(1, np.int64), rows, config)
    result = run_design(design, predictor, engine)
    assert isinstance(result, TileSwapResult)
    assert result.mut.shape[:2] == (1, len(design.tiles) - 1)
    assert list(result.to_frame()["name"].unique()) == ["geneA"]
