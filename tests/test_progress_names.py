"""Progress that says where it is (issue 28): the test, and the gene by name."""
from __future__ import annotations

import logging

from creme_fast.demo import DemoSettings
from creme_fast.demo.run import DEMO_TESTS, run_tests
from creme_fast.runs.progress import RunProgress
from creme_fast.synthetic import generate_loci, load_synthetic


def test_a_run_names_the_gene_and_its_place(caplog):
    caplog.set_level(logging.INFO, "creme_fast.progress")
    with RunProgress(200, 10, "necessity", enabled=True, interval=0, bar=False) as progress:
        progress.skipped(11)
        progress.started(["GATA2"])
        progress.batch(3)
        progress.loci_done(1, 10)
        progress.started(["MYC", "TAL1", "GATA1"])
        progress.batch(1)
    lines = list(dict.fromkeys(r.getMessage() for r in caplog.records
                               if r.name == "creme_fast.progress"))
    assert any("necessity: " in ln and "gene GATA2 12/200" in ln for ln in lines), lines
    assert any("genes MYC..GATA1 13-15/200; 1 loci done, 188 left" in ln for ln in lines), lines


def test_the_demo_logs_a_line_per_test_naming_its_genes(caplog):
    caplog.set_level(logging.INFO, "creme_fast.demo")
    settings = DemoSettings(num_shuffles=1, greedy_rounds=1, num_copies=1, fine_scales=(500,),
                            fine_batches=(2,), verbose=False)
    loci = generate_loci(seed=0, tile_size=settings.tile_size)
    results = run_tests(loci, load_synthetic(), settings)
    # (the suite's caplog also listens on the package logger: each record comes twice)
    lines = list(dict.fromkeys(r.getMessage() for r in caplog.records
                               if r.getMessage().startswith("demo: ")))
    assert [ln.split(":")[1].strip() for ln in lines] == list(DEMO_TESTS)
    assert lines[2].startswith(f"demo: necessity: 3/8 tests, on {len(loci.names)} loci (")
    assert "enhancing" in lines[2] and lines[-1].endswith("on gene enhancing")
    # results are named by gene without a loci= table
    assert set(results["necessity"].to_frame()["name"]) == set(loci.names)
