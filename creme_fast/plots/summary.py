"""A run's summary figure (``DIR/summary.png`` and ``.pdf``): one point per gene (and
track) of the test's call, drawn from the run's summary table, one function per test
(:data:`SUMMARY_FIGURES`)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from creme_fast.plots.figures import MARKERS, TOLERANCE, context_figure, tracks_of
from creme_fast.plots.style import (
    COLUMN_IN,
    PAGE_IN,
    colour,
    empty_panel,
    figure,
    figure_legend,
    genes_text,
    reference,
    save,
    styled,
    threshold_line,
)
from creme_fast.schema.bed import THRESHOLD

__all__ = ["SUMMARY_FIGURES", "draw_summary", "summary_figure"]

CLASSES = ("super-additive", "additive", "sub-additive")


def _jitter(n: int, width: float = 0.25) -> np.ndarray:
    """Deterministic offsets in ``[-width, width]`` that spread ``n`` points (golden
    ratio sequence: no RNG, the same figure every time)."""
    return ((np.arange(n) * 0.6180339887) % 1 - 0.5) * 2 * width


def _by_track(summary: pd.DataFrame) -> list[tuple[int, str, pd.DataFrame]]:
    """``(k, legend label, rows)`` per track (one group for a table without tracks)."""
    tracks = tracks_of(summary)
    if not tracks:
        return [(0, "genes", summary)]
    return [(k, label, summary[summary["track"] == track])
            for k, (track, label) in enumerate(tracks)]


def _title(ax: Any, test: str, summary: pd.DataFrame, what: str) -> None:
    ax.set_title(f"{test}: {what}, {genes_text(summary['name'].nunique())}")


@styled
def activity_summary(summary: pd.DataFrame) -> Figure:
    """Wild-type TSS activity: one point per gene, one column of points per track."""
    fig, axes = figure(COLUMN_IN, 2.6)
    ax = axes[0, 0]
    groups = _by_track(summary)
    for k, label, rows in groups:
        ax.plot(k + _jitter(len(rows)), rows["activity"], "o", ms=3, alpha=0.8,
                color=colour(k), label=label)
    ax.set_xticks([k for k, _, _ in groups], [label for _, label, _ in groups], rotation=20,
                  ha="right")
    ax.set_xlabel("track")
    ax.set_ylabel("TSS activity (mean over bins)")
    _title(ax, "activity", summary, "wild type")
    figure_legend(fig, axes, ncols=1)
    return fig


@styled
def context_summary(summary: pd.DataFrame) -> Figure:
    """The context effect per gene with the paper's categories (Fig. 1)."""
    return context_figure(summary)


def _tile_summary(test: str) -> Callable[[pd.DataFrame], Figure]:
    @styled
    def draw(summary: pd.DataFrame) -> Figure:
        fig, axes = figure(PAGE_IN, 2.9, 1, 2)
        ax, counts = axes[0]
        groups = _by_track(summary)
        for k, label, rows in groups:
            shift = k - (len(groups) - 1) / 2  # tracks side by side, 1 kb apart
            x = (rows["top_tile_tss_offset"].astype("float64")
                 + (rows["top_tile_end"] - rows["top_tile_start"]) / 2) / 1000 \
                if "top_tile_tss_offset" in rows else np.zeros(len(rows))
            ax.plot(x + shift, rows["top_effect"], MARKERS[k % len(MARKERS)], ms=3.5,
                    alpha=0.85, color=colour(k), label=label)
            jitter = k + _jitter(len(rows), 0.3)
            counts.plot(jitter, rows["enhancer_tiles"], "^", ms=3.5, alpha=0.85,
                        color=colour(k))
            counts.plot(jitter, -rows["silencer_tiles"], "v", ms=3.5, alpha=0.85,
                        color=colour(k), mfc="white")
        threshold_line(ax, THRESHOLD, f"±{THRESHOLD} threshold (enhancing / silencing)")
        threshold_line(ax, -THRESHOLD, None)
        reference(ax.axvline(0, color="k", lw=0.8, ls=":", label="TSS"))
        if summary["top_effect"].notna().sum() == 0:
            empty_panel(ax, "no effects: wild-type activity is 0 for every gene (NaN)")
        ax.set_xlabel("strongest tile's centre, kb from TSS\n(tracks side by side)")
        ax.set_ylabel(f"strongest tile's {test} effect")
        _title(ax, test, summary, "strongest tile per gene")
        counts.plot([], [], "^", ms=3.5, color="0.4", gid="reference",
                    label=f"enhancing tiles (effect > {THRESHOLD})")
        counts.plot([], [], "v", ms=3.5, color="0.4", mfc="white", gid="reference",
                    label=f"silencing tiles (effect < −{THRESHOLD}), drawn below 0")
        counts.axhline(0, color="0.6", lw=0.5)
        counts.set_xticks(range(len(groups)), [label for _, label, _ in groups])
        counts.set_xlim(-0.6, len(groups) - 0.4)
        counts.set_xlabel("track (genes spread within it)")
        counts.set_ylabel("tiles called per gene\n(silencing below 0)")
        counts.yaxis.set_major_locator(MaxNLocator(integer=True))
        counts.set_title("tiles called per gene")
        figure_legend(fig, axes)
        return fig
    draw.__name__ = f"{test}_summary"
    draw.__doc__ = (f"{test.capitalize()}: per gene and track, the strongest tile's effect "
                    "against its position (with the ±0.3 thresholds), and the enhancing "
                    "and silencing tiles called.")
    return draw


@styled
def distance_summary(summary: pd.DataFrame) -> Figure:
    """Distance (Fig. 4): per gene and track, the best CRE distance from the TSS and
    how much the worst position costs (its fold change over the best)."""
    fig, axes = figure(COLUMN_IN, 2.8)
    ax = axes[0, 0]
    for k, label, rows in _by_track(summary):
        ax.plot(rows["best_distance_bp"] / 1000, rows["min_fold_change"], "o", ms=3.5,
                alpha=0.85, color=colour(k), label=label)
    reference(ax.axvline(0, color="k", lw=0.8, ls=":", label="TSS"))
    threshold_line(ax, 1, "no cost (fold change 1)", colour="0.6", ls="-")
    ax.set_xlabel("best CRE position, kb from TSS")
    ax.set_ylabel("fold change at the worst position\n(over the best)")
    ax.set_ylim(0, 1.05)
    _title(ax, "distance", summary, "best position")
    figure_legend(fig, axes, ncols=1)
    return fig


@styled
def multiplicity_summary(summary: pd.DataFrame) -> Figure:
    """Multiplicity (ED Fig. 10): per gene, the fold over the TSS tile alone with one
    copy (open) and at saturation (filled, at the copy number that gives it), joined."""
    fig, axes = figure(COLUMN_IN, 2.8)
    ax = axes[0, 0]
    for k, label, rows in _by_track(summary):
        for row in rows.itertuples():  # one short line per gene: one copy to saturation
            ax.plot([1, row.best_copies], [row.one_copy_fold, row.saturation_fold], "-",
                    lw=0.5, color=colour(k), alpha=0.5)
        ax.plot(np.ones(len(rows)), rows["one_copy_fold"], "o", ms=3.5, mfc="white",
                color=colour(k), alpha=0.8)
        ax.plot(rows["best_copies"], rows["saturation_fold"], "o", ms=3.5, color=colour(k),
                alpha=0.8, label=label)
    ax.plot([], [], "o", ms=3.5, mfc="white", color="0.4", gid="reference", label="one copy")
    ax.plot([], [], "o", ms=3.5, color="0.4", gid="reference",
            label="saturation (highest activity)")
    threshold_line(ax, 1, "TSS tile alone (0 copies)", colour="0.6", ls="-")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("copies of the CRE inserted")
    ax.set_ylabel("activity / activity with 0 copies")
    ax.set_ylim(bottom=0)
    _title(ax, "multiplicity", summary, "saturation")
    figure_legend(fig, axes, ncols=1)
    return fig


@styled
def fine_tile_summary(summary: pd.DataFrame) -> Figure:
    """Fine-tile (Fig. 3): per gene, the bp of the CRE kept against the fraction of
    the CRE's effect the kept pieces retain (genes without that fraction: at the
    bottom, marked)."""
    fig, axes = figure(COLUMN_IN, 2.8)
    ax = axes[0, 0]
    retained = (summary["effect_retained"] if "effect_retained" in summary
                else pd.Series(np.nan, index=summary.index))
    for k, label, rows in _by_track(summary):
        ax.plot(rows["kept_bp"], retained.loc[rows.index], "o", ms=3.5, alpha=0.85,
                color=colour(k), label=label)
    missing = summary[retained.isna() & summary["kept_bp"].notna()]
    if len(missing):
        ax.plot(missing["kept_bp"], np.zeros(len(missing)), "x", ms=4, color="0.3",
                gid="reference", label="no fraction: the CRE has no effect")
    threshold_line(ax, 1, "the whole CRE's effect", colour="0.6", ls="-")
    ax.axhline(0, color="0.6", lw=0.5)
    if len(summary):
        ax.set_xlim(0, float((summary["cre_end"] - summary["cre_start"]).max()) * 1.03)
    ax.set_xlabel("bp of the CRE kept (axis: the whole CRE)")
    ax.set_ylabel("fraction of the CRE's effect\nretained by the kept pieces")
    if summary["kept_bp"].notna().sum() == 0:
        empty_panel(ax, "nothing pruned: no CRE had an effect to keep")
    _title(ax, "fine-tile", summary, "kept pieces")
    figure_legend(fig, axes, ncols=1)
    return fig


@styled
def higher_order_summary(summary: pd.DataFrame) -> Figure:
    """Higher-order (Fig. 5): per gene, the observed loss of activity (WT - observed,
    over WT) after the last greedy round against the additive expectation's, with
    the additive band (±10%) the call is made against; colour: the class."""
    fig, axes = figure(COLUMN_IN, 3.0)
    ax = axes[0, 0]
    wt = summary["wt"].astype("float64").where(summary["wt"] != 0)
    observed = (wt - summary["final_observed"]) / wt
    additive = (wt - summary["final_additive"]) / wt
    top = float(np.nanmax(np.r_[observed.abs(), additive.abs(), 1.0]))
    line = np.linspace(-top, top * 1.05, 50)
    reference(ax.fill_between(line, line * (1 - TOLERANCE), line * (1 + TOLERANCE),
                              color="0.85", lw=0, label=f"additive: within ±{TOLERANCE:.0%}"))
    reference(ax.plot(line, line, color="0.4", lw=0.8, ls="--", label="observed = additive")[0])
    for k, name in enumerate(CLASSES):
        pick = summary["classification"] == name
        ax.plot(additive[pick], observed[pick], "o", ms=3.5, color=colour(k),
                label=f"{name} ({int(pick.sum())})")
    if wt.isna().all():
        empty_panel(ax, "no loss to draw: wild-type activity is 0 for every gene")
    ax.set_xlabel("additive expectation's loss, (WT − additive) / WT")
    ax.set_ylabel("observed loss\n(WT − observed) / WT")
    track = tracks_of(summary)
    _title(ax, "higher-order", summary, "last round"
           + (f" ({track[0][1]})" if track else ""))
    figure_legend(fig, axes, ncols=1)
    return fig


SUMMARY_FIGURES: dict[str, Callable[[pd.DataFrame], Figure]] = {
    "activity": activity_summary,
    "context": context_summary,
    "necessity": _tile_summary("necessity"),
    "sufficiency": _tile_summary("sufficiency"),
    "distance": distance_summary,
    "multiplicity": multiplicity_summary,
    "fine-tile": fine_tile_summary,
    "higher-order": higher_order_summary,
}


def draw_summary(test: str, summary: pd.DataFrame) -> Figure:
    """The summary figure of a run of ``test`` from its ``summary`` table."""
    if test not in SUMMARY_FIGURES:
        raise ValueError(f"no summary figure for test {test!r}")
    return SUMMARY_FIGURES[test](summary)


def summary_figure(test: str, summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``: the summary figure of a run of ``test``."""
    return save(draw_summary(test, summary), stem)
