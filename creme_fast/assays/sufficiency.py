"""Test 4, sufficiency: a tile with the TSS in shuffled backgrounds."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays._common import (
    AssayResult,
    ShuffleSource,
    activity,
    add_backgrounds,
    as_loci,
    as_tiles,
    check_arguments,
    default_tss,
    describe,
    finish,
    locus_keys,
    predict_plan,
    run_label,
    safe_ratio,
)
from creme_fast.pipeline import PlanBuilder
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci

__all__ = ["SufficiencyResult", "sufficiency"]


@dataclass
class SufficiencyResult(AssayResult):
    """Attributes
    ----------
    wt : numpy.ndarray, shape=(n_loci, bins, tracks)
    control : numpy.ndarray, shape=(n_loci, 1 or n_tiles, num_shuffles, bins, tracks)
        Background + TSS tile; one set shared by every tile when
        ``shared_backgrounds`` (a paired design), else one per tile.
    mut : numpy.ndarray, shape=(n_loci, n_tiles, num_shuffles, bins, tracks)
        Control + the tile at its own position.
    tiles : numpy.ndarray, shape=(n_tiles, 2)
    tss_tile : tuple of int
    seed : int
    """

    kind: ClassVar[str] = "sufficiency"
    regions: ClassVar = {"tile": ("tile_start", "tile_end")}
    primary: ClassVar = "tile"
    wt: np.ndarray
    control: np.ndarray
    mut: np.ndarray
    tiles: np.ndarray
    tss_tile: tuple[int, int]
    seed: int

    @property
    def effect(self) -> np.ndarray:
        """``(mean(mut) - mean(control)) / WT`` (the paper's, for enhancers):
        (n_loci, n_tiles, tracks)."""
        gain = activity(self.mut).mean(axis=2) - activity(self.control).mean(axis=2)
        return safe_ratio(gain, activity(self.wt)[:, None])

    @property
    def effect_over_control(self) -> np.ndarray:
        """``(mean(mut) - mean(control)) / mean(control)`` (the paper's, for silencers)."""
        control = activity(self.control).mean(axis=2)
        return safe_ratio(activity(self.mut).mean(axis=2) - control, control)

    def raw_frame(self) -> pd.DataFrame:
        mut = activity(self.mut).mean(axis=2)
        control = np.broadcast_to(activity(self.control).mean(axis=2), mut.shape)
        n_loci, n_tiles, n_tracks = mut.shape
        locus, tile, track = np.meshgrid(np.arange(n_loci), np.arange(n_tiles),
                                         np.arange(n_tracks), indexing="ij")
        return pd.DataFrame({
            "locus": locus.ravel(), "tile": tile.ravel(), "track": track.ravel(),
            "tile_start": self.tiles[tile.ravel(), 0], "tile_end": self.tiles[tile.ravel(), 1],
            "wt": np.broadcast_to(activity(self.wt)[:, None], mut.shape).ravel(),
            "mean_control": control.ravel(), "mean_mut": mut.ravel(),
            "std_mut": activity(self.mut).std(axis=2).ravel(),
            "effect": self.effect.ravel(), "effect_over_control": self.effect_over_control.ravel()})


def sufficiency(predictor: Predictor, seqs: Any, *, tiles: Any = None,
                tss_tile: Sequence[int] | None = None, tile_size: int = 5000,
                num_shuffles: int = 10, seed: int = 0, shared_backgrounds: bool = True,
                shuffle: str = "fast", rng: Any = None,
                locus_keys_: Sequence[int] | None = None,
                names: Sequence[str] | None = None, loci: Any = None,
                **options: Any) -> SufficiencyResult:
    """Sufficiency of every tile with the TSS tile, batched across tiles and loci.

    Parameters
    ----------
    predictor : Predictor
    seqs : tokens (L,) or (n_loci, L)
    tiles, tss_tile, tile_size
        Default: the paper's layout.
    num_shuffles : int, default=10
    seed : int, default=0
    shared_backgrounds : bool, default=True
        The same ``num_shuffles`` backgrounds for every tile (paired design,
        fewer model calls: controls are predicted once). False draws fresh
        backgrounds per tile, as creme-nn does.
    shuffle, rng, locus_keys_, names, loci, **options
        As in :func:`creme_fast.assays.context_dependence`.
    """
    check_arguments(predictor, options, tile_size=tile_size, num_shuffles=num_shuffles,
                    seed=seed, shuffle=shuffle, rng=rng)
    tokens = as_loci(seqs)
    n_loci, length = tokens.shape
    loci = check_loci(loci, n_loci, names)
    tiles = as_tiles(tiles, length, tile_size)
    tss = default_tss(length, tile_size, tss_tile)
    keys = locus_keys(n_loci, locus_keys_, names)
    n_tiles = len(tiles)
    n_ctrl = 1 if shared_backgrounds else n_tiles
    builder = PlanBuilder(seed)
    source = ShuffleSource(shuffle, rng)
    for i in range(n_loci):
        base = builder.base(tokens[i])
        builder.rows(1, base, locus=i, tile=-1, shuffle=-1, role=0)
        tss_src = builder.source(tokens[i, tss[0]:tss[1]])
        wt_src = builder.source(tokens[i])
        controls = []
        for c in range(n_ctrl):
            bg = -1 if shared_backgrounds else c
            controls.append(add_backgrounds(builder, source, base, tokens[i], keys[i], bg,
                                            num_shuffles, tss, tss_src, locus=i, tile=bg,
                                            role=1))
        for t, (start, end) in enumerate(tiles):
            # a mutant differs from its background's control only in the tile
            rows = add_backgrounds(builder, source, base, tokens[i], keys[i],
                                   -1 if shared_backgrounds else t, num_shuffles, tss, tss_src,
                                   locus=i, tile=t, role=2,
                                   parent=controls[0 if shared_backgrounds else t])
            builder.copy(rows, start, end, wt_src + start)
    pred = predict_plan(builder.build(), predictor, options,
                        run_label("sufficiency", names, n_loci))
    per_locus = 1 + (n_ctrl + n_tiles) * num_shuffles
    pred = pred.reshape(n_loci, per_locus, *pred.shape[1:])
    ctrl_end = 1 + n_ctrl * num_shuffles
    settings = describe(predictor, options, pred.shape[-1], n_loci, length, test="sufficiency",
                        tile_size=tile_size, num_shuffles=num_shuffles, seed=seed,
                        shuffle=shuffle, shared_backgrounds=shared_backgrounds)
    return finish(SufficiencyResult(
        wt=pred[:, 0],
        control=pred[:, 1:ctrl_end].reshape(n_loci, n_ctrl, num_shuffles, *pred.shape[2:]),
        mut=pred[:, ctrl_end:].reshape(n_loci, n_tiles, num_shuffles, *pred.shape[2:]),
        tiles=tiles, tss_tile=tss, seed=seed, settings=settings), loci)
