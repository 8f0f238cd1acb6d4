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

from creme_fast import assays, plots
from creme_fast.io.genome import Genome
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
    lines = [line for ax in fig.axes for line in ax.lines
             if line.get_linestyle() in ("--", "-.")]
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
    bars = [p for c in ax.containers if hasattr(c, "patches") for p in c.patches]
    widths = {round(p.get_width() * 3, 6) for p in bars}
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
    for ax in fig.axes:  # tile positions in kb, not tile numbers
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks[0] == "WT" and all("." in t for t in ticks[1:])
    assert labels
    _, mult, _ = read_run(runs["multiplicity"])
    fig = plots.multiplicity_figure(mult)
    _check(fig, legend=[f"{TRACK_NAMES[2]} (track 2)", "geneA, ", "saturation"])
    _, fine, _ = read_run(runs["fine-tile"])
    fig = plots.fine_tile_figure(fine)
    _check(fig, legend=["kept", "removed"])
    assert all("of the CRE's effect" in ax.get_title() for ax in fig.axes)


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
    assert [p.suffix for p in files] == [".svg", ".svg", ".tsv"]  # the figures, index.tsv
    assert pd.read_parquet(runs["necessity"] / "summary.parquet")["track"].dtype.kind == "i"


SECTIONS = {"activity": ["activity (run)"], "context": ["context dependence (`context`)"],
            "necessity": ["necessity", "sufficiency", "necessity and sufficiency summaries"],
            "sufficiency": ["sufficiency", "necessity", "necessity and sufficiency summaries"],
            "distance": ["distance"],
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


# --- issue 32: figures that show each test's call ---------------------------------------

MM = 72 / 25.4  # PDF points per mm


def _all_figures(runs, out):
    return plots.plot_run([runs[t] for t in SECTIONS], out)


def test_pdfs_embed_type42_fonts_at_89_or_183_mm(runs, tmp_path):
    """Observed: PDFs embed Type 3 fonts and are 114-163 mm wide."""
    files = _all_figures(runs, tmp_path)
    pdfs = [p for p in files if p.suffix == ".pdf"]
    assert len(pdfs) >= 15
    for pdf in pdfs:
        data = pdf.read_bytes()
        assert b"/Type3" not in data and b"/FontFile2" in data, pdf.name
        box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
        width_mm = float(box.group(1)) / MM
        assert min(abs(width_mm - 89), abs(width_mm - 183)) < 0.1, (pdf.name, width_mm)
    for png in (p for p in files if p.suffix == ".png"):
        width = plt_image_width(png)
        assert min(abs(width - 89 / 25.4 * 200), abs(width - 183 / 25.4 * 200)) <= 1, png.name


def plt_image_width(path: Path) -> int:
    """A PNG's width in pixels (from its IHDR chunk)."""
    return int.from_bytes(path.read_bytes()[16:20], "big")


def _legends_outside(fig) -> None:
    """No legend inside an axes, and no figure legend over any axes."""
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    assert not any(ax.get_legend() for ax in fig.axes)
    boxes = [legend.get_window_extent(renderer) for legend in fig.legends]
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1:])
        for ax in fig.axes:
            if ax.axison:
                assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()


def _figures_of(runs):
    _, nec, _ = read_run(runs["necessity"])
    _, suf, _ = read_run(runs["sufficiency"])
    yield plots.tile_profile_figure({"necessity": nec, "sufficiency": suf})
    for test, draw in (("context", plots.context_figure), ("distance", plots.distance_figure),
                       ("higher-order", plots.higher_order_figure),
                       ("multiplicity", plots.multiplicity_figure),
                       ("fine-tile", plots.fine_tile_figure)):
        _, results, summary = read_run(runs[test])
        yield draw(results)
        yield draw_summary(test, summary)


def test_legends_sit_outside_the_data(runs):
    """Observed: legends printed over the bars (distance, multiplicity summaries)."""
    for fig in _figures_of(runs):
        _legends_outside(fig)


def test_tile_profile_error_bars_shared_y_tss_tile_and_reference_legend(runs):
    """Observed: no error bars although std_mut exists, y limits not shared within a
    column, the TSS tile not marked, thresholds and track colours in one legend."""
    _, nec, _ = read_run(runs["necessity"])
    _, suf, _ = read_run(runs["sufficiency"])
    # the synthetic model gives every shuffle of a tile the same activity (sd 0): give
    # the tiles a spread so the bars can be measured
    nec = nec.assign(std_mut=nec["wt"].abs() * 0.01 * (1 + nec["tile"]))
    suf = suf.assign(std_mut=suf["wt"].abs() * 0.02 * (1 + suf["tile"]))
    fig = plots.tile_profile_figure({"necessity": nec, "sufficiency": suf}, ["geneA", "geneB"])
    axes = np.array(fig.axes).reshape(2, 2)
    for col in range(2):
        assert axes[0, col].get_ylim() == axes[1, col].get_ylim()
    for test, frame, ax in (("necessity", nec, axes[0, 0]), ("sufficiency", suf, axes[0, 1])):
        rows = frame[frame["name"] == "geneA"]
        errors = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
        assert len(errors) == rows["track"].nunique()
        # error bar half-lengths are std_mut / |wt| of the track's tiles
        segs = np.concatenate([c.lines[2][0].get_segments() for c in errors])
        half = np.array([abs(s[1, 1] - s[0, 1]) / 2 for s in segs])
        want = (rows["std_mut"] / rows["wt"].abs()).to_numpy()
        assert np.allclose(np.sort(half), np.sort(want), rtol=1e-4, atol=1e-9), test
        assert want.max() > 0
    legends = [[t.get_text() for t in leg.get_texts()] for leg in fig.legends]
    tracks = [leg for leg in legends if any("(track 0)" in t for t in leg)]
    refs = [leg for leg in legends if any("threshold" in t for t in leg)]
    assert len(tracks) == 1 and len(refs) == 1 and tracks[0] is not refs[0]
    assert not any("threshold" in t or "TSS" in t for t in tracks[0])
    assert any("TSS tile" in t for t in refs[0]) and any(t == "TSS" for t in refs[0])


def test_tile_profile_explains_empty_panels(runs):
    _, nec, _ = read_run(runs["necessity"])
    fig = plots.tile_profile_figure({"necessity": nec}, ["geneA", "geneZ"])
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert any("no necessity result for geneZ" in t for t in texts), texts
    nan = nec[nec["name"] == "geneA"].assign(effect=np.nan, note="")
    fig = plots.tile_profile_figure({"necessity": nan})
    assert any("wild-type activity is 0" in t.get_text() for t in fig.axes[0].texts)


def test_padded_spans_mark_the_window_past_the_chromosome_start(tmp_path):
    """Observed: N-padded regions not marked. geneC's TSS is 40 bp into chr1: the
    window's first 98,264 bp are N."""
    fasta, _ = make_genome(tmp_path)
    name, chrom, tss, strand = GENES[2]
    predictor = load_synthetic()
    with Genome(fasta) as g:
        tokens = g.window(chrom, tss, strand, predictor.seq_length)
    loci = pd.DataFrame({"name": [name], "chrom": [chrom], "tss": [tss], "strand": [strand],
                         "chrom_size": [260_000]})
    frame = assays.necessity(predictor, tokens, tile_size=20000, num_shuffles=1,
                             verbose=False, loci=loci, tracks=[2]).to_frame()
    spans = plots.padded_spans(frame)
    padded = (-predictor.seq_length // 2 / 1000, -tss / 1000)  # N from the window start
    want = sum(max(0.0, min(b, padded[1]) - max(a, padded[0])) for a, b in zip(
        frame["tss_offset"] / 1000, (frame["tss_offset"] + frame["tile_end"]
                                     - frame["tile_start"]) / 1000))
    assert want > 50 and np.isclose(sum(w for _, w in spans), want)
    assert all(padded[0] - 1e-9 <= a and a + w <= padded[1] + 1e-9 for a, w in spans)
    fig = plots.tile_profile_figure({"necessity": frame})
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any("N padding" in t for t in labels)


def test_higher_order_expectations_are_not_floored(runs):
    """Observed: the additive expectation (-4.42) is floored to 0, so the call cannot
    be seen."""
    _, ho, _ = read_run(runs["higher-order"])
    one = ho[ho["name"] == "geneA"].sort_values("round").copy()
    one.loc[one.index[-1], "additive"] = -4.42
    fig = plots.higher_order_figure(one)
    ax = fig.axes[0]
    additive = [line for line in ax.lines if line.get_label().startswith("additive")][0]
    assert np.allclose(additive.get_ydata(), np.r_[one["wt"].iloc[0], one["additive"]])
    assert ax.get_ylim()[0] < -4.42
    assert one["classification"].iloc[-1] in ax.get_title()


def _points(ax):
    return [(line.get_xdata(), line.get_ydata()) for line in ax.lines
            if line.get_marker() not in (None, "None", "") and len(line.get_xdata())]


@pytest.mark.parametrize("test,x,y", [
    ("distance", "best_distance_bp", "min_fold_change"),
    ("fine-tile", "kept_bp", "effect_retained"),
    ("multiplicity", "best_copies", "saturation_fold"),
])
def test_summaries_plot_each_gene_as_points(runs, test, x, y):
    """Observed: summaries were one- or two-value histograms; the distance summary
    plotted the highest activity, not what the distance test says."""
    _, _, summary = read_run(runs[test])
    fig = draw_summary(test, summary)
    ax = fig.axes[0]
    assert not [c for c in ax.containers if type(c).__name__ == "BarContainer"]
    scale = 1000 if x.endswith("_bp") and test == "distance" else 1
    got = {(round(float(a), 6), round(float(b), 6)) for xs, ys in _points(ax)
           for a, b in zip(xs, ys) if np.isfinite(b)}
    want = {(round(float(a) / scale, 6), round(float(b), 6))
            for a, b in zip(summary[x], summary[y])}
    assert want and want <= got, (want, got)


def test_summaries_say_how_much_they_explain(runs):
    """Best distance, saturation and the effect the kept pieces retain, as columns that
    agree with the results."""
    _, dist, summary = read_run(runs["distance"])
    for row in summary.itertuples():
        rows = dist[(dist["name"] == row.name) & (dist["track"] == row.track)]
        best = rows.loc[rows["activity"].idxmax()]
        assert row.best_distance_bp == best["distance_bp"] and row.activity == best["activity"]
        assert np.isclose(row.min_fold_change, rows["fold_change"].min())
    _, mult, summary = read_run(runs["multiplicity"])
    for row in summary.itertuples():
        rows = mult[mult["name"] == row.name]
        best = rows.loc[rows["activity"].idxmax()]
        assert row.best_copies == best["copies"]
        assert np.isclose(row.saturation_fold, best["fold_over_tss_only"])
        assert np.isclose(row.one_copy_fold,
                          rows.loc[rows["copies"] == 1, "fold_over_tss_only"].iloc[0])
    _, fine, summary = read_run(runs["fine-tile"])
    assert {"cre_effect", "effect_retained", "kept_activity"} <= set(summary.columns)
    for row in summary.itertuples():
        assert np.isclose(row.effect_retained, (row.kept_activity - row.tss_only_activity)
                          / (row.cre_activity - row.tss_only_activity))
        assert np.isclose(row.cre_effect, row.cre_activity / row.tss_only_activity - 1)
        if row.kept_bp < row.cre_end - row.cre_start:  # pruned: the kept set passed 0.8
            assert row.kept_activity / row.cre_activity > 0.8
