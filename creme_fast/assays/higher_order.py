"""Test 6, higher-order interactions: a greedy search over tile shuffles."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays._common import (
    KIND_GREEDY,
    AssayResult,
    ShuffleSource,
    activity,
    as_loci,
    as_tiles,
    check_arguments,
    describe,
    finish,
    parent_rows,
    predict_plan,
    run_label,
    single_key,
    track_column,
    track_position,
)
from creme_fast.pipeline import PlanBuilder, stream_keys
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci

__all__ = ["HigherOrderResult", "higher_order", "classify_interaction"]


def classify_interaction(observed: np.ndarray, additive: np.ndarray, wt: float,
                         tolerance: float = 0.1) -> np.ndarray:
    """Class the interaction of the tiles shuffled so far.

    Read in terms of what the elements contribute: ``"super-additive"`` when
    together they contribute more than the sum of their separate contributions
    (synergy, e.g. a cooperative pair), ``"sub-additive"`` when less
    (redundancy), else ``"additive"``. Measured by removal, synergy shows as a
    joint shuffle effect *smaller* than the sum of the single shuffle effects
    (each single removal already takes the shared gain away), redundancy as a
    larger one. For two tiles the two readings are the same inequality:
    ``f(AB) - f(A) - f(B) + f(none)`` is the summed single removal effects minus
    the joint one. ``tolerance`` is relative to the summed single effects.

    Parameters
    ----------
    observed : array
        Mean activity with the tile set shuffled.
    additive : array
        The additive model's activity for the same set.
    wt : float
        Wild-type activity.
    tolerance : float, default=0.1
    """
    joint = np.abs(wt - np.asarray(observed, dtype=np.float64))
    summed = np.abs(wt - np.asarray(additive, dtype=np.float64))
    out = np.full(joint.shape, "additive", dtype=object)
    out[joint < summed * (1 - tolerance)] = "super-additive"
    out[joint > summed * (1 + tolerance)] = "sub-additive"
    return out


@dataclass
class HigherOrderResult(AssayResult):
    """The greedy trace.

    Attributes
    ----------
    wt : float
        Activity of the wild type (chosen track, mean over bins).
    tiles : numpy.ndarray, shape=(n_tiles, 2)
    single : numpy.ndarray, shape=(n_tiles,)
        Mean activity with each tile shuffled alone (round 0).
    selected : numpy.ndarray, shape=(n_rounds,)
        Tile index chosen in each round.
    observed : numpy.ndarray, shape=(n_rounds,)
        Mean activity with the selected tiles so far shuffled.
    round_activity : numpy.ndarray, shape=(n_rounds, n_tiles, num_shuffles)
        Every mutant's activity (NaN for tiles already taken).
    optimization : str
    track : int
        The model's original index of the track followed.
    seed : int
    """

    kind: ClassVar[str] = "higher_order"
    regions: ClassVar = {"tile": ("tile_start", "tile_end")}
    primary: ClassVar = "tile"
    wt: float
    tiles: np.ndarray
    single: np.ndarray
    selected: np.ndarray
    observed: np.ndarray
    round_activity: np.ndarray
    optimization: str
    track: int
    seed: int

    @property
    def additive(self) -> np.ndarray:
        """Additive model: WT plus the summed single-tile effects of the set."""
        return self.wt + np.cumsum(self.single[self.selected] - self.wt)

    @property
    def multiplicative(self) -> np.ndarray:
        """Multiplicative model: WT times the product of single-tile fold changes."""
        return self.wt * np.cumprod(self.single[self.selected] / self.wt)

    def classification(self, tolerance: float = 0.1) -> np.ndarray:
        return classify_interaction(self.observed, self.additive, self.wt, tolerance)

    def raw_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"round": np.arange(len(self.selected)),
                             "track": track_column(self.settings, self.track),
                             "tile": self.selected,
                             "tile_start": self.tiles[self.selected, 0],
                             "tile_end": self.tiles[self.selected, 1], "observed": self.observed,
                             "additive": self.additive, "multiplicative": self.multiplicative,
                             "wt": self.wt, "classification": self.classification()})


def higher_order(predictor: Predictor, seq: Any, *, tiles: Any = None, tile_size: int = 5000,
                 num_shuffles: int = 10, num_rounds: int | None = None,
                 optimization: str = "min", track: int | None = None, seed: int = 0,
                 shuffle: str = "fast", rng: Any = None, locus_key: int = 0,
                 name: str | None = None, loci: Any = None,
                 **options: Any) -> HigherOrderResult:
    """Greedy search: each round shuffles every remaining tile on the current sequence and
    keeps the one that moves activity most.

    Parameters
    ----------
    predictor : Predictor
    seq : tokens (L,)
    tiles : array_like (n_tiles, 2), optional
        Candidate tiles (default: the paper's layout).
    num_shuffles : int, default=10
    num_rounds : int, optional
        Default: every tile.
    optimization : {"min", "max"}, default="min"
        ``"min"`` for enhancers (argmin of activity), ``"max"`` for silencers.
    track : int, optional
        The model's original index of the track whose activity is optimised
        (default: the first the engine keeps).
    name, loci
        As in :func:`creme_fast.assays.distance`.
    **options
        Engine options; the other parameters are as in :func:`creme_fast.assays.necessity`.
        The next round starts from the shuffle whose activity is closest to the chosen
        tile's mean.
    """
    check_arguments(predictor, options, tile_size=tile_size, num_shuffles=num_shuffles,
                    num_rounds=num_rounds, seed=seed, shuffle=shuffle, rng=rng,
                    locus_key=locus_key, track=track)
    locus_key = single_key(locus_key, name)
    label = run_label("higher-order", name, key=locus_key)
    if optimization not in ("min", "max"):
        raise ValueError(f"optimization must be 'min' or 'max', got {optimization!r}")
    pick = np.argmin if optimization == "min" else np.argmax
    current = as_loci(seq)[0].copy()
    loci = check_loci(loci, 1, name)
    column = track_position(predictor, options, track)
    tiles = as_tiles(tiles, current.shape[0], tile_size)
    n_tiles = len(tiles)
    num_rounds = n_tiles if num_rounds is None else min(int(num_rounds), n_tiles)
    remaining = list(range(n_tiles))
    round_activity = np.full((num_rounds, n_tiles, num_shuffles), np.nan)
    selected, observed = [], []
    wt = float("nan")
    single = np.full(n_tiles, np.nan)
    source = ShuffleSource(shuffle, rng)
    for r in range(num_rounds):
        builder = PlanBuilder(seed)
        base = builder.base(current)
        # round 0: the wild type; later rounds: the best mutant so far, as a parent row
        head = (builder.rows(1, base, tile=-1, shuffle=-1) if r == 0 else
                parent_rows(builder, predictor, options, [base], round=r, tile=-1, shuffle=-1))
        rem = np.array(remaining)
        t_idx = np.repeat(rem, num_shuffles)
        n_idx = np.tile(np.arange(num_shuffles), len(rem))
        rows = builder.rows(len(t_idx), base, round=r, tile=t_idx, shuffle=n_idx, parent=head)
        source.apply(builder, rows, tiles[t_idx, 0], tiles[t_idx, 1],
                     stream_keys(locus_key, KIND_GREEDY, r, t_idx, n_idx), current)
        plan = builder.build()
        act = activity(predict_plan(plan, predictor, options,
                                    f"{label}: greedy round {r + 1}"))
        n_out = act.shape[-1]
        act = act[:, column]
        if r == 0:
            wt = float(act[0])
        act = act[rows]
        per = act.reshape(len(rem), num_shuffles)
        round_activity[r, rem] = per
        means = per.mean(axis=1)
        if r == 0:
            single[rem] = means
        best = int(pick(means))
        closest = int(np.argmin(np.abs(per[best] - means[best])))
        row = int(rows[best * num_shuffles + closest])
        current = plan.materialize(row, row + 1)[0].copy()
        selected.append(rem[best])
        observed.append(float(means[best]))
        remaining.remove(rem[best])
    settings = describe(predictor, options, n_out if num_rounds else 0, 1, current.shape[0],
                        test="higher_order", tile_size=tile_size, num_shuffles=num_shuffles,
                        seed=seed, shuffle=shuffle, num_rounds=num_rounds,
                        optimization=optimization)
    track_id = settings["tracks"][column] if column < len(settings["tracks"]) else column
    return finish(HigherOrderResult(wt=wt, tiles=tiles, single=single,
                                    selected=np.array(selected, dtype=np.int64),
                                    observed=np.array(observed), round_activity=round_activity,
                                    optimization=optimization, track=int(track_id), seed=seed,
                                    settings=settings), loci)
