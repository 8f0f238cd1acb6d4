"""Test 7, CRE multiplicity: copies of one CRE inserted at the greedily best positions."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays.design import Stage, Stages
from creme_fast.assays.inputs import as_loci, as_tile, default_tss, run_label, single_key
from creme_fast.assays.result import AssayResult, activity, track_column
from creme_fast.assays.runner import run_assay
from creme_fast.assays.shuffles import ShuffleSource, add_backgrounds
from creme_fast.pipeline import Engine, PlanBuilder
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci
from creme_fast.sequence.tiles import tile_layout

__all__ = ["Multiplicity", "MultiplicityResult", "copies_plan", "multiplicity",
           "multiplicity_controls"]


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


def multiplicity_controls(builder: PlanBuilder, wt: np.ndarray, key: int,
                          tss: tuple[int, int], cre: tuple[int, int], cre_tokens: np.ndarray,
                          num_shuffles: int, source: ShuffleSource) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """The controls of multiplicity: ``num_shuffles`` backgrounds + TSS tile (stream
    ``(key, KIND_BACKGROUND, -1, n)``), then the same with ``cre_tokens`` at ``cre``
    (each one's parent is its background). Returns both sets of rows."""
    base = builder.base(wt)
    tss_src, cre_src = builder.source(wt[tss[0]:tss[1]]), builder.source(cre_tokens)
    tss_only = add_backgrounds(builder, source, base, wt, key, -1, num_shuffles, tss, tss_src,
                               cre=0)
    with_cre = add_backgrounds(builder, source, base, wt, key, -1, num_shuffles, tss, tss_src,
                               cre=1, parent=tss_only)
    builder.copy(with_cre, cre[0], cre[1], cre_src)
    return tss_only, with_cre


def copies_plan(builder: PlanBuilder, current: np.ndarray, cre_tokens: np.ndarray,
                positions: np.ndarray, remaining: Sequence[int], *, parents: bool = False,
                copy: int = 0) -> np.ndarray:
    """One copy round of multiplicity: per remaining position (position-major), per
    background ``n``, background ``n``'s current sequence with one more copy of
    the CRE starting there. With ``parents``, each background's current sequence
    is added unedited first, as its mutants' parent. Returns the mutant rows.

    Parameters
    ----------
    builder : PlanBuilder
    current : numpy.ndarray of uint8, shape=(num_shuffles, L)
    cre_tokens : numpy.ndarray of uint8
    positions : numpy.ndarray of int64
        Every candidate start.
    remaining : sequence of int
        Indices into ``positions`` still free.
    parents : bool, default=False
    copy : int, default=0
        The round (a row label).
    """
    n = current.shape[0]
    shuffles = np.arange(n)
    bases = [builder.base(current[k]) for k in range(n)]
    cre_src = builder.source(cre_tokens)
    rem = np.array(remaining)
    p_idx = np.repeat(rem, n)
    n_idx = np.tile(shuffles, len(rem))
    heads = (builder.rows(n, np.asarray(bases, dtype=np.int64), copy=copy, position=-1,
                          shuffle=shuffles) if parents else -1)
    rows = builder.rows(len(p_idx), np.array(bases)[n_idx], copy=copy, position=p_idx,
                        shuffle=n_idx, parent=heads if np.ndim(heads) == 0
                        else np.asarray(heads)[n_idx])
    builder.copy(rows, positions[p_idx], positions[p_idx] + len(cre_tokens), cre_src)
    return rows


@dataclass(frozen=True)
class Multiplicity:
    """The design of test 7: a plan of controls, then one plan per copy, each decided
    by the last: every free position gets one more copy of the CRE in each
    background, and the position that moves the followed track most
    (``optimization``) is kept.

    Made by :meth:`of` from :func:`multiplicity`'s arguments, checked (sequences as
    tokens, per-locus stream keys, tiles and regions in window coordinates,
    the progress label, the loci's table).
    """

    wt: np.ndarray
    key: int
    tss: tuple[int, int]
    cre: tuple[int, int]
    positions: np.ndarray
    num_copies: int
    optimization: str
    track: int | None
    tile_size: int
    num_shuffles: int
    seed: int
    shuffle: str = "fast"
    label: str = "multiplicity"
    loci: Any = None
    rng: Any = field(default=None, compare=False)

    @classmethod
    def of(cls, seq: Any, cre_tile: Sequence[int], *, positions: Sequence[int] | None = None,
           tss_tile: Sequence[int] | None = None, tile_size: int = 5000,
           num_shuffles: int = 10, num_copies: int = 5, optimization: str = "max",
           track: int | None = None, seed: int = 0, shuffle: str = "fast", locus_key: int = 0,
           name: str | None = None, loci: Any = None) -> Multiplicity:
        """The design of :func:`multiplicity`'s inputs (checked)."""
        key = single_key(locus_key, name)
        label = run_label("multiplicity", name, key=key)
        if optimization not in ("min", "max"):
            raise ValueError(f"optimization must be 'min' or 'max', got {optimization!r}")
        wt = as_loci(seq)[0]
        length = wt.shape[0]
        table = check_loci(loci, 1, name)
        tss = default_tss(length, tile_size, tss_tile)
        cre = as_tile(cre_tile, length, "cre_tile")
        width = cre[1] - cre[0]
        positions = (tile_layout(length, tile_size).tiles[:, 0] if positions is None
                     else np.asarray(positions, dtype=np.int64).reshape(-1))
        if np.any((positions < 0) | (positions + width > length)):
            raise ValueError(f"a position puts the {width} bp CRE outside the sequence")
        return cls(wt=wt, key=key, tss=tss, cre=cre, positions=positions,
                   num_copies=min(int(num_copies), len(positions)), optimization=optimization,
                   track=track, tile_size=tile_size, num_shuffles=num_shuffles, seed=seed,
                   shuffle=shuffle, label=label, loci=table)

    def stages(self, engine: Engine) -> Stages:
        wt, cre, positions, n = self.wt, self.cre, self.positions, self.num_shuffles
        pick = np.argmin if self.optimization == "min" else np.argmax
        column = engine.column(self.track)
        cre_tokens = wt[cre[0]:cre[1]]
        builder = PlanBuilder(self.seed)
        multiplicity_controls(builder, wt, self.key, self.tss, cre, cre_tokens, n,
                              ShuffleSource(self.shuffle, self.rng))
        plan = builder.build()
        act = activity((yield Stage(plan, f"{self.label}: controls")))
        settings = engine.describe(act.shape[-1], 1, wt.shape[0], test="multiplicity",
                                   tile_size=self.tile_size, num_shuffles=n, seed=self.seed,
                                   shuffle=self.shuffle, num_copies=self.num_copies,
                                   optimization=self.optimization)
        act = act[:, column]
        tss_only, at_home = float(act[:n].mean()), float(act[n:].mean())
        current = plan.materialize(0, n).copy()  # background + TSS, per shuffle
        remaining = list(range(len(positions)))
        round_activity = np.full((self.num_copies, len(positions), n), np.nan)
        chosen, trace = [], []
        for c in range(self.num_copies):
            builder = PlanBuilder(self.seed)
            rows = copies_plan(builder, current, cre_tokens, positions, remaining,
                               parents=engine.incremental, copy=c)
            plan = builder.build()
            act = activity((yield Stage(plan, f"{self.label}: copy {c + 1}")))[rows, column]
            rem = np.array(remaining)
            per = act.reshape(len(rem), n)
            round_activity[c, rem] = per
            best = int(pick(per.mean(axis=1)))
            current = plan.materialize_rows(rows[best * n:(best + 1) * n])
            chosen.append(int(positions[rem[best]]))
            trace.append(float(per[best].mean()))
            remaining.remove(rem[best])
        return MultiplicityResult(
            tss_only=tss_only, cre_at_home=at_home, activity_by_copies=np.array(trace),
            selected_positions=np.array(chosen, dtype=np.int64), round_activity=round_activity,
            positions=positions, optimization=self.optimization,
            track=settings["tracks"][column], seed=self.seed, cre_tile=cre, settings=settings)


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
    return run_assay(predictor, options, Multiplicity.of, seq, cre_tile, tile_size=tile_size,
                     num_shuffles=num_shuffles, num_copies=num_copies, seed=seed, shuffle=shuffle,
                     locus_key=locus_key, track=track, positions=positions, tss_tile=tss_tile,
                     optimization=optimization, name=name, loci=loci)
