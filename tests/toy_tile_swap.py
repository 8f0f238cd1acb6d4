"""A toy ninth CREME test, "tile swap", written as a new test is: one module (its
design, result, summary and figure) plus one registry entry (:data:`SPEC`, which
``tests/test_registry.py`` adds to ``creme_fast.assays.registry.TESTS``).

Tile swap: each pair of neighbouring tiles beside the TSS tile trades places (the
left tile's sequence goes to the right tile's position and back); the effect is
``(WT - swapped) / WT``. A test of whether an element's position, not only its
presence, matters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from creme_fast.assays.design import Stage, Stages
from creme_fast.assays.inputs import as_loci, as_tiles
from creme_fast.assays.result import AssayResult, activity, safe_ratio
from creme_fast.assays.spec import FigureRef, StepConfig, TestSpec
from creme_fast.pipeline import Engine, PlanBuilder
from creme_fast.plots.style import COLUMN_IN, figure, styled
from creme_fast.schema.coords import check_loci


@dataclass
class TileSwapResult(AssayResult):
    """wt: (n_loci, bins, tracks); mut: (n_loci, n_pairs, bins, tracks); tiles: the
    left tile of each pair."""

    kind: ClassVar[str] = "tile_swap"
    regions: ClassVar = {"tile": ("tile_start", "tile_end")}
    primary: ClassVar = "tile"
    wt: np.ndarray
    mut: np.ndarray
    tiles: np.ndarray

    @property
    def effect(self) -> np.ndarray:
        wt = activity(self.wt)[:, None]
        return safe_ratio(wt - activity(self.mut), wt)

    def raw_frame(self) -> pd.DataFrame:
        mut = activity(self.mut)
        n_loci, n_pairs, n_tracks = mut.shape
        locus, pair, track = np.meshgrid(np.arange(n_loci), np.arange(n_pairs),
                                         np.arange(n_tracks), indexing="ij")
        return pd.DataFrame({"locus": locus.ravel(), "pair": pair.ravel(),
                             "track": track.ravel(),
                             "tile_start": self.tiles[pair.ravel(), 0],
                             "tile_end": self.tiles[pair.ravel(), 1],
                             "mut": mut.ravel(), "effect": self.effect.ravel()})


@dataclass(frozen=True)
class TileSwap:
    """One plan: per locus, the wild type, then one row per neighbouring pair."""

    tokens: np.ndarray
    tiles: np.ndarray
    loci: Any = None

    def stages(self, engine: Engine) -> Stages:
        builder = PlanBuilder()
        left, right = self.tiles[:-1], self.tiles[1:]
        width = int(self.tiles[0, 1] - self.tiles[0, 0])
        for i, tokens in enumerate(self.tokens):
            base = builder.base(tokens)
            wt = builder.rows(1, base, locus=i, pair=-1)
            src = builder.source(tokens)
            rows = builder.rows(len(left), base, locus=i, pair=np.arange(len(left)), parent=wt)
            builder.copy(rows, left[:, 0], left[:, 0] + width, src + right[:, 0])
            builder.copy(rows, right[:, 0], right[:, 0] + width, src + left[:, 0])
        pred = yield Stage(builder.build(), "tile swap")
        n_loci, length = self.tokens.shape
        pred = pred.reshape(n_loci, len(self.tiles), *pred.shape[1:])
        return TileSwapResult(wt=pred[:, 0], mut=pred[:, 1:], tiles=left,
                              settings=engine.describe(pred.shape[-1], n_loci, length,
                                                       test="tile_swap"))


def tile_swap_design(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                     config: StepConfig) -> TileSwap:
    """A chunk of loci and a run's settings -> the design."""
    tokens = as_loci(tokens)
    tiles = as_tiles(None, tokens.shape[1], config.tile_size)
    return TileSwap(tokens=tokens, tiles=tiles, loci=check_loci(rows, tokens.shape[0]))


def tile_swap_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus and track: the swap that moves activity most."""
    keys = ["name", "track"]
    best = frame.loc[frame.groupby(keys, sort=False)["effect"].apply(
        lambda e: e.abs().idxmax())]
    return best[keys + ["tile_start", "tile_end", "effect"]].rename(
        columns={"effect": "top_effect"}).reset_index(drop=True)


@styled
def tile_swap_figure(rows: pd.DataFrame) -> Figure:
    """One gene's swap effects against the left tile's position."""
    fig, axes = figure(COLUMN_IN, 2.4)
    ax = axes[0, 0]
    for track, one in rows.groupby("track"):
        ax.plot(one["tss_offset"] / 1000, one["effect"], "o-", label=f"track {track}")
    ax.set_xlabel("left tile, kb from TSS")
    ax.set_ylabel("swap effect (WT − swapped) / WT")
    ax.set_title(f"tile swap: {rows['name'].iloc[0]}")
    ax.legend(frameon=False)
    return fig


@styled
def tile_swap_summary_figure(summary: pd.DataFrame) -> Figure:
    """The strongest swap effect of every gene, per track."""
    fig, axes = figure(COLUMN_IN, 2.4)
    ax = axes[0, 0]
    for k, (track, rows) in enumerate(summary.groupby("track")):
        ax.plot(np.full(len(rows), k), rows["top_effect"], "o", label=f"track {track}")
    ax.set_xlabel("track")
    ax.set_ylabel("strongest swap effect")
    ax.set_title(f"tile swap: {summary['name'].nunique()} genes")
    return fig


#: The registry entry.
SPEC = TestSpec("tile-swap", tile_swap_design, summary=tile_swap_summary, multi_locus=True,
                tiled=True, figure=FigureRef("toy_tile_swap:tile_swap_figure"),
                summary_figure=FigureRef("toy_tile_swap:tile_swap_summary_figure"))
