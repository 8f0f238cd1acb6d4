"""Genome tracks of the tile tests (issue 32 item 2): ``elements.bed`` as valid BED9,
one ``tile_effects.track<N>.bedGraph`` per track and an IGV session, read back with
bedtools' own parser (pybedtools' ``cbedtools``) and checked against the BED spec."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pybedtools
import pytest
from genome_fixtures import GENES, make_genome, write_tss

from creme_fast.cli import main
from creme_fast.plots.rundir import read_run
from creme_fast.schema.bed import (
    BED_COLUMNS,
    CALL_RGB,
    elements_bed,
    read_bedgraph,
    read_elements_bed,
    tile_effect_bedgraphs,
)

FAST = ["--tile-size", "20000", "--shuffles", "2"]
INT = re.compile(r"^-?\d+$")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A necessity run on three genes: two whose windows overlap (geneA, geneB) and one
    at the start of chr1 (its window is N-padded)."""
    directory = tmp_path_factory.mktemp("tracks")
    fasta, _ = make_genome(directory)
    genes = write_tss(directory, GENES[:3])
    out = directory / "nec"
    assert main(["-q", "run", "necessity", "--model", "synthetic", "--fasta", str(fasta),
                 "--tss", str(genes), *FAST, "--out", str(out)]) == 0
    return out


def _intervals(path: Path) -> list[list[str]]:
    """Every data line's fields, as bedtools' parser splits them (track lines skipped)."""
    return [iv.fields for iv in pybedtools.BedTool(str(path))]


def test_elements_bed_is_bed9_one_row_per_element(run):
    """Observed: every tile three times (once per track) under one name, no cell type,
    column 7 a float where BED has thickStart (an integer)."""
    rows = _intervals(run / "elements.bed")
    _, results, _ = read_run(run)
    called = results[(results["effect"].abs() > 0.3) & results["start"].notna()]
    assert len(rows) == len(called) > 0
    assert {len(r) for r in rows} == {9}
    names = [r[3] for r in rows]
    assert len(set(names)) == len(names)  # one row per gene, tile and track
    for chrom, start, end, name, score, strand, thick_start, thick_end, rgb in rows:
        for value in (start, end, score, thick_start, thick_end):
            assert INT.match(value), (name, value)
        assert 0 <= int(score) <= 1000
        assert int(start) <= int(thick_start) <= int(thick_end) <= int(end)
        assert strand in "+-"
        gene, call, effect, track = name.split("|")
        assert rgb == CALL_RGB[call]
        parts = [int(p) for p in rgb.split(",")]
        assert len(parts) == 3 and all(0 <= p <= 255 for p in parts)
        assert re.fullmatch(r"track=\d+:cell_[ABC]", track), track  # index and cell type
        assert int(score) == round(min(abs(float(effect.removeprefix("effect="))), 1) * 1000)
    first = (run / "elements.bed").read_text().splitlines()[0]
    assert first.startswith("track ") and 'itemRgb="On"' in first
    # the typed reader gives the same rows, and the name's parts back
    bed = read_elements_bed(run / "elements.bed")
    assert list(bed.columns[:9]) == BED_COLUMNS and len(bed) == len(rows)
    merged = bed.merge(called[["name", "start", "track", "effect"]].astype({"start": "int64"}),
                       left_on=["gene", "start", "track"], right_on=["name", "start", "track"])
    assert len(merged) == len(bed)
    assert np.allclose(merged["effect_x"], merged["effect_y"], atol=5e-4)


def test_tile_effect_bedgraphs_one_per_track_sorted_disjoint(run):
    _, results, _ = read_run(run)
    tracks = sorted(set(results["track"]))
    files = sorted(run.glob("tile_effects.track*.bedGraph"))
    assert [f.name for f in files] == [f"tile_effects.track{t}.bedGraph" for t in tracks]
    for track, path in zip(tracks, files):
        rows = _intervals(path)
        assert rows and {len(r) for r in rows} == {4}
        table = read_bedgraph(path)
        assert len(table) == len(rows)
        for chrom, group in table.groupby("chrom"):
            assert (group["start"].diff().dropna() > 0).all()
            assert (group["start"].to_numpy()[1:] >= group["end"].to_numpy()[:-1]).all()
        # every value is the effect of a tile over it on that track, the strongest of
        # the tiles there (touching stretches of one value are one row)
        one = results[(results["track"] == track) & results["start"].notna()]
        for row in table.itertuples():
            over = one[(one["chrom"] == row.chrom) & (one["start"] < row.end)
                       & (one["end"] > row.start)]
            assert np.isclose(over["effect"], row.value, rtol=1e-5, atol=1e-9).any(), row
            assert (over["effect"].abs() <= abs(row.value) * (1 + 1e-5) + 1e-9).all(), row
        covered = one[one["chrom"] == "chr1"]
        assert table["end"].sum() - table["start"].sum() <= (
            covered["end"].max() - covered["start"].min()) * len(set(table["chrom"]))
    assert "track type=bedGraph" in files[0].read_text().splitlines()[0]


def test_overlapping_windows_keep_the_strongest_effect():
    frame = pd.DataFrame({"name": ["g1", "g1", "g2"], "chrom": "c", "strand": "+",
                          "track": 7, "start": [0, 100, 50], "end": [100, 200, 150],
                          "effect": [0.5, -0.1, -0.9]})
    table = tile_effect_bedgraphs(frame)[7]
    assert table[["start", "end", "value"]].values.tolist() == [
        [0, 50, 0.5], [50, 150, -0.9], [150, 200, -0.1]]


def test_elements_bed_refuses_a_table_without_coordinates():
    with pytest.raises(ValueError, match="lacks chrom"):
        elements_bed(pd.DataFrame({"name": ["g"], "effect": [1.0], "track": [0]}))


def test_igv_session_loads_every_track_on_the_fasta(run):
    """The session names the run's FASTA and every track file, by paths IGV resolves
    from the session's folder."""
    session = ET.parse(run / "igv_session.xml").getroot()
    assert session.tag == "Session"
    assert Path(session.get("genome")).is_file() and session.get("genome").endswith(".fa")
    assert re.fullmatch(r"chr\w+:\d+-\d+", session.get("locus"))
    paths = [r.get("path") for r in session.iter("Resource")]
    assert paths[0] == "elements.bed" and len(paths) == 1 + len(
        list(run.glob("tile_effects.track*.bedGraph")))
    for path in paths:
        assert (run / path).is_file()
