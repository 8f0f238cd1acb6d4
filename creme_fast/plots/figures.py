"""The paper's figures, each drawn from result-schema tables (see
:mod:`creme_fast.schema.frames`): a Python result's ``to_frame()``, a run's
``results/*.parquet`` or summary, or the demo's tables."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from creme_fast.assays.context import ENHANCING, NEUTRAL, SILENCING
from creme_fast.plots.style import (
    COLUMN_IN,
    PAGE_IN,
    TRACK_COLOURS,
    figure,
    figure_legend,
    genes_text,
    styled,
    threshold_line,
    track_label,
)
from creme_fast.schema.bed import THRESHOLD

__all__ = ["context_figure", "distance_figure", "fine_tile_figure", "higher_order_figure",
           "multiplicity_figure", "tile_profile_figure", "tracks_of"]

EFFECT_LABELS = {
    "necessity": "necessity effect\n(WT − tile shuffled) / WT",
    "sufficiency": "sufficiency effect\n(tile − control) / WT",
}


def tracks_of(frame: pd.DataFrame) -> list[tuple[int, str]]:
    """``(track, legend label)`` of each track of a table, in its order."""
    if "track" not in frame:
        return []
    cols = ["track"] + (["track_name"] if "track_name" in frame else [])
    first = frame[cols].drop_duplicates("track")
    names = first["track_name"] if "track_name" in first else [None] * len(first)
    return [(int(t), track_label(int(t), n)) for t, n in zip(first["track"], names)]


def _colour(k: int) -> str:
    return TRACK_COLOURS[k % len(TRACK_COLOURS)]


def _kb_span(frame: pd.DataFrame, start: str = "tile_start", end: str = "tile_end"
             ) -> tuple[np.ndarray, np.ndarray]:
    """Left edge and width in kb from the TSS (gene orientation) of each row's region."""
    left = frame["tss_offset"].to_numpy(dtype=np.float64) / 1000
    width = (frame[end] - frame[start]).to_numpy(dtype=np.float64) / 1000
    return left, width


def _genes(frames: Mapping[str, pd.DataFrame], genes: Sequence[str] | None) -> list[str]:
    if genes is not None:
        return list(genes)
    seen: dict[str, None] = {}
    for frame in frames.values():
        seen.update(dict.fromkeys(frame["name"].astype(str)))
    return list(seen)


@styled
def tile_profile_figure(frames: Mapping[str, pd.DataFrame], genes: Sequence[str] | None = None,
                        marks: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """Necessity and/or sufficiency of every tile along each gene's window.

    One row per gene, one column per test in ``frames`` (``{"necessity": table,
    "sufficiency": table}``); x: kb from the TSS (upstream negative), each tile a
    bar over its span, the tracks side by side within it (so equal values stay
    visible), the paper's ±0.3 thresholds and the TSS drawn and in the legend.
    ``marks`` (gene -> positions in kb) draws known elements (the demo's planted
    ones).
    """
    tests = [t for t in ("necessity", "sufficiency") if t in frames]
    if not tests:
        raise ValueError("tile_profile_figure needs a necessity or sufficiency table")
    genes = _genes(frames, genes)
    fig, axes = figure(PAGE_IN, 0.6 + 1.7 * len(genes), len(genes), len(tests), sharex=True)
    for i, gene in enumerate(genes):
        for j, test in enumerate(tests):
            ax = axes[i, j]
            rows = frames[test][frames[test]["name"].astype(str) == gene]
            tracks = tracks_of(rows)
            for k, (track, label) in enumerate(tracks):
                one = rows[rows["track"] == track]
                left, width = _kb_span(one)
                ax.bar(left + k * width / len(tracks), one["effect"], width / len(tracks),
                       align="edge", color=_colour(k), label=label, lw=0)
            threshold_line(ax, THRESHOLD, f"±{THRESHOLD} (enhancing / silencing)")
            ax.axhline(-THRESHOLD, color="0.35", lw=0.8, ls="--", zorder=1)
            ax.axhline(0, color="0.6", lw=0.5, zorder=1)
            ax.axvline(0, color="k", lw=0.8, ls=":", label="TSS")
            for x in (marks or {}).get(gene, []):
                ax.axvline(x, color="0.2", lw=3, alpha=0.15)
            if (marks or {}).get(gene):
                ax.plot([], [], color="0.2", lw=3, alpha=0.3, label="planted element")
            ax.set_title(f"{gene}: {test}")
            ax.set_ylabel(EFFECT_LABELS[test])
            if i == len(genes) - 1:
                ax.set_xlabel("tile position, kb from TSS (gene orientation)")
    figure_legend(fig, axes)
    return fig


@styled
def context_figure(frame: pd.DataFrame) -> Figure:
    """Context effect ``(WT - shuffled) / WT`` across genes: a histogram per track
    with the paper's category thresholds (enhancing > 0.95, neutral ``|x| < 0.05``,
    silencing < -0.3); with a dozen genes or fewer, one bar per gene and track."""
    fig, axes = figure(COLUMN_IN * 1.6, 2.8)
    ax = axes[0, 0]
    tracks = tracks_of(frame)
    genes = list(dict.fromkeys(frame["name"].astype(str)))
    if len(genes) <= 12:
        x = np.arange(len(genes))
        width = 0.8 / max(len(tracks), 1)
        for k, (track, label) in enumerate(tracks):
            one = frame[frame["track"] == track].set_index(frame["name"].astype(str)[
                frame["track"] == track]).reindex(genes)
            pos = x - 0.4 + (k + 0.5) * width
            ax.bar(pos, one["effect"], width, color=_colour(k), label=label,
                   edgecolor="k", lw=0.4)
            ax.plot(pos, one["effect"], "_", color="k", ms=6, mew=1)  # a zero is visible
        ax.set_xticks(x, genes, rotation=30, ha="right")
        ax.set_ylabel("context effect (WT − shuffled) / WT")
        ax.set_xlabel("gene")
        for y, label in ((ENHANCING, f"enhancing > {ENHANCING}"),
                         (SILENCING, f"silencing < {SILENCING}")):
            threshold_line(ax, y, label)
        ax.axhspan(-NEUTRAL, NEUTRAL, color="0.85", label=f"neutral |x| < {NEUTRAL}", zorder=0)
    else:
        values = frame["effect"].dropna().to_numpy()
        edges = np.histogram_bin_edges(values, bins=30) if len(values) else np.linspace(-1, 1, 31)
        for k, (track, label) in enumerate(tracks):
            ax.hist(frame.loc[frame["track"] == track, "effect"].dropna(), bins=edges,
                    histtype="step", lw=1.2, color=_colour(k), label=label)
        ax.set_xlabel("context effect (WT − shuffled) / WT")
        ax.set_ylabel("genes")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        for y, label in ((ENHANCING, f"enhancing > {ENHANCING}"),
                         (SILENCING, f"silencing < {SILENCING}")):
            threshold_line(ax, y, label, axis="x")
        ax.axvspan(-NEUTRAL, NEUTRAL, color="0.85", label=f"neutral |x| < {NEUTRAL}", zorder=0)
    ax.set_title(f"context dependence: {genes_text(len(genes))}")
    figure_legend(fig, axes)
    return fig


@styled
def distance_figure(frame: pd.DataFrame, expected: Mapping[str, Any] | None = None) -> Figure:
    """TSS activity as the CRE moves along a shuffled background: activity against
    the CRE centre's distance from the TSS (kb), one line per gene and track.
    ``expected``: ``{"distance_kb": x, "activity": y, "label": str}`` drawn as a
    reference curve (the demo's grammar)."""
    fig, axes = figure(COLUMN_IN * 1.6, 2.8)
    ax = axes[0, 0]
    genes = list(dict.fromkeys(frame["name"].astype(str)))
    for k, (track, label) in enumerate(tracks_of(frame)):
        for g, gene in enumerate(genes):
            one = frame[(frame["track"] == track) & (frame["name"].astype(str) == gene)]
            one = one.sort_values("distance_bp")
            ax.plot(one["distance_bp"] / 1000, one["activity"], marker="o", ms=2.5, lw=0.9,
                    color=_colour(k), alpha=1 if len(genes) == 1 else 0.6,
                    label=label if g == 0 else None)
    if expected is not None:
        ax.plot(expected["distance_kb"], expected["activity"], color="k", lw=1, ls="--",
                label=expected.get("label", "expected"))
    ax.axvline(0, color="k", lw=0.8, ls=":", label="TSS")
    ax.set_xlabel("CRE centre, kb from TSS (gene orientation)")
    ax.set_ylabel("TSS activity (mean over bins)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"distance: {', '.join(genes[:3])}{' ...' if len(genes) > 3 else ''}")
    ax.legend(frameon=False)
    return fig


@styled
def higher_order_figure(frame: pd.DataFrame, genes: Sequence[str] | None = None) -> Figure:
    """The greedy higher-order trajectory per gene: activity after each round's tile
    is shuffled (observed) against the additive and multiplicative expectations of
    the single-tile effects (floored at zero: activity is not negative); x: the
    tiles in the order chosen, labelled by their centre in kb from the TSS."""
    genes = _genes({"h": frame}, genes)
    fig, axes = figure(max(4.5, min(PAGE_IN, 3.2 * len(genes))), 3.0, 1, len(genes))
    for ax, gene in zip(axes[0], genes):
        one = frame[frame["name"].astype(str) == gene].sort_values("round")
        wt = float(one["wt"].iloc[0])
        rounds = np.arange(len(one) + 1)
        centre = (one["tss_offset"] + (one["tile_end"] - one["tile_start"]) / 2) / 1000
        ax.plot(rounds, np.r_[wt, one["observed"]], "o-", color="k", label="observed")
        ax.plot(rounds, np.maximum(np.r_[wt, one["additive"]], 0), "s--",
                color=TRACK_COLOURS[0], label="additive expectation (floored at 0)")
        ax.plot(rounds, np.maximum(np.r_[wt, one["multiplicative"]], 0), "^:",
                color=TRACK_COLOURS[1], label="multiplicative expectation")
        ax.set_xticks(rounds, ["WT"] + [f"{c:+.1f}" for c in centre])
        ax.set_xlabel("tiles shuffled in greedy order\n(tile centre, kb from TSS)")
        ax.set_ylabel("TSS activity")
        ax.set_ylim(bottom=0)
        track = tracks_of(one)
        title = f"{gene}: {one['classification'].iloc[-1]}"
        ax.set_title(title + (f"\n{track[0][1]}" if track else ""))
    figure_legend(fig, axes, ncols=3 if len(genes) > 1 else 1)
    return fig


@styled
def multiplicity_figure(frame: pd.DataFrame, ceiling: float | None = None) -> Figure:
    """TSS activity against the number of CRE copies inserted (0: background + TSS
    tile only), per gene, with the track it follows named."""
    fig, axes = figure(COLUMN_IN * 1.4, 2.6)
    ax = axes[0, 0]
    genes = list(dict.fromkeys(frame["name"].astype(str)))
    for g, gene in enumerate(genes):
        one = frame[frame["name"].astype(str) == gene].sort_values("copies")
        track = tracks_of(one)
        ax.plot(one["copies"], one["activity"], "o-", color=_colour(g),
                label=f"{gene}, {track[0][1]}" if track else gene)
    if ceiling is not None:
        threshold_line(ax, ceiling, f"model ceiling ({ceiling:g})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("copies of the CRE inserted")
    ax.set_ylabel("TSS activity")
    ax.set_ylim(bottom=0)
    ax.set_title("multiplicity")
    ax.legend(frameon=False)
    return fig


@styled
def fine_tile_figure(frame: pd.DataFrame, genes: Sequence[str] | None = None,
                     marks: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> Figure:
    """The sub-tiles of each gene's CRE the fine-tile search kept (the CRE's active
    parts) and removed, along the CRE in kb from the TSS. ``marks`` (gene -> list of
    (start, end) in kb) draws known motifs (the demo's planted copies)."""
    genes = _genes({"f": frame}, genes)
    fig, axes = figure(PAGE_IN, 0.9 + 0.9 * len(genes), len(genes), 1)
    for ax, gene in zip(axes[:, 0], genes):
        one = frame[frame["name"].astype(str) == gene]
        left, width = _kb_span(one)
        kept = one["kept"].to_numpy(dtype=bool)
        ax.broken_barh(list(zip(left[~kept], width[~kept])), (0.1, 0.8), color="0.85",
                       label="removed (shuffled without losing the effect)")
        ax.broken_barh(list(zip(left[kept], width[kept])), (0.1, 0.8), color=TRACK_COLOURS[0],
                       label="kept (needed for the effect)")
        for k, (start, end) in enumerate((marks or {}).get(gene, [])):
            ax.plot([start, end], [1.05, 1.05], color="#D55E00", lw=3,
                    label="planted motif" if k == 0 else None, solid_capstyle="butt")
        kept_bp = int((one.loc[kept, "tile_end"] - one.loc[kept, "tile_start"]).sum())
        cre_bp = int((one["cre_end"] - one["cre_start"]).iloc[0]) if len(one) else 0
        track = tracks_of(one)
        ax.set_title(f"{gene}: fine-tile search kept {kept_bp:,} of {cre_bp:,} bp"
                     + (f", {track[0][1]}" if track else ""))
        ax.set_ylim(0, 1.3)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("position in the CRE, kb from TSS (gene orientation)")
    figure_legend(fig, axes)
    return fig
