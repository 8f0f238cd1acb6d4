"""A run's summary figure (``DIR/summary.png`` and ``.pdf``): the distribution of
each test's main value across genes, per track, with the paper's thresholds."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from creme_fast.assays.registry import TESTS
from creme_fast.plots.figures import context_figure, tracks_of
from creme_fast.plots.style import (
    COLUMN_IN,
    PAGE_IN,
    TRACK_COLOURS,
    figure,
    genes_text,
    save,
    styled,
    threshold_line,
)
from creme_fast.schema.bed import THRESHOLD

__all__ = ["context_summary", "draw_summary", "interaction_summary", "summary_figure",
           "tile_summary", "value_summary"]


def _histogram(ax: Any, frame: pd.DataFrame, column: str, label: str) -> None:
    """Histograms per track on shared bins, the tracks' bars side by side within each
    bin (equal counts stay visible), whole gene counts."""
    values = frame[column].dropna().to_numpy(dtype=np.float64)
    n_bins = min(20, max(len(np.unique(values)), 1))
    if len(values) and np.ptp(values) == 0:  # one value: a bin around it, not +-0.5
        half = max(abs(float(values[0])) * 0.1, 1e-3)
        edges = np.array([values[0] - half, values[0] + half])
    else:
        edges = (np.histogram_bin_edges(values, bins=n_bins) if len(values)
                 else np.linspace(0, 1, 11))
    tracks = tracks_of(frame) or [(None, "all genes")]
    width = np.diff(edges) / len(tracks)
    for k, (track, name) in enumerate(tracks):
        rows = frame if track is None else frame[frame["track"] == track]
        counts, _ = np.histogram(rows[column].dropna(), bins=edges)
        ax.bar(edges[:-1] + k * width, counts, width, align="edge",
               color=TRACK_COLOURS[k % len(TRACK_COLOURS)], label=name)
    ax.set_xlabel(label)
    ax.set_ylabel("genes")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def draw_summary(test: str, summary: pd.DataFrame) -> Figure:
    """The summary figure of a run of ``test`` from its ``summary`` table (the test's
    spec names the drawing: :data:`creme_fast.assays.registry.TESTS`)."""
    return TESTS[test].summary_figure(test, summary)


def context_summary(test: str, summary: pd.DataFrame) -> Figure:
    """The context effects' histogram across genes."""
    return context_figure(summary)


@styled
def tile_summary(test: str, summary: pd.DataFrame) -> Figure:
    """The strongest tile's effect per gene, and enhancing tiles per gene."""
    genes = summary["name"].nunique()
    fig, axes = figure(PAGE_IN, 2.8, 1, 2)
    _histogram(axes[0, 0], summary, "top_effect", f"strongest tile's {test} effect")
    threshold_line(axes[0, 0], THRESHOLD, f"+{THRESHOLD} (enhancing)", axis="x")
    axes[0, 0].set_title(f"{test}: strongest tile per gene")
    ax = axes[0, 1]
    tracks = tracks_of(summary)
    top = int(summary[["enhancer_tiles", "silencer_tiles"]].max().max()) if len(summary) else 0
    width = 0.8 / max(len(tracks), 1)
    for k, (track, name) in enumerate(tracks):
        rows = summary[summary["track"] == track]
        counts = np.bincount(rows["enhancer_tiles"].astype(int), minlength=top + 1)
        ax.bar(np.arange(top + 1) - 0.4 + (k + 0.5) * width, counts, width,
               color=TRACK_COLOURS[k % len(TRACK_COLOURS)], label=name)
    ax.set_xlabel(f"enhancing tiles per gene (effect > {THRESHOLD})")
    ax.set_ylabel("genes")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{test}: {genes_text(genes)}")
    for a in axes[0]:
        a.legend(frameon=False)
    return fig


@styled
def interaction_summary(test: str, summary: pd.DataFrame) -> Figure:
    """Genes per interaction class of the greedy tile set (last round)."""
    genes = summary["name"].nunique()
    fig, axes = figure(COLUMN_IN * 1.4, 2.6)
    ax = axes[0, 0]
    classes = ["super-additive", "additive", "sub-additive"]
    counts = summary["classification"].value_counts().reindex(classes, fill_value=0)
    ax.bar(classes, counts.to_numpy(), color=TRACK_COLOURS[:3])
    ax.set_ylabel("genes")
    ax.set_xlabel("interaction of the greedy tile set (last round)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    track = tracks_of(summary)
    ax.set_title(f"{test}: {genes_text(genes)}" + (f", {track[0][1]}" if track else ""))
    return fig


@styled
def value_summary(test: str, summary: pd.DataFrame, column: str, label: str) -> Figure:
    """The histogram of one summary column across genes, per track."""
    genes = summary["name"].nunique()
    fig, axes = figure(COLUMN_IN * 1.4, 2.6)
    _histogram(axes[0, 0], summary, column, label)
    axes[0, 0].set_title(f"{test}: {genes_text(genes)}")
    axes[0, 0].legend(frameon=False)
    return fig


def summary_figure(test: str, summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``: the summary figure of a run of ``test``."""
    return save(draw_summary(test, summary), stem)
