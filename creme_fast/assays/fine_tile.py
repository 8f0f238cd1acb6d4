"""Test 8, fine-tile search: prune a CRE to the sub-tiles that carry its effect."""
from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

__all__ = ["FineTileResult", "fine_tile_search"]


@dataclass
class FineTileResult(AssayResult):
    """Attributes
    ----------
    cre_tile : tuple of int
    kept : numpy.ndarray, shape=(n_kept, 2)
        Surviving sub-tiles after the last stage.
    kept_mask : numpy.ndarray of bool, shape=(cre_end - cre_start,)
        Bases of the CRE inside a kept sub-tile.
    stage_windows : numpy.ndarray, shape=(n_stages,)
    scores : numpy.ndarray, shape=(n_iterations,)
        Fraction of the whole CRE's effect kept after each pruning iteration.
    score_stage : numpy.ndarray, shape=(n_iterations,)
    removed : numpy.ndarray, shape=(n_removed, 2)
    full_cre : float
        Mean activity with the whole CRE in the backgrounds.
    cre_type : str
    track : int
        The model's original index of the track followed.
    seed : int
    note : str
        Why nothing was pruned, when the CRE's effect cannot be normalised
        (empty otherwise).
    tss_only : float
        Mean activity of the backgrounds with the TSS tile alone (no CRE).
    kept_activity : float
        Mean activity with only the kept sub-tiles of the CRE.
    """

    kind: ClassVar[str] = "fine_tile"
    regions: ClassVar = {"tile": ("tile_start", "tile_end"), "cre": ("cre_start", "cre_end")}
    primary: ClassVar = "tile"
    cre_tile: tuple[int, int]
    kept: np.ndarray
    kept_mask: np.ndarray
    stage_windows: np.ndarray
    scores: np.ndarray
    score_stage: np.ndarray
    removed: np.ndarray
    full_cre: float
    cre_type: str
    track: int
    seed: int
    note: str = ""
    tss_only: float = float("nan")
    kept_activity: float = float("nan")

    @property
    def cre_effect(self) -> float:
        """The whole CRE's effect over the TSS tile alone: ``full_cre / tss_only - 1``."""
        return _ratio(self.full_cre - self.tss_only, self.tss_only)

    @property
    def effect_retained(self) -> float:
        """Fraction of the whole CRE's effect the kept sub-tiles retain:
        ``(kept_activity - tss_only) / (full_cre - tss_only)`` (NaN when the CRE has
        no effect)."""
        return _ratio(self.kept_activity - self.tss_only, self.full_cre - self.tss_only)

    def raw_frame(self) -> pd.DataFrame:
        """Every sub-tile decided on: the kept ones and the removed ones."""
        tiles = np.concatenate([self.kept, self.removed]).reshape(-1, 2).astype(np.int64)
        kept = np.r_[np.ones(len(self.kept), bool), np.zeros(len(self.removed), bool)]
        return pd.DataFrame({"track": track_column(self.settings, self.track),
                             "cre_start": self.cre_tile[0], "cre_end": self.cre_tile[1],
                             "tile_start": tiles[:, 0], "tile_end": tiles[:, 1], "kept": kept,
                             "tss_only_activity": self.tss_only, "cre_activity": self.full_cre,
                             "kept_activity": self.kept_activity,
                             "cre_effect": self.cre_effect,
                             "effect_retained": self.effect_retained,
                             "note": self.note}).sort_values(["tile_start", "tile_end"],
                                                             ignore_index=True)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 and np.isfinite(den) else float("nan")


def _subtiles(intervals: list[tuple[int, int]], window: int, step: int) -> list[tuple[int, int]]:
    out = []
    for start, end in intervals:
        out += [(s, s + window) for s in range(start, end - step + 1, step)]
    return out


def fine_tile_search(predictor: Predictor, seq: Any, cre_tile: Sequence[int], *,
                     scales: Sequence[int] = (500, 50), thresholds: Sequence[float] = (0.8, 0.8),
                     n_batches: Sequence[int] = (2, 5), frac: float = 1.0,
                     cre_type: str = "enhancer", tss_tile: Sequence[int] | None = None,
                     tile_size: int = 5000, num_shuffles: int = 10, track: int | None = None,
                     seed: int = 0, shuffle: str = "fast", locus_key: int = 0,
                     name: str | None = None, loci: Any = None,
                     **options: Any) -> FineTileResult:
    """Greedy pruning of a CRE in stages of shrinking sub-tiles.

    In backgrounds that hold the TSS tile and the whole CRE, each iteration puts
    every remaining sub-tile back to background in turn, removes the
    ``n_batches[stage]`` least useful ones, and continues while the remaining
    sub-tiles keep more than ``thresholds[stage]`` of the whole CRE's effect
    (the last removal that crosses it is undone).

    Parameters
    ----------
    predictor : Predictor
    seq : tokens (L,)
    cre_tile : (start, end)
    scales : sequence of int, default=(500, 50)
        Sub-tile width per stage.
    thresholds : sequence of float, default=(0.8, 0.8)
        Fraction of the CRE's effect (activity ratio to the whole CRE) to keep.
    n_batches : sequence of int, default=(2, 5)
        Sub-tiles removed per iteration in each stage.
    frac : float, default=1.0
        Step between sub-tiles as a fraction of the width.
    cre_type : {"enhancer", "silencer"}
    name : str, optional
        The locus's name: its shuffles are keyed by a hash of it, exactly as
        ``creme-fast run`` keys the locus (instead of ``locus_key``), so the same
        window and settings give a CLI run's result exactly. The bars name it.
    track : int, optional
        The model's original index of the track followed (default: the first).
    loci : DataFrame or list of str, optional
        The locus's ``name`` (and ``chrom, tss, strand`` for genome coordinates).
    **options
        Engine options; the other parameters are as in :func:`creme_fast.assays.sufficiency`.
    """
    check_arguments(predictor, options, tile_size=tile_size, num_shuffles=num_shuffles,
                    seed=seed, shuffle=shuffle, locus_key=locus_key, track=track, frac=frac,
                    scales=scales, thresholds=thresholds, n_batches=n_batches)
    locus_key = single_key(locus_key, name)
    label = run_label("fine-tile", name, key=locus_key)
    if cre_type not in ("enhancer", "silencer"):
        raise ValueError(f"cre_type must be 'enhancer' or 'silencer', got {cre_type!r}")
    if not len(scales) == len(thresholds) == len(n_batches):
        raise ValueError("scales, thresholds and n_batches must have the same length")
    wt = as_loci(seq)[0]
    length = wt.shape[0]
    loci = check_loci(loci, 1, name)
    column = track_position(predictor, options, track)
    settings: dict[str, Any] = {}
    tss = default_tss(length, tile_size, tss_tile)
    cre = as_tile(cre_tile, length, "cre_tile")
    shuffles = np.arange(num_shuffles)
    builder = PlanBuilder(seed)
    add_backgrounds(builder, ShuffleSource(shuffle), builder.base(wt), wt, locus_key, -1,
                    num_shuffles, tss, builder.source(wt[tss[0]:tss[1]]))
    controls = builder.build().materialize(0, num_shuffles).copy()

    def mean_activity(seqs: np.ndarray, desc: str) -> np.ndarray:
        b = PlanBuilder(seed)
        b.rows_of(seqs)
        act = activity(predict_plan(b.build(), predictor, options, desc))
        if not settings:
            settings.update(describe(predictor, options, act.shape[-1], 1, length,
                                     test="fine_tile", tile_size=tile_size,
                                     num_shuffles=num_shuffles, seed=seed, shuffle=shuffle,
                                     scales=list(scales), thresholds=list(thresholds),
                                     n_batches=list(n_batches), frac=frac, cre_type=cre_type))
        return act[:, column]

    with_cre = controls.copy()
    with_cre[:, cre[0]:cre[1]] = wt[cre[0]:cre[1]]
    both = mean_activity(np.concatenate([controls, with_cre]),
                         f"{label}: TSS tile alone and whole CRE")
    tss_only, full = float(both[:num_shuffles].mean()), float(both[num_shuffles:].mean())
    if full == 0 or not np.isfinite(full):
        note = (f"activity with the whole CRE is {full}: its effect cannot be normalised, "
                "nothing was pruned")
        log.warning("fine-tile search of %s: %s", cre, note)
        return finish(FineTileResult(
            cre_tile=cre, kept=np.array([cre], dtype=np.int64),
            kept_mask=np.ones(cre[1] - cre[0], dtype=bool), stage_windows=np.array(scales),
            scores=np.zeros(0), score_stage=np.zeros(0, dtype=np.int64),
            removed=np.zeros((0, 2), dtype=np.int64), full_cre=full, cre_type=cre_type,
            track=settings["tracks"][column], seed=seed, note=note, tss_only=tss_only,
            kept_activity=full, settings=settings), loci)
    keep_going = (lambda s, t: s > t) if cre_type == "enhancer" else (lambda s, t: s < t)
    intervals = [cre]
    pruned = with_cre
    scores, score_stage, removed_all = [], [], []
    for stage, (window, threshold, n_batch) in enumerate(zip(scales, thresholds, n_batches)):
        step = max(1, int(window * frac))
        candidates = _subtiles(intervals, window, step)
        score = float(mean_activity(pruned, f"{label}: stage {stage + 1} start").mean()) / full
        removed_stage: list[tuple[int, int]] = []
        accepted, accepted_score = pruned, score
        while keep_going(score, threshold) and candidates:
            accepted, accepted_score = pruned, score
            b = PlanBuilder(seed)
            idx = [b.base(s) for s in pruned]
            ctrl_src = [b.source(c) for c in controls]
            c_idx = np.repeat(np.arange(len(candidates)), num_shuffles)
            n_idx = np.tile(shuffles, len(candidates))
            starts = np.array([c[0] for c in candidates])[c_idx]
            ends = np.array([c[1] for c in candidates])[c_idx]
            heads = parent_rows(b, predictor, options, idx, candidate=-1, shuffle=shuffles)
            rows = b.rows(len(c_idx), np.array(idx)[n_idx], candidate=c_idx, shuffle=n_idx,
                          parent=heads if np.ndim(heads) == 0 else np.asarray(heads)[n_idx])
            b.copy(rows, starts, ends, np.array(ctrl_src)[n_idx] + starts)
            act = activity(predict_plan(b.build(), predictor, options,
                                        f"{label}: stage {stage + 1}"))[rows, column]
            per = act.reshape(len(candidates), num_shuffles).mean(axis=1)
            order = np.argsort(per, kind="stable")
            drop = order[-n_batch:] if cre_type == "enhancer" else order[:n_batch]
            drop_set = {candidates[i] for i in drop}
            pruned = pruned.copy()
            for start, end in drop_set:
                pruned[:, start:end] = controls[:, start:end]
            removed_stage += sorted(drop_set)
            candidates = [c for c in candidates if c not in drop_set]
            score = float(mean_activity(pruned, f"stage {stage + 1} check").mean()) / full
            scores.append(score)
            score_stage.append(stage)
            log.debug("stage %d: %d sub-tiles left, score %.3f", stage + 1, len(candidates), score)
        if not keep_going(score, threshold) and removed_stage:
            # undo the removal that crossed the threshold
            last = removed_stage[-len(drop_set):]
            candidates = sorted(candidates + last)
            removed_stage = removed_stage[:-len(drop_set)]
            pruned, score = accepted, accepted_score
        removed_all += removed_stage
        intervals = candidates
    kept = np.array(sorted(intervals), dtype=np.int64).reshape(-1, 2)
    mask = np.zeros(cre[1] - cre[0], dtype=bool)
    for start, end in kept:
        mask[start - cre[0]:end - cre[0]] = True
    return finish(FineTileResult(
        cre_tile=cre, kept=kept, kept_mask=mask, stage_windows=np.array(scales),
        scores=np.array(scores), score_stage=np.array(score_stage),
        removed=np.array(removed_all, dtype=np.int64).reshape(-1, 2), full_cre=full,
        cre_type=cre_type, track=settings["tracks"][column], seed=seed, tss_only=tss_only,
        kept_activity=score * full, settings=settings), loci)
