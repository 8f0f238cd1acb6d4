"""Test 7, CRE multiplicity: copies of one CRE inserted at the greedily best positions."""
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
    parent_rows,
    predict_plan,
    run_label,
    single_key,
    track_column,
    track_position,
)
from creme_fast.pipeline import PlanBuilder
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci
from creme_fast.sequence.tiles import tile_layout

__all__ = ["MultiplicityResult", "multiplicity"]


@dataclass
class MultiplicityResult(AssayResult):
    """Attributes
    ----------
    tss_only : float
        Mean activity of background + TSS tile.
    cre_at_home : float
        Mean activity with one copy at the CRE's own position.
    activity_by_copies : numpy.ndarray, shape=(num_copies,)
        Mean activity after 1, 2, ... copies at the chosen positions.
    selected_positions : numpy.ndarray, shape=(num_copies,)
    round_activity : numpy.ndarray, shape=(num_copies, n_positions, num_shuffles)
        NaN for positions already taken.
    positions : numpy.ndarray, shape=(n_positions,)
    optimization : str
    track : int
        The model's original index of the track followed.
    seed : int
    cre_tile : tuple of int
    """

    kind: ClassVar[str] = "multiplicity"
    regions: ClassVar = {"copy": ("position", "position_end"), "cre": ("cre_start", "cre_end")}
    primary: ClassVar = "copy"
    tss_only: float
    cre_at_home: float
    activity_by_copies: np.ndarray
    selected_positions: np.ndarray
    round_activity: np.ndarray
    positions: np.ndarray
    optimization: str
    track: int
    seed: int
    cre_tile: tuple[int, int] = (0, 0)

    def raw_frame(self) -> pd.DataFrame:
        copies = np.arange(len(self.activity_by_copies) + 1)
        act = np.concatenate([[self.tss_only], self.activity_by_copies])
        pos = np.concatenate([[-1], self.selected_positions]).astype(np.int64)
        width = self.cre_tile[1] - self.cre_tile[0]
        return pd.DataFrame({"track": track_column(self.settings, self.track),
                             "cre_start": self.cre_tile[0], "cre_end": self.cre_tile[1],
                             "copies": copies, "activity": act, "position": pos,
                             "position_end": np.where(pos < 0, -1, pos + width),
                             "fold_over_tss_only": (act / self.tss_only if self.tss_only
                                                    else np.nan)})


def multiplicity(predictor: Predictor, seq: Any, cre_tile: Sequence[int], *,
                 positions: Sequence[int] | None = None, tss_tile: Sequence[int] | None = None,
                 tile_size: int = 5000, num_shuffles: int = 10, num_copies: int = 5,
                 optimization: str = "max", track: int | None = None, seed: int = 0,
                 shuffle: str = "fast", locus_key: int = 0,
                 name: str | None = None, loci: Any = None,
                 **options: Any) -> MultiplicityResult:
    """Insert copies of a CRE one at a time, each at the best remaining position.

    Parameters
    ----------
    predictor : Predictor
    seq : tokens (L,)
    cre_tile : (start, end)
        The CRE, taken from ``seq``.
    positions : sequence of int, optional
        Candidate starts (default: every tile start of the layout).
    num_copies : int, default=5
    optimization : {"max", "min"}, default="max"
        ``"max"`` for enhancers, ``"min"`` for silencers.
    track : int, optional
        The model's original index of the track followed (default: the first).
    loci : DataFrame or list of str, optional
        The locus's ``name`` (and ``chrom, tss, strand`` for genome coordinates).
    name : str, optional
        The locus's name: its shuffles are keyed by a hash of it, exactly as
        ``creme-fast run`` keys the locus (instead of ``locus_key``), so the same
        window and settings give a CLI run's result exactly. The bars name it.
    **options
        Engine options; the other parameters are as in :func:`creme_fast.assays.sufficiency`.
    """
    check_arguments(predictor, options, tile_size=tile_size, num_shuffles=num_shuffles,
                    num_copies=num_copies, seed=seed, shuffle=shuffle, locus_key=locus_key,
                    track=track)
    locus_key = single_key(locus_key, name)
    label = run_label("multiplicity", name, key=locus_key)
    if optimization not in ("min", "max"):
        raise ValueError(f"optimization must be 'min' or 'max', got {optimization!r}")
    pick = np.argmin if optimization == "min" else np.argmax
    wt = as_loci(seq)[0]
    length = wt.shape[0]
    loci = check_loci(loci, 1, name)
    column = track_position(predictor, options, track)
    tss = default_tss(length, tile_size, tss_tile)
    cre = as_tile(cre_tile, length, "cre_tile")
    width = cre[1] - cre[0]
    positions = (tile_layout(length, tile_size).tiles[:, 0] if positions is None
                 else np.asarray(positions, dtype=np.int64).reshape(-1))
    if np.any((positions < 0) | (positions + width > length)):
        raise ValueError(f"a position puts the {width} bp CRE outside the sequence")
    num_copies = min(int(num_copies), len(positions))
    shuffles = np.arange(num_shuffles)
    builder = PlanBuilder(seed)
    source = ShuffleSource(shuffle)
    base = builder.base(wt)
    tss_src, cre_src = builder.source(wt[tss[0]:tss[1]]), builder.source(wt[cre[0]:cre[1]])
    tss_only_rows = add_backgrounds(builder, source, base, wt, locus_key, -1, num_shuffles,
                                    tss, tss_src, cre=0)
    rows = add_backgrounds(builder, source, base, wt, locus_key, -1, num_shuffles, tss,
                           tss_src, cre=1, parent=tss_only_rows)
    builder.copy(rows, cre[0], cre[1], cre_src)
    plan = builder.build()
    act = activity(predict_plan(plan, predictor, options, f"{label}: controls"))
    settings = describe(predictor, options, act.shape[-1], 1, length, test="multiplicity",
                        tile_size=tile_size, num_shuffles=num_shuffles, seed=seed,
                        shuffle=shuffle, num_copies=num_copies, optimization=optimization)
    act = act[:, column]
    tss_only, at_home = float(act[:num_shuffles].mean()), float(act[num_shuffles:].mean())
    current = plan.materialize(0, num_shuffles).copy()  # background + TSS, per shuffle
    remaining = list(range(len(positions)))
    round_activity = np.full((num_copies, len(positions), num_shuffles), np.nan)
    chosen, trace = [], []
    for c in range(num_copies):
        builder = PlanBuilder(seed)
        bases = [builder.base(current[n]) for n in range(num_shuffles)]
        cre_src = builder.source(wt[cre[0]:cre[1]])
        rem = np.array(remaining)
        p_idx = np.repeat(rem, num_shuffles)
        n_idx = np.tile(shuffles, len(rem))
        heads = parent_rows(builder, predictor, options, bases, copy=c, position=-1,
                            shuffle=shuffles)
        rows = builder.rows(len(p_idx), np.array(bases)[n_idx], copy=c, position=p_idx,
                            shuffle=n_idx, parent=heads if np.ndim(heads) == 0
                            else np.asarray(heads)[n_idx])
        builder.copy(rows, positions[p_idx], positions[p_idx] + width, cre_src)
        plan = builder.build()
        act = activity(predict_plan(plan, predictor, options,
                                    f"{label}: copy {c + 1}"))[rows, column]
        per = act.reshape(len(rem), num_shuffles)
        round_activity[c, rem] = per
        best = int(pick(per.mean(axis=1)))
        current = plan.materialize_rows(rows[best * num_shuffles:(best + 1) * num_shuffles])
        chosen.append(int(positions[rem[best]]))
        trace.append(float(per[best].mean()))
        remaining.remove(rem[best])
    return finish(MultiplicityResult(
        tss_only=tss_only, cre_at_home=at_home, activity_by_copies=np.array(trace),
        selected_positions=np.array(chosen, dtype=np.int64), round_activity=round_activity,
        positions=positions, optimization=optimization, track=settings["tracks"][column],
        seed=seed, cre_tile=cre, settings=settings), loci)
