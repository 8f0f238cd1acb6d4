"""Two models side by side: ``creme-fast plot --compare RUN_A RUN_B``.

"Do Enformer and Borzoi agree about this gene?" Two run directories of the same
test (e.g. one per model) are matched by gene, and for tile tests by tile in genome
coordinates (chromosome, start, end: tiles centred on the same TSS coincide whatever
each model's window), and drawn against each other with the rank (Spearman)
correlation: the wild-type activity per gene (the paper's Extended Data Fig. 2a) and
the test's effect (per gene for context dependence, per tile for necessity and
sufficiency). The matched table is written beside the figure.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from creme_fast.plots.rundir import read_run
from creme_fast.plots.style import (
    COLUMN_IN,
    FORMATS,
    PAGE_IN,
    figure,
    save,
    styled,
    threshold_line,
    track_label,
)
from creme_fast.schema.bed import THRESHOLD

__all__ = ["COMPARED_TESTS", "compare_figure", "compare_runs", "match_runs"]

log = logging.getLogger(__name__)

#: Tests whose runs can be compared, and the columns that key a row within a gene.
COMPARED_TESTS = {"context": [], "necessity": ["chrom", "start", "end"],
                  "sufficiency": ["chrom", "start", "end"]}
_EFFECT = {"context": "context effect (WT − shuffled) / WT",
           "necessity": "necessity effect (WT − tile shuffled) / WT",
           "sufficiency": "sufficiency effect (tile − control) / WT"}


def _pick_track(results: pd.DataFrame, track: int | None, directory: Path) -> pd.DataFrame:
    tracks = list(dict.fromkeys(int(t) for t in results["track"]))
    chosen = tracks[0] if track is None else int(track)
    if chosen not in tracks:
        raise ValueError(f"{directory}: track {chosen} is not in the run (it has "
                         f"{', '.join(map(str, tracks))})")
    if track is None and len(tracks) > 1:
        log.info("%s: comparing track %d (the run has %s; choose with --compare-tracks)",
                 directory, chosen, ", ".join(map(str, tracks)))
    return results[results["track"] == chosen]


def match_runs(run_a: str | Path, run_b: str | Path, tracks: Sequence[int | None] = (None, None),
               genes: Sequence[str] | None = None) -> tuple[str, pd.DataFrame, list[str]]:
    """The rows two runs share, side by side.

    Parameters
    ----------
    run_a, run_b : path
        ``creme-fast run`` directories of the same test (context, necessity or
        sufficiency).
    tracks : pair of int or None
        The track (original index) each run is read at; None: its first track.
    genes : sequence of str, optional
        Only these genes.

    Returns
    -------
    test : str
    matched : pandas.DataFrame
        One row per gene (context) or per gene and tile (necessity, sufficiency):
        the key columns, then ``wt_a``, ``wt_b``, ``effect_a``, ``effect_b``.
    labels : list of str
        The two runs' labels (folder name and track).

    Raises
    ------
    ValueError
        Different tests, a test that cannot be compared, an absent track, or no
        gene (or tile) in common.
    """
    frames, labels, tests = [], [], []
    for directory, track in zip((Path(run_a), Path(run_b)), tracks):
        test, results, _ = read_run(directory, genes)
        tests.append(test)
        if test not in COMPARED_TESTS:
            raise ValueError(f"{directory}: a {test} run; --compare draws "
                             f"{', '.join(COMPARED_TESTS)} runs")
        rows = _pick_track(results, track, directory)
        name = rows["track_name"].iloc[0] if "track_name" in rows else None
        labels.append(f"{directory.name}: {track_label(int(rows['track'].iloc[0]), name)}")
        frames.append(rows)
    if tests[0] != tests[1]:
        raise ValueError(f"{run_a} is a {tests[0]} run and {run_b} a {tests[1]} run: compare "
                         "runs of the same test")
    test = tests[0]
    keys = ["name"] + COMPARED_TESTS[test]
    sides = []
    for rows, side in zip(frames, ("a", "b")):
        table = rows[keys + ["wt", "effect"]].dropna(subset=keys).drop_duplicates(keys)
        sides.append(table.rename(columns={"wt": f"wt_{side}", "effect": f"effect_{side}"}))
    matched = sides[0].merge(sides[1], on=keys, how="inner")
    if not len(matched):
        what = "gene" if test == "context" else "gene and tile (in genome coordinates)"
        raise ValueError(f"{run_a} and {run_b} share no {what}")
    for side, rows in zip(("a", "b"), frames):
        lost = rows["name"].nunique() - matched["name"].nunique()
        if lost:
            log.info("%s: %d gene(s) not in the other run", labels["ab".index(side)], lost)
    return test, matched.reset_index(drop=True), labels


def _spearman(a: pd.Series, b: pd.Series) -> float:
    ok = a.notna() & b.notna()
    if ok.sum() < 3:
        return float("nan")
    return float(a[ok].rank().corr(b[ok].rank()))


def _scatter(ax, x: pd.Series, y: pd.Series, labels: list[str], title: str, *,
             log_scale: bool = False, thresholds: bool = False) -> None:
    rho = _spearman(x, y)
    ok = x.notna() & y.notna()
    ax.scatter(x, y, s=8, alpha=0.6, color="#0072B2", edgecolors="none", zorder=3)
    if ok.any():
        lo = float(min(x[ok].min(), y[ok].min()))
        hi = float(max(x[ok].max(), y[ok].max()))
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls=":", label="y = x", zorder=2)
        # log axes only for activities spanning more than a decade
        if log_scale and lo > 0 and hi / lo > 10:
            ax.set_xscale("log")
            ax.set_yscale("log")
        if thresholds:  # the paper's +-0.3, where the effects reach them
            for value in (THRESHOLD, -THRESHOLD):
                if lo <= value <= hi or abs(value) < 2 * max(abs(lo), abs(hi)):
                    threshold_line(ax, value, f"±{THRESHOLD:g}", colour="0.75")
                    threshold_line(ax, value, f"±{THRESHOLD:g}", axis="x", colour="0.75")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(f"{title}\nSpearman ρ = {rho:.2f}")
    ax.legend(loc="upper left", frameon=False)


@styled
def compare_figure(test: str, matched: pd.DataFrame, labels: list[str]) -> Figure:
    """Wild-type activity per gene, and the test's effects, of two runs against each other."""
    per_gene = matched.drop_duplicates("name")
    fig, axes = figure(PAGE_IN, COLUMN_IN, 1, 2)
    n_genes = per_gene["name"].nunique()
    _scatter(axes[0, 0], per_gene["wt_a"], per_gene["wt_b"], labels,
             f"wild-type activity ({n_genes} gene{'s' * (n_genes != 1)})", log_scale=True)
    unit = "genes" if test == "context" else "tiles"
    _scatter(axes[0, 1], matched["effect_a"], matched["effect_b"], labels,
             f"{test} effect ({len(matched)} {unit})", thresholds=test != "context")
    fig.suptitle(_EFFECT[test].replace(" effect", " effect:"), fontsize=7, color="0.3")
    return fig


def compare_runs(run_a: str | Path, run_b: str | Path, out: str | Path, *,
                 tracks: Sequence[int | None] = (None, None),
                 genes: Sequence[str] | None = None,
                 formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draw two runs against each other into ``out`` (``compare.TEST.png``/``.pdf``) and
    write the matched rows (``compare.TEST.csv``); see :func:`match_runs`."""
    test, matched, labels = match_runs(run_a, run_b, tracks, genes)
    out = Path(out)
    files = save(compare_figure(test, matched, labels), out / f"compare.{test}", formats)
    table = out / f"compare.{test}.csv"
    matched.assign(run_a=labels[0], run_b=labels[1]).to_csv(table, index=False)
    log.info("%s: %d genes, %d rows matched; Spearman of effects %.2f", test,
             matched["name"].nunique(), len(matched),
             _spearman(matched["effect_a"], matched["effect_b"]))
    return files + [table]
