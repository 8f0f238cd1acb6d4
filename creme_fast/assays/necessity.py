"""Test 3, necessity: shuffle one tile at a time in the wild type."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays._common import (
    KIND_NECESSITY,
    AssayResult,
    ShuffleSource,
    activity,
    as_loci,
    as_tiles,
    check_arguments,
    describe,
    finish,
    locus_keys,
    predict_plan,
    run_label,
    safe_ratio,
)
from creme_fast.pipeline import PlanBuilder, stream_keys
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci

__all__ = ["NecessityResult", "necessity"]


@dataclass
class NecessityResult(AssayResult):
    """Attributes
    ----------
    wt : numpy.ndarray, shape=(n_loci, bins, tracks)
    mut : numpy.ndarray, shape=(n_loci, n_tiles, num_shuffles, bins, tracks)
    tiles : numpy.ndarray, shape=(n_tiles, 2)
    seed : int
    """

    kind: ClassVar[str] = "necessity"
    regions: ClassVar = {"tile": ("tile_start", "tile_end")}
    primary: ClassVar = "tile"
    wt: np.ndarray
    mut: np.ndarray
    tiles: np.ndarray
    seed: int

    @property
    def effect(self) -> np.ndarray:
        """Normalised shuffle effect ``(WT - mean(mut)) / WT``: (n_loci, n_tiles, tracks).
        Enhancer tiles > 0.3, silencer tiles < -0.3 in the paper."""
        wt = activity(self.wt)[:, None]
        return safe_ratio(wt - activity(self.mut).mean(axis=2), wt)

    def raw_frame(self) -> pd.DataFrame:
        mut = activity(self.mut)
        n_loci, n_tiles, _, n_tracks = mut.shape
        locus, tile, track = np.meshgrid(np.arange(n_loci), np.arange(n_tiles),
                                         np.arange(n_tracks), indexing="ij")
        return pd.DataFrame({
            "locus": locus.ravel(), "tile": tile.ravel(), "track": track.ravel(),
            "tile_start": self.tiles[tile.ravel(), 0], "tile_end": self.tiles[tile.ravel(), 1],
            "wt": np.broadcast_to(activity(self.wt)[:, None], mut.shape[:2] + (n_tracks,)).ravel(),
            "mean_mut": mut.mean(axis=2).ravel(), "std_mut": mut.std(axis=2).ravel(),
            "effect": self.effect.ravel()})


def necessity(predictor: Predictor, seqs: Any, *, tiles: Any = None, tile_size: int = 5000,
              num_shuffles: int = 10, seed: int = 0, shuffle: str = "fast", rng: Any = None,
              locus_keys_: Sequence[int] | None = None,
              names: Sequence[str] | None = None, loci: Any = None,
              **options: Any) -> NecessityResult:
    """Necessity of every tile, batched across tiles, shuffles and loci.

    Parameters
    ----------
    predictor : Predictor
    seqs : tokens (L,) or (n_loci, L)
    tiles : array_like (n_tiles, 2), optional
        Default: the paper's layout without the TSS tile (38 tiles at 196,608 bp).
    tile_size, num_shuffles, seed, shuffle, rng, locus_keys_, names, loci
        As in :func:`creme_fast.assays.context_dependence`; shuffle ``n`` of
        tile ``t`` uses stream ``(seed, key, t, n)``.
    **options
        Engine options.
    """
    check_arguments(predictor, options, tile_size=tile_size, num_shuffles=num_shuffles,
                    seed=seed, shuffle=shuffle, rng=rng)
    tokens = as_loci(seqs)
    n_loci, length = tokens.shape
    loci = check_loci(loci, n_loci, names)
    tiles = as_tiles(tiles, length, tile_size)
    keys = locus_keys(n_loci, locus_keys_, names)
    t_idx, n_idx = np.meshgrid(np.arange(len(tiles)), np.arange(num_shuffles), indexing="ij")
    t_idx, n_idx = t_idx.ravel(), n_idx.ravel()
    builder = PlanBuilder(seed)
    source = ShuffleSource(shuffle, rng)
    for i in range(n_loci):
        base = builder.base(tokens[i])
        wt_row = builder.rows(1, base, locus=i, tile=-1, shuffle=-1)
        rows = builder.rows(len(t_idx), base, locus=i, tile=t_idx, shuffle=n_idx,
                            parent=wt_row)
        source.apply(builder, rows, tiles[t_idx, 0], tiles[t_idx, 1],
                     stream_keys(keys[i], KIND_NECESSITY, t_idx, n_idx), tokens[i])
    pred = predict_plan(builder.build(), predictor, options,
                        run_label("necessity", names, n_loci))
    pred = pred.reshape(n_loci, 1 + len(t_idx), *pred.shape[1:])
    settings = describe(predictor, options, pred.shape[-1], n_loci, length, test="necessity",
                        tile_size=tile_size, num_shuffles=num_shuffles, seed=seed,
                        shuffle=shuffle)
    return finish(NecessityResult(wt=pred[:, 0], mut=pred[:, 1:].reshape(
        n_loci, len(tiles), num_shuffles, *pred.shape[2:]), tiles=tiles, seed=seed,
        settings=settings), loci)
