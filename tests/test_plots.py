"""The one plotting module (issue 21 item 3): each figure drawn from small run
directories, checked for what can be checked without eyes (axis labels with units,
legend entries naming tracks, threshold lines, no empty axes)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from genome_fixtures import GENES, make_genome, write_tss

from matplotlib.backends.backend_agg import FigureCanvasAgg

from creme_fast import plots
from creme_fast.cli import main
from creme_fast.plots.rundir import read_run
from creme_fast.plots.summary import draw_summary
from creme_fast.synthetic import load_synthetic

FAST = ["--tile-size", "20000", "--shuffles", "2"]
TRACK_NAMES = load_synthetic().metadata.extra["track_names"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs of every test on two genes (one per strand), chained as the paper's workflow."""
    directory = tmp_path_factory.mktemp("plot_runs")
    fasta, _ = make_genome(directory)
    genes = write_tss(directory, GENES[:2])
    base = ["-q", "run", "--model", "synthetic", "--fasta", str(fasta), *FAST]
    out = {}
    for test in ("activity", "context", "necessity", "sufficiency"):
        out[test] = directory / test
        assert main([base[0], base[1], test, *base[2:], "--tss", str(genes),
                     "--out", str(out[test])]) == 0
    cres = str(out["necessity"] / "summary.parquet")
    for test, extra in (("distance", []), ("multiplicity", ["--track", "2"]),
                        ("fine-tile", ["--track", "2"]), ("higher-order", ["--track", "2"])):
        out[test] = directory / test
        tss = genes if test == "higher-order" else cres
        query = [] if test == "higher-order" else ["--query", "track == 2"]
        assert main([base[0], base[1], test, *base[2:], "--tss", str(tss), *query, *extra,
                     "--out", str(out[test])]) == 0
    return out


def _inside(fig) -> None:
    """Nothing clipped: legends, titles and axis labels lie within the figure."""
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    box = fig.bbox
    texts = list(fig.legends) + [t for ax in fig.axes for t in
                                 (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()]
    for item in texts:
        bb = item.get_window_extent(renderer)
        assert box.x0 - 1 <= bb.x0 and bb.x1 <= box.x1 + 1, item
        assert box.y0 - 1 <= bb.y0 and bb.y1 <= box.y1 + 1, item


def _check(fig, *, legend=(), thresholds=()):
    """Every panel labelled and holding data, nothing clipped; the legend names what
    it must."""
    _inside(fig)
    for ax in fig.axes:
        assert ax.get_xlabel() and (ax.get_ylabel() or not ax.get_yticks().size)
        assert ax.patches or ax.lines or ax.collections, ax.get_title()
        assert ax.get_title()
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    labels += [t.get_text() for ax in fig.axes if ax.get_legend()
               for t in ax.get_legend().get_texts()]
    for want in legend:
        assert any(want in label for label in labels), (want, labels)
    lines = [line for ax in fig.axes for line in ax.lines if line.get_linestyle() == "--"]
    for value in thresholds:
        assert any(np.allclose(line.get_ydata(), value) or np.allclose(line.get_xdata(), value)
                   for line in lines), value
    return labels


def test_tile_profiles_name_tracks_and_draw_thresholds(runs):
    _, nec, _ = read_run(runs["necessity"])
    _, suf, _ = read_run(runs["sufficiency"])
    fig = plots.tile_profile_figure({"necessity": nec, "sufficiency": suf}, ["geneB"])
    _check(fig, legend=[f"{n} (track {i})" for i, n in enumerate(TRACK_NAMES)] + ["TSS", "0.3"],
           thresholds=[0.3, -0.3])
    ax = fig.axes[0]
    assert "kb from TSS" in ax.get_xlabel() and "WT" in ax.get_ylabel()
    # tiles are bars over their span (5 kb tiles would be 5 wide): 20 kb here, 3 tracks
    widths = {round(p.get_width() * 3, 6) for p in ax.patches}
    assert widths == {20.0}


def test_across_gene_figures(runs):
    _, ctx, _ = read_run(runs["context"])
    _check(plots.context_figure(ctx), legend=["enhancing > 0.95", "silencing < -0.3",
                                              TRACK_NAMES[0]], thresholds=[0.95, -0.3])
    _, dist, _ = read_run(runs["distance"])
    fig = plots.distance_figure(dist)
    _check(fig, legend=[TRACK_NAMES[2], "TSS"])
    assert "kb from TSS" in fig.axes[0].get_xlabel()
    _, ho, _ = read_run(runs["higher-order"])
    fig = plots.higher_order_figure(ho)
    labels = _check(fig, legend=["observed", "additive expectation",
                                 "multiplicative expectation"])
    for ax in fig.axes:  # tile positions in kb, not tile numbers; nothing below zero
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks[0] == "WT" and all("." in t for t in ticks[1:])
        assert ax.get_ylim()[0] == 0
        assert all((line.get_ydata() >= 0).all() for line in ax.lines)
    assert labels
    _, mult, _ = read_run(runs["multiplicity"])
    fig = plots.multiplicity_figure(mult)
    _check(fig, legend=[f"{TRACK_NAMES[2]} (track 2)", "geneA, "])
    _, fine, _ = read_run(runs["fine-tile"])
    _check(plots.fine_tile_figure(fine), legend=["kept", "removed"])


@pytest.mark.parametrize("test", ["context", "necessity", "sufficiency", "distance",
                                  "multiplicity", "fine-tile", "higher-order"])
def test_summary_figures(runs, test):
    _, _, summary = read_run(runs[test])
    fig = draw_summary(test, summary)
    _check(fig)
    for ax in fig.axes:  # gene counts are whole numbers
        if ax.get_ylabel() == "genes":
            ticks = ax.get_yticks()
            assert np.allclose(ticks, np.round(ticks))
    assert (runs[test] / "summary.png").stat().st_size > 0
    assert (runs[test] / "summary.pdf").stat().st_size > 0


def test_plot_cli_writes_png_and_pdf_per_gene(runs, tmp_path):
    out = tmp_path / "figs"
    dirs = [str(runs[t]) for t in ("necessity", "sufficiency", "higher-order", "fine-tile")]
    assert main(["-q", "plot", *dirs, "--gene", "geneA", "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for stem in ("geneA.necessity_sufficiency", "geneA.higher-order", "geneA.fine-tile",
                 "necessity.summary"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names, names
    assert not any(n.startswith("geneB") for n in names)
    assert main(["-q", "plot", dirs[0], "--gene", "nope", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
    assert main(["-q", "plot", dirs[0], "--format", "gif", "--out", str(tmp_path / "y")]) == 2
    files = plots.plot_run(runs["context"], tmp_path / "py", formats=["svg"])
    assert [p.suffix for p in files] == [".svg", ".svg"]
    assert pd.read_parquet(runs["necessity"] / "summary.parquet")["track"].dtype.kind == "i"


SECTIONS = {"activity": ["activity (run)"], "context": ["context dependence (`context`)"],
            "necessity": ["necessity", "sufficiency"],
            "sufficiency": ["sufficiency", "necessity"], "distance": ["distance"],
            "multiplicity": ["multiplicity"], "higher-order": ["higher-order"], "fine-tile": ["fine-tile"]}


def _readme_schema() -> tuple[set[str], dict[str, tuple[set[str], set[str]]]]:
    """Shared columns, and per subsection (every name it mentions, its tables' names),
    of the documentation's result schema page (docs/reference/results.md)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "reference" / "results.md"
            ).read_text()
    section = text.split("# Result schema", 1)[1]
    parts = re.split(r"^## (.+)$", section, flags=re.M)

    def table_names(block: str) -> set[str]:
        rows = [line.split("|")[1] for line in block.splitlines() if line.startswith("| `")]
        return {n for row in rows for n in re.findall(r"`([a-z_]+)`", row)}

    shared = table_names(parts[0])
    subsections = {parts[i].strip(): (set(re.findall(r"`([a-z_]+)`", parts[i + 1])),
                                      table_names(parts[i + 1]))
                   for i in range(1, len(parts), 2)}
    return shared, subsections


@pytest.mark.parametrize("test", list(SECTIONS))
def test_readme_documents_every_column(runs, test):
    """The README's schema tables list exactly what a run writes (results and summary)."""
    shared, subsections = _readme_schema()
    _, results, summary = read_run(runs[test])
    written = set(results.columns) | set(summary.columns)
    mentioned = set().union(*(subsections[s][0] for s in SECTIONS[test])) | shared
    assert written <= mentioned, sorted(written - mentioned)
    own = subsections[SECTIONS[test][0]][1]
    assert own <= written, sorted(own - written)
