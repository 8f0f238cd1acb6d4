"""Test 3, necessity: shuffle one tile at a time in the wild type."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays.design import Stage, Stages
from creme_fast.assays.inputs import as_loci, as_tiles, locus_keys, run_label
from creme_fast.assays.result import AssayResult, activity, safe_ratio
from creme_fast.assays.runner import run_assay
from creme_fast.assays.shuffles import KIND_NECESSITY, ShuffleSource
from creme_fast.pipeline import Engine, PlanBuilder, stream_keys
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci

__all__ = ["Necessity", "NecessityResult", "necessity", "necessity_plan"]


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


def necessity_plan(builder: PlanBuilder, tokens: np.ndarray, keys: np.ndarray,
                   tiles: np.ndarray, num_shuffles: int, source: ShuffleSource, *,
                   wild_type: bool = True) -> np.ndarray:
    """The rows of necessity, per locus: the wild type (when ``wild_type``; the
    mutants' parent), then every tile x shuffle with the tile shuffled (stream
    ``(key, KIND_NECESSITY, tile, shuffle)``), tile-major.

    Parameters
    ----------
    builder : PlanBuilder
    tokens : numpy.ndarray of uint8, shape=(n_loci, L)
    keys : numpy.ndarray of int64, shape=(n_loci,)
    tiles : numpy.ndarray, shape=(n_tiles, 2)
    num_shuffles : int
    source : ShuffleSource
    wild_type : bool, default=True

    Returns
    -------
    numpy.ndarray of int64
        The mutant rows of the last locus.
    """
    t_idx, n_idx = np.meshgrid(np.arange(len(tiles)), np.arange(num_shuffles), indexing="ij")
    t_idx, n_idx = t_idx.ravel(), n_idx.ravel()
    rows = np.zeros(0, dtype=np.int64)
    for i in range(tokens.shape[0]):
        base = builder.base(tokens[i])
        wt_row = builder.rows(1, base, locus=i, tile=-1, shuffle=-1) if wild_type else -1
        rows = builder.rows(len(t_idx), base, locus=i, tile=t_idx, shuffle=n_idx,
                            parent=wt_row)
        source.apply(builder, rows, tiles[t_idx, 0], tiles[t_idx, 1],
                     stream_keys(keys[i], KIND_NECESSITY, t_idx, n_idx), tokens[i])
    return rows


@dataclass(frozen=True)
class Necessity:
    """The design of test 3: one plan, every locus's wild type and tile shuffles.

    Made by :meth:`of` from :func:`necessity`'s arguments, checked (sequences as
    tokens, per-locus stream keys, tiles and regions in window coordinates,
    the progress label, the loci's table).
    """

    tokens: np.ndarray
    keys: np.ndarray
    tiles: np.ndarray
    tile_size: int
    num_shuffles: int
    seed: int
    shuffle: str = "fast"
    rng: Any = field(default=None, compare=False)
    label: str = "necessity"
    loci: Any = None

    @classmethod
    def of(cls, seqs: Any, *, tiles: Any = None, tile_size: int = 5000, num_shuffles: int = 10,
           seed: int = 0, shuffle: str = "fast", rng: Any = None,
           locus_keys_: Sequence[int] | None = None, names: Sequence[str] | None = None,
           loci: Any = None) -> Necessity:
        """The design of :func:`necessity`'s inputs (checked)."""
        tokens = as_loci(seqs)
        n_loci, length = tokens.shape
        table = check_loci(loci, n_loci, names)
        tiles = as_tiles(tiles, length, tile_size)
        return cls(tokens=tokens, keys=locus_keys(n_loci, locus_keys_, names), tiles=tiles,
                   tile_size=tile_size, num_shuffles=num_shuffles, seed=seed, shuffle=shuffle,
                   rng=rng, label=run_label("necessity", names, n_loci), loci=table)

    def stages(self, engine: Engine) -> Stages:
        builder = PlanBuilder(self.seed)
        necessity_plan(builder, self.tokens, self.keys, self.tiles, self.num_shuffles,
                       ShuffleSource(self.shuffle, self.rng))
        pred = yield Stage(builder.build(), self.label)
        n_loci, length = self.tokens.shape
        n_tiles = len(self.tiles)
        pred = pred.reshape(n_loci, 1 + n_tiles * self.num_shuffles, *pred.shape[1:])
        settings = engine.describe(pred.shape[-1], n_loci, length, test="necessity",
                                   tile_size=self.tile_size, num_shuffles=self.num_shuffles,
                                   seed=self.seed, shuffle=self.shuffle)
        return NecessityResult(wt=pred[:, 0], mut=pred[:, 1:].reshape(
            n_loci, n_tiles, self.num_shuffles, *pred.shape[2:]), tiles=self.tiles,
            seed=self.seed, settings=settings)


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
    return run_assay(predictor, options, Necessity.of, seqs, tile_size=tile_size,
                     num_shuffles=num_shuffles, seed=seed, shuffle=shuffle, rng=rng, tiles=tiles,
                     locus_keys_=locus_keys_, names=names, loci=loci)
