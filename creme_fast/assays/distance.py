"""Test 5, TSS-CRE distance: one CRE moved to every tile position."""
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
    as_tile,
    check_arguments,
    default_tss,
    describe,
    finish,
    predict_plan,
    run_label,
    safe_ratio,
    single_key,
)
from creme_fast.pipeline import PlanBuilder
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci
from creme_fast.sequence.tiles import tile_layout

__all__ = ["DistanceResult", "distance"]


@dataclass
class DistanceResult(AssayResult):
    """Attributes
    ----------
    control : numpy.ndarray, shape=(num_shuffles, bins, tracks)
        Background + TSS tile + CRE at its own position.
    mut : numpy.ndarray, shape=(n_positions, num_shuffles, bins, tracks)
        Background + TSS tile + CRE starting at each position.
    positions : numpy.ndarray, shape=(n_positions,)
        Start of the moved CRE.
    tss_tile, cre_tile : tuple of int
    seed : int
    """

    kind: ClassVar[str] = "distance"
    regions: ClassVar = {"copy": ("position", "position_end"), "cre": ("cre_start", "cre_end")}
    primary: ClassVar = "copy"
    control: np.ndarray
    mut: np.ndarray
    positions: np.ndarray
    tss_tile: tuple[int, int]
    cre_tile: tuple[int, int]
    seed: int

    @property
    def distance_bp(self) -> np.ndarray:
        """Signed distance between the CRE's centre and the TSS tile's centre."""
        width = self.cre_tile[1] - self.cre_tile[0]
        return self.positions + width / 2 - (self.tss_tile[0] + self.tss_tile[1]) / 2

    @property
    def activity(self) -> np.ndarray:
        """Mean activity per position: (n_positions, tracks)."""
        return activity(self.mut).mean(axis=1)

    @property
    def fold_change(self) -> np.ndarray:
        """Activity over its maximum across positions: (n_positions, tracks)."""
        act = self.activity
        return safe_ratio(act, act.max(axis=0, keepdims=True))

    @property
    def fold_change_over_control(self) -> np.ndarray:
        """Activity over the CRE-at-home control."""
        return safe_ratio(self.activity, activity(self.control).mean(axis=0, keepdims=True))

    def raw_frame(self) -> pd.DataFrame:
        act = self.activity
        pos, track = np.meshgrid(np.arange(act.shape[0]), np.arange(act.shape[1]), indexing="ij")
        width = self.cre_tile[1] - self.cre_tile[0]
        start = self.positions[pos.ravel()].astype(np.int64)
        return pd.DataFrame({"track": track.ravel(), "cre_start": self.cre_tile[0],
                             "cre_end": self.cre_tile[1], "position": start,
                             "position_end": start + width,
                             "distance_bp": self.distance_bp[pos.ravel()],
                             "activity": act.ravel(), "std": activity(self.mut).std(axis=1).ravel(),
                             "fold_change": self.fold_change.ravel(),
                             "fold_change_over_control": self.fold_change_over_control.ravel()})


def distance(predictor: Predictor, seq: Any, cre_tile: Sequence[int], *,
             positions: Sequence[int] | None = None, tss_tile: Sequence[int] | None = None,
             tile_size: int = 5000, num_shuffles: int = 10, seed: int = 0,
             shared_backgrounds: bool = True, shuffle: str = "fast", rng: Any = None,
             locus_key: int = 0, name: str | None = None, loci: Any = None,
             **options: Any) -> DistanceResult:
    """Activity of the TSS as one CRE moves along a shuffled background.

    Parameters
    ----------
    predictor : Predictor
    seq : tokens (L,)
    cre_tile : (start, end)
        The CRE (taken from ``seq``).
    positions : sequence of int, optional
        Starts to test; default every tile start of the layout.
    shared_backgrounds : bool, default=True
        The same backgrounds at every position (creme-nn's ``seed=True``).
    name : str, optional
        The locus's name: its shuffles are keyed by a hash of it, exactly as
        ``creme-fast run`` keys the locus (instead of ``locus_key``), so the same
        window and settings give a CLI run's result exactly. The bars name it.
    loci : DataFrame or list of str, optional
        The locus's ``name`` (and ``chrom, tss, strand`` for genome coordinates).
    **options
        Engine options; the other parameters are as in :func:`creme_fast.assays.context_dependence`.
    """
    check_arguments(predictor, options, tile_size=tile_size, num_shuffles=num_shuffles,
                    seed=seed, shuffle=shuffle, rng=rng, locus_key=locus_key)
    locus_key = single_key(locus_key, name)
    label = run_label("distance", name, key=locus_key)
    loci_arg, loci = loci, as_loci(seq)
    if loci.shape[0] != 1:
        raise ValueError("distance takes one sequence")
    wt = loci[0]
    length = wt.shape[0]
    locus_table = check_loci(loci_arg, 1, name)
    tss = default_tss(length, tile_size, tss_tile)
    cre = as_tile(cre_tile, length, "cre_tile")
    width = cre[1] - cre[0]
    if positions is None:
        positions = tile_layout(length, tile_size).tiles[:, 0]
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    bad = positions[(positions < 0) | (positions + width > length)]
    if bad.size:
        raise ValueError(f"position {bad[0]} puts the {width} bp CRE outside the sequence")
    builder = PlanBuilder(seed)
    source = ShuffleSource(shuffle, rng)
    base = builder.base(wt)
    tss_src, cre_src = builder.source(wt[tss[0]:tss[1]]), builder.source(wt[cre[0]:cre[1]])
    control = add_backgrounds(builder, source, base, wt, locus_key, -1, num_shuffles, tss,
                              tss_src, position=-1)
    builder.copy(control, cre[0], cre[1], cre_src)
    for p, start in enumerate(positions):
        # with shared backgrounds a mutant differs from the control at the CRE's home
        # and its new position
        rows = add_backgrounds(builder, source, base, wt, locus_key,
                               -1 if shared_backgrounds else p, num_shuffles, tss, tss_src,
                               position=int(start), parent=control if shared_backgrounds else -1)
        builder.copy(rows, start, start + width, cre_src)
    pred = predict_plan(builder.build(), predictor, options, label)
    settings = describe(predictor, options, pred.shape[-1], 1, length, test="distance",
                        tile_size=tile_size, num_shuffles=num_shuffles, seed=seed,
                        shuffle=shuffle, shared_backgrounds=shared_backgrounds)
    return finish(DistanceResult(control=pred[:num_shuffles],
                                 mut=pred[num_shuffles:].reshape(len(positions), num_shuffles,
                                                                 *pred.shape[1:]),
                                 positions=positions, tss_tile=tss, cre_tile=cre, seed=seed,
                                 settings=settings), locus_table)
