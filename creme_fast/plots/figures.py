"""The paper's figures, one function per test, each drawn from result-schema tables
(see :mod:`creme_fast.schema.frames`): a Python result's ``to_frame()``, a run's
``results/*.parquet``, or the demo's tables.

Each figure shows the test's call: the thresholds or expectations it is made
against are drawn in grey and listed in a legend of their own, apart from the
tracks or genes (coloured); panels without data say why.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from creme_fast.assays.context import ENHANCING, NEUTRAL, SILENCING
from creme_fast.plots.style import (
    COLUMN_IN,
    PAGE_IN,
    colour,
    empty_panel,
    figure,
    figure_legend,
    genes_text,
    reference,
    styled,
    threshold_line,
    track_label,
)
from creme_fast.schema.bed import THRESHOLD

__all__ = ["context_figure", "distance_figure", "fine_tile_figure", "higher_order_figure",
           "multiplicity_figure", "padded_spans", "tile_profile_figure", "tracks_of"]

EFFECT_LABELS = {
    "necessity": "necessity effect\n(WT − tile shuffled) / WT",
    "sufficiency": "sufficiency effect\n(tile − control) / WT",
}
TOLERANCE = 0.1  # the higher-order test's additive band (classify_interaction's default)
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # one per track, so equal curves stay visible


def tracks_of(frame: pd.DataFrame) -> list[tuple[int, str]]:
    """``(track, legend label)`` of each track of a table, in its order."""
    if "track" not in frame:
        return []
    cols = ["track"] + (["track_name"] if "track_name" in frame else [])
    first = frame[cols].drop_duplicates("track")
    names = first["track_name"] if "track_name" in first else [None] * len(first)
    return [(int(t), track_label(int(t), n)) for t, n in zip(first["track"], names)]


def _names(frame: pd.DataFrame) -> pd.Series:
    return frame["name"].astype(str)


def _genes(frames: Mapping[str, pd.DataFrame], genes: Sequence[str] | None) -> list[str]:
    if genes is not None:
        return list(genes)
    seen: dict[str, None] = {}
    for frame in frames.values():
        seen.update(dict.fromkeys(_names(frame)))
    return list(seen)


def _kb_span(frame: pd.DataFrame, start: str = "tile_start", end: str = "tile_end"
             ) -> tuple[np.ndarray, np.ndarray]:
    """Left edge and width in kb from the TSS (gene orientation) of each row's region."""
    left = frame["tss_offset"].to_numpy(dtype=np.float64) / 1000
    width = (frame[end] - frame[start]).to_numpy(dtype=np.float64) / 1000
    return left, width


def padded_spans(frame: pd.DataFrame) -> list[tuple[float, float]]:
    """``(left, width)`` in kb from the TSS of the parts of a gene's tiles that lie past
    a chromosome end (filled with N), from the tiles' window and genome columns;
    empty when the table has no genome coordinates."""
    need = {"tss", "strand", "start", "end", "tile_start", "tile_end", "tss_offset"}
    if not need <= set(frame.columns) or not len(frame):
        return []
    tiles = frame.drop_duplicates(["tile_start", "tile_end"])
    a = tiles["tile_start"].to_numpy(np.int64)
    b = tiles["tile_end"].to_numpy(np.int64)
    half = a - tiles["tss_offset"].to_numpy(np.int64)  # L // 2
    tss = tiles["tss"].to_numpy(np.int64)
    minus = tiles["strand"].astype(str).to_numpy() == "-"
    g_start = tiles["start"].to_numpy(dtype=np.float64, na_value=np.nan)
    g_end = tiles["end"].to_numpy(dtype=np.float64, na_value=np.nan)
    # the window range each tile's genome interval covers (nothing where it is NA)
    plus_origin = tss - half
    minus_end = tss + half + 1
    lo = np.where(minus, minus_end - g_end, g_start - plus_origin)
    hi = np.where(minus, minus_end - g_start, g_end - plus_origin)
    off = np.isnan(lo)
    lo, hi = np.where(off, b, lo), np.where(off, b, hi)
    spans = []
    for s, e, c0, c1, h in zip(a, b, lo, hi, half):
        for p, q in ((s, min(c0, e)), (max(c1, s), e)):
            if q > p:
                spans.append(((p - h) / 1000, (q - p) / 1000))
    return sorted(set(spans))


def _effect_error(rows: pd.DataFrame) -> np.ndarray | None:
    """The sd over shuffles of a tile's mutant activity over |WT| (the effect's
    scale), or None when the table has no ``std_mut``."""
    if "std_mut" not in rows or "wt" not in rows:
        return None
    wt = np.abs(rows["wt"].to_numpy(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(wt > 0, rows["std_mut"].to_numpy(np.float64) / wt, np.nan)


def _tile_panel(ax: Any, rows: pd.DataFrame, test: str, gene: str,
                marks: Sequence[float]) -> None:
    """One gene's tiles for one test: bars over each tile's span (tracks side by side,
    faded where the effect does not pass the threshold), sd error bars, the TSS tile,
    N padding, thresholds, planted marks."""
    if not len(rows):
        empty_panel(ax, f"no {test} result for {gene} in the runs given")
        return
    if rows["effect"].notna().sum() == 0:
        note = rows["note"].iloc[0] if "note" in rows and rows["note"].iloc[0] else (
            "wild-type activity is 0: effects cannot be normalised (NaN)")
        empty_panel(ax, f"no effects to draw: {note}")
        return
    tracks = tracks_of(rows)
    for k, (track, label) in enumerate(tracks):
        one = rows[rows["track"] == track]
        left, width = _kb_span(one)
        effect = one["effect"].to_numpy(np.float64)
        called = np.abs(effect) > THRESHOLD
        x = left + k * width / len(tracks)
        w = width / len(tracks)
        err = _effect_error(one)
        bars = ax.bar(x, effect, w, align="edge", color=colour(k), lw=0)
        for bar, solid in zip(bars.patches, called):
            bar.set_alpha(1.0 if solid else 0.4)
        ax.add_patch(Rectangle((0, 0), 0, 0, color=colour(k), label=label))  # legend key
        if err is not None:
            ax.errorbar(x + w / 2, effect, yerr=err, fmt="none", ecolor="0.15", elinewidth=0.5)
    width = float((rows["tile_end"] - rows["tile_start"]).iloc[0]) / 1000
    reference(ax.axvspan(-width / 2, width / 2, color="0.88", lw=0, zorder=0,
                         label="TSS tile (kept in every mutant)"))
    reference(ax.axvline(0, color="k", lw=0.8, ls=":", label="TSS"))
    for left, span in padded_spans(rows):
        reference(ax.axvspan(left, left + span, facecolor="none", edgecolor="0.55",
                             hatch="////", lw=0, zorder=0,
                             label="N padding (past the chromosome end)"))
    threshold_line(ax, THRESHOLD, f"±{THRESHOLD} threshold (enhancing / silencing)")
    threshold_line(ax, -THRESHOLD, None)
    ax.axhline(0, color="0.6", lw=0.5, zorder=1)
    for x in marks:
        reference(ax.axvline(x, color="#E69F00", lw=2.5, alpha=0.35, zorder=0,
                             label="planted element"))
    if np.nanmax(np.abs(rows["effect"].to_numpy(np.float64))) < 1e-6:
        empty_panel(ax, "no tile changes activity: every effect is 0")



def _legend_note(label: str) -> Patch:
    """A legend entry that is text only (what faded bars or error bars mean)."""
    return reference(Patch(facecolor="none", edgecolor="none", label=label))


@styled
def tile_profile_figure(frames: Mapping[str, pd.DataFrame], genes: Sequence[str] | None = None,
                        marks: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """Necessity and/or sufficiency of every tile along each gene's window (Fig. 2).

    One row per gene, one column per test in ``frames`` (``{"necessity": table,
    "sufficiency": table}``), the y axis shared within a column; x: kb from the TSS
    (upstream negative). Each tile is a bar over its span, the tracks side by side
    within it, faded where ``|effect|`` does not pass the paper's 0.3 (the call),
    with the sd over shuffles (``std_mut / |wt|``) as error bars; the TSS tile,
    the TSS, N-padded parts of the window and the ±0.3 thresholds are drawn and
    listed apart from the tracks. ``marks`` (gene -> positions in kb) draws known
    elements (the demo's planted ones). A panel without data says why.
    """
    tests = [t for t in ("necessity", "sufficiency") if t in frames]
    if not tests:
        raise ValueError("tile_profile_figure needs a necessity or sufficiency table")
    genes = _genes(frames, genes)
    fig, axes = figure(PAGE_IN, 0.9 + 1.45 * len(genes), len(genes), len(tests),
                       sharex=True, sharey="col")
    for i, gene in enumerate(genes):
        for j, test in enumerate(tests):
            ax = axes[i, j]
            rows = frames[test][_names(frames[test]) == gene]
            _tile_panel(ax, rows, test, gene, (marks or {}).get(gene, []))
            ax.set_title(f"{gene}: {test}")
            ax.set_ylabel(EFFECT_LABELS[test])
            if i == len(genes) - 1:
                ax.set_xlabel("tile position, kb from TSS (gene orientation)")
    figure_legend(fig, axes, extra=[
        _legend_note(f"faded bar: |effect| ≤ {THRESHOLD}, not called"),
        _legend_note("error bar: sd over shuffles / |WT|")])
    return fig


def _category_counts(effect: pd.Series) -> dict[str, int]:
    e = effect.dropna()
    return {"enhancing": int((e > ENHANCING).sum()), "neutral": int((e.abs() < NEUTRAL).sum()),
            "silencing": int((e < SILENCING).sum())}


@styled
def context_figure(frame: pd.DataFrame) -> Figure:
    """Context effect ``(WT - shuffled) / WT`` across genes (Fig. 1) with the paper's
    categories (enhancing > 0.95, neutral |x| < 0.05, silencing < -0.3): a histogram
    per track, or with a dozen genes or fewer one point per gene and track; the
    legend counts the genes in each category."""
    tracks = tracks_of(frame)
    genes = list(dict.fromkeys(_names(frame)))
    few = len(genes) <= 12
    fig, axes = figure(COLUMN_IN, (2.3 + 0.22 * len(genes)) if few else 3.2)
    ax = axes[0, 0]
    for k, (track, label) in enumerate(tracks):
        rows = frame[frame["track"] == track]
        counts = _category_counts(rows["effect"])
        label += " ({enhancing} enh., {neutral} neutral, {silencing} sil.)".format(**counts)
        if few:
            one = rows.set_index(_names(rows)).reindex(genes)
            y = np.arange(len(genes)) + (k - (len(tracks) - 1) / 2) * 0.18
            ax.plot(one["effect"], y, "o", ms=3.5, color=colour(k), label=label)
        else:
            values = frame["effect"].dropna().to_numpy()
            edges = (np.histogram_bin_edges(values, bins=30) if len(values)
                     else np.linspace(-1, 1, 31))
            ax.hist(rows["effect"].dropna(), bins=edges, histtype="step", lw=1.2,
                    color=colour(k), label=label)
    for x, label, ls in ((ENHANCING, f"enhancing > {ENHANCING}", "--"),
                         (SILENCING, f"silencing < {SILENCING}", "-.")):
        threshold_line(ax, x, label, axis="x", ls=ls)
    reference(ax.axvspan(-NEUTRAL, NEUTRAL, color="0.85", lw=0, zorder=0,
                         label=f"neutral |x| < {NEUTRAL}"))
    ax.set_xlabel("context effect (WT − shuffled) / WT")
    if few:
        ax.set_yticks(np.arange(len(genes)), genes)
        ax.set_ylim(len(genes) - 0.5, -0.5)
        ax.set_ylabel("gene")
    else:
        ax.set_ylabel("genes")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if frame["effect"].notna().sum() == 0:
        empty_panel(ax, "no effects to draw: wild-type activity is 0 (NaN)")
    ax.set_title(f"context dependence: {genes_text(len(genes))}")
    figure_legend(fig, axes, ncols=1)
    return fig


def _spread(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Mean and sd of ``y`` across genes at each ``x``."""
    return frame.groupby(x)[y].agg(["mean", "std", "count"]).reset_index()


@styled
def distance_figure(frame: pd.DataFrame, expected: Mapping[str, Any] | None = None) -> Figure:
    """TSS activity as the CRE moves along a shuffled background (Fig. 4): fold change
    over the highest position against the CRE centre's distance from the TSS (kb).
    One gene: its curve with sd error bars per track, the best position marked;
    several: each gene faint, the mean across genes with a ±sd band per track.
    The CRE's own position (the control) and the TSS are drawn. ``expected``:
    ``{"distance_kb": x, "activity": y, "label": str}``, a reference curve (the
    demo's grammar), drawn over its own maximum."""
    fig, axes = figure(COLUMN_IN, 2.9)
    ax = axes[0, 0]
    genes = list(dict.fromkeys(_names(frame)))
    for k, (track, label) in enumerate(tracks_of(frame)):
        rows = frame[frame["track"] == track]
        if len(genes) == 1:
            one = rows.sort_values("distance_bp")
            top = one["activity"].max()
            err = one["std"] / top if "std" in one and top else None
            ax.errorbar(one["distance_bp"] / 1000, one["fold_change"], yerr=err,
                        marker=MARKERS[k % len(MARKERS)],
                        ms=2.5, lw=0.9, elinewidth=0.5, color=colour(k), label=label)
            if one["fold_change"].notna().any():
                best = one.loc[one["fold_change"].idxmax()]
                ax.plot(best["distance_bp"] / 1000, best["fold_change"], "*", ms=8,
                        color=colour(k), mec="k", mew=0.5)
            continue
        for g, gene in enumerate(genes):
            one = rows[_names(rows) == gene].sort_values("distance_bp")
            ax.plot(one["distance_bp"] / 1000, one["fold_change"], lw=0.5, alpha=0.3,
                    color=colour(k))
        mean = _spread(rows, "distance_bp", "fold_change")
        ax.plot(mean["distance_bp"] / 1000, mean["mean"], lw=1.4, color=colour(k),
                marker=MARKERS[k % len(MARKERS)], ms=3,
                label=f"{label}: mean ± sd of {genes_text(len(genes))}")
        ax.fill_between(mean["distance_bp"] / 1000, mean["mean"] - mean["std"],
                        mean["mean"] + mean["std"], color=colour(k), alpha=0.2, lw=0)
    if expected is not None:
        curve = np.asarray(expected["activity"], dtype=np.float64)
        reference(ax.plot(expected["distance_kb"], curve / curve.max(), color="k", lw=0.9,
                          ls="--", zorder=4, label=expected.get("label", "expected"))[0])
    reference(ax.axvline(0, color="k", lw=0.8, ls=":", label="TSS"))
    if {"cre_tss_offset", "cre_start", "cre_end"} <= set(frame.columns) and len(genes) == 1:
        home = (frame["cre_tss_offset"].iloc[0] + (frame["cre_end"].iloc[0]
                                                   - frame["cre_start"].iloc[0]) / 2) / 1000
        reference(ax.axvline(home, color="0.5", lw=0.8, ls="-.", label="CRE at home (control)"))
    if len(genes) == 1:
        ax.plot([], [], "*", ms=8, color="0.6", mec="k", mew=0.5, gid="reference",
                label="best position")
    ax.set_xlabel("CRE centre, kb from TSS (gene orientation)")
    ax.set_ylabel("fold change over the best position")
    ax.set_ylim(bottom=0)
    title = genes[0] if len(genes) == 1 else genes_text(len(genes))
    ax.set_title(f"distance: {title}")
    figure_legend(fig, axes, ncols=1)
    return fig


@styled
def higher_order_figure(frame: pd.DataFrame, genes: Sequence[str] | None = None) -> Figure:
    """The greedy higher-order trajectory per gene (Fig. 5): TSS activity after each
    round's tile is shuffled (observed) against the additive and multiplicative
    expectations of the single-tile effects, unfloored (the additive model can go
    below zero: that is how a super-additive set shows). The grey band is the
    additive call (observed loss within ±10% of the summed single losses); the
    title names the last round's class. x: the tiles in the order chosen, labelled
    by their centre in kb from the TSS."""
    genes = _genes({"h": frame}, genes)
    ncols = min(len(genes), 3)
    nrows = -(-len(genes) // ncols)
    width = COLUMN_IN if ncols == 1 else PAGE_IN
    fig, axes = figure(width, 0.9 + 2.1 * nrows, nrows, ncols)
    for ax in axes.flat[len(genes):]:
        ax.set_axis_off()
    for ax, gene in zip(axes.flat, genes):
        one = frame[_names(frame) == gene].sort_values("round")
        if not len(one):
            empty_panel(ax, f"no higher-order result for {gene}")
            ax.set_title(gene)
            continue
        wt = float(one["wt"].iloc[0])
        rounds = np.arange(len(one) + 1)
        additive = np.r_[wt, one["additive"]]
        loss = wt - additive
        lo, hi = wt - loss * (1 + TOLERANCE), wt - loss * (1 - TOLERANCE)
        reference(ax.fill_between(rounds, np.minimum(lo, hi), np.maximum(lo, hi), color="0.85",
                                  lw=0, label=f"additive call: within ±{TOLERANCE:.0%} of "
                                  "the additive loss"))
        ax.plot(rounds, additive, "s--", ms=3, color=colour(0),
                label="additive expectation (WT + Σ single effects)")
        ax.plot(rounds, np.r_[wt, one["multiplicative"]], "^:", ms=3, color=colour(1),
                label="multiplicative expectation (WT × Π single fold changes)")
        ax.plot(rounds, np.r_[wt, one["observed"]], "o-", ms=3.5, color="k",
                label="observed (tiles shuffled together)")
        threshold_line(ax, 0, "zero activity", colour="0.6", ls="-")
        centre = (one["tss_offset"] + (one["tile_end"] - one["tile_start"]) / 2) / 1000
        ax.set_xticks(rounds, ["WT"] + [f"{c:+.1f}" for c in centre])
        ax.set_xlabel("tiles shuffled in greedy order\n(tile centre, kb from TSS)")
        ax.set_ylabel("TSS activity")
        track = tracks_of(one)
        call = one["classification"].iloc[-1]
        ax.set_title(f"{gene}: {call}" + (f"\n{track[0][1]}" if track else ""))
    figure_legend(fig, axes, ncols=1 if ncols == 1 else 2)
    return fig


@styled
def multiplicity_figure(frame: pd.DataFrame, ceiling: float | None = None) -> Figure:
    """CRE multiplicity (ED Fig. 10): TSS activity over the background + TSS tile
    alone (``fold_over_tss_only``) against the number of CRE copies inserted, per
    gene, with each gene's saturation (its highest point) starred; several genes
    add their mean. ``ceiling`` (one gene: the model's highest activity) is drawn
    on the same scale."""
    fig, axes = figure(COLUMN_IN, 2.8)
    ax = axes[0, 0]
    genes = list(dict.fromkeys(_names(frame)))
    for g, gene in enumerate(genes):
        one = frame[_names(frame) == gene].sort_values("copies")
        track = tracks_of(one)
        fold = one["fold_over_tss_only"]
        ax.plot(one["copies"], fold, "o-", ms=3, lw=1 if len(genes) < 8 else 0.5,
                color=colour(g) if len(genes) < 8 else "0.6",
                label=(f"{gene}, {track[0][1]}" if track else gene) if len(genes) < 8 else None)
        if fold.notna().any():
            best = one.loc[fold.idxmax()]
            ax.plot(best["copies"], best["fold_over_tss_only"], "*", ms=8,
                    color=colour(g) if len(genes) < 8 else "0.6", mec="k", mew=0.5)
    if len(genes) >= 8:
        mean = _spread(frame, "copies", "fold_over_tss_only")
        ax.plot(mean["copies"], mean["mean"], "o-", color=colour(0), lw=1.4,
                label=f"mean of {genes_text(len(genes))}")
    ax.plot([], [], "*", ms=8, color="0.6", mec="k", mew=0.5, gid="reference",
            label="saturation (highest activity)")
    threshold_line(ax, 1, "TSS tile alone (0 copies)", colour="0.6", ls="-")
    if ceiling is not None and len(genes) == 1:
        base = frame.loc[frame["copies"] == 0, "activity"]
        if len(base) and float(base.iloc[0]) > 0:
            threshold_line(ax, ceiling / float(base.iloc[0]),
                           f"model ceiling ({ceiling:g} activity)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("copies of the CRE inserted")
    ax.set_ylabel("activity / activity with 0 copies")
    ax.set_ylim(bottom=0)
    ax.set_title(f"multiplicity: {genes[0] if len(genes) == 1 else genes_text(len(genes))}")
    figure_legend(fig, axes, ncols=1)
    return fig


def _retained_text(one: pd.DataFrame) -> str:
    """What the kept sub-tiles explain, from the fine-tile columns (empty when the
    table predates them)."""
    if "effect_retained" not in one or not len(one):
        return ""
    retained = float(one["effect_retained"].iloc[0])
    gain = float(one["cre_effect"].iloc[0]) if "cre_effect" in one else np.nan
    text = (f"kept pieces retain {retained:.0%} of the CRE's effect"
            if np.isfinite(retained) else "effect retained: n/a (the CRE has no effect)")
    if np.isfinite(gain):
        text += ("; whole CRE: " + (f"{gain + 1:.3g}× the activity" if gain > 1 else
                                    f"{gain:+.0%} activity") + " of the TSS tile alone")
    return text


@styled
def fine_tile_figure(frame: pd.DataFrame, genes: Sequence[str] | None = None,
                     marks: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> Figure:
    """The sub-tiles of each gene's CRE that the fine-tile search kept and removed
    (Fig. 3), along the CRE in kb from the TSS, with how much of the whole CRE's
    effect the kept pieces retain and how large that effect is. ``marks`` (gene ->
    list of (start, end) in kb) draws known motifs (the demo's planted copies)."""
    genes = _genes({"f": frame}, genes)
    fig, axes = figure(PAGE_IN, 0.9 + 0.95 * len(genes), len(genes), 1)
    for ax, gene in zip(axes[:, 0], genes):
        one = frame[_names(frame) == gene]
        ax.set_ylim(0, 1.3)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("position in the CRE, kb from TSS (gene orientation)")
        if not len(one):
            empty_panel(ax, f"no fine-tile result for {gene}")
            ax.set_title(gene)
            continue
        left, width = _kb_span(one)
        kept = one["kept"].to_numpy(dtype=bool)
        ax.broken_barh(list(zip(left[~kept], width[~kept])), (0.1, 0.8), color="0.85",
                       label="removed: shuffling it kept the effect above the threshold")
        ax.broken_barh(list(zip(left[kept], width[kept])), (0.1, 0.8), color=colour(0),
                       label="kept by the search")
        for k, (start, end) in enumerate((marks or {}).get(gene, [])):
            reference(ax.plot([start, end], [1.05, 1.05], color="#D55E00", lw=3,
                              label="planted motif", solid_capstyle="butt")[0])
        kept_bp = int((one.loc[kept, "tile_end"] - one.loc[kept, "tile_start"]).sum())
        cre_bp = int((one["cre_end"] - one["cre_start"]).iloc[0])
        track = tracks_of(one)
        explained = _retained_text(one)
        ax.set_title(f"{gene}: kept {kept_bp:,} of {cre_bp:,} bp"
                     + (f" ({track[0][1]})" if track else "")
                     + (f"\n{explained}" if explained else ""))
    figure_legend(fig, axes)
    return fig
