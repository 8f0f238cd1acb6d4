"""Test 2, context swap: the TSS tile of one sequence in the context of another."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays.design import Stage, Stages
from creme_fast.assays.inputs import as_loci, default_tss
from creme_fast.assays.result import AssayResult, activity
from creme_fast.assays.runner import run_assay
from creme_fast.pipeline import Engine, PlanBuilder
from creme_fast.runtime.base import Predictor
from creme_fast.schema.frames import standard_frame

__all__ = ["ContextSwap", "ContextSwapResult", "context_swap", "swap_plan"]


@dataclass
class ContextSwapResult(AssayResult):
    """All-vs-all swap predictions.

    Attributes
    ----------
    pred : numpy.ndarray, shape=(n_sources, n_targets, bins, tracks)
        ``pred[i, j]``: target j's context with source i's TSS tile (the
        diagonal is each sequence unchanged).
    tss_tile : tuple of int
    """

    kind: ClassVar[str] = "context_swap"
    pred: np.ndarray
    tss_tile: tuple[int, int]

    @property
    def activity(self) -> np.ndarray:
        """(n_sources, n_targets, tracks)."""
        return activity(self.pred)

    def raw_frame(self) -> pd.DataFrame:
        act = self.activity
        s, t, k = np.meshgrid(*(np.arange(n) for n in act.shape), indexing="ij")
        return pd.DataFrame({"source": s.ravel(), "target": t.ravel(), "track": k.ravel(),
                             "activity": act.ravel()})

    def to_frame(self) -> pd.DataFrame:
        """Rows ``source, target`` (names of the loci whose TSS tile and context meet),
        ``track``, ``track_name``, ``activity``."""
        frame = standard_frame(self.raw_frame(), self.settings, None, {})
        names = self.settings.get("names")
        for col in ("source", "target"):
            labels = names[col] if names else None
            frame[col] = (np.asarray(labels, dtype=object)[frame[col].to_numpy()] if labels
                          else frame[col].astype(str))
        frame = frame.drop(columns="name")
        return frame[["source", "target"] + [c for c in frame if c not in ("source", "target")]]


def swap_plan(builder: PlanBuilder, sources: np.ndarray, targets: np.ndarray,
              tss: tuple[int, int], *, pairwise: bool = False) -> None:
    """The rows of the context swap: every source's TSS tile in every target, source-
    major (``pairwise``: source ``j``'s tile in target ``j`` only).

    Parameters
    ----------
    builder : PlanBuilder
    sources : numpy.ndarray of uint8, shape=(n_sources, L)
    targets : numpy.ndarray of uint8, shape=(n_targets, L)
    tss : (start, end)
    pairwise : bool, default=False
    """
    if pairwise:
        for j in range(targets.shape[0]):
            row = builder.rows(1, builder.base(targets[j]), target=j)
            builder.copy(row, tss[0], tss[1], builder.source(sources[j, tss[0]:tss[1]]))
        return
    bases = [builder.base(t) for t in targets]
    for i in range(sources.shape[0]):
        tile = builder.source(sources[i, tss[0]:tss[1]])
        rows = builder.rows(targets.shape[0], np.array(bases), source=i,
                            target=np.arange(targets.shape[0]))
        builder.copy(rows, tss[0], tss[1], tile)


@dataclass(frozen=True)
class ContextSwap:
    """The design of test 2: one plan, every source's TSS tile in every target.

    Made by :meth:`of` from :func:`context_swap`'s arguments, checked (sequences as
    tokens, per-locus stream keys, tiles and regions in window coordinates,
    the progress label, the loci's table).
    """

    sources: np.ndarray
    targets: np.ndarray
    tss: tuple[int, int]
    tile_size: int
    names: dict[str, list[str] | None] | None = None
    loci: Any = None

    @classmethod
    def of(cls, sources: Any, targets: Any | None = None, *,
           tss_tile: Sequence[int] | None = None, tile_size: int = 5000,
           names: Sequence[str] | None = None,
           target_names: Sequence[str] | None = None) -> ContextSwap:
        """The design of :func:`context_swap`'s inputs (checked)."""
        src = as_loci(sources)
        tgt = src if targets is None else as_loci(targets)
        if src.shape[1] != tgt.shape[1]:
            raise ValueError(f"sources are {src.shape[1]} bp but targets {tgt.shape[1]} bp")
        tss = default_tss(src.shape[1], tile_size, tss_tile)
        labels = {"source": _names(names, src.shape[0], "names"),
                  "target": _names(target_names if targets is not None else
                                   (target_names or names), tgt.shape[0], "target_names")}
        return cls(sources=src, targets=tgt, tss=tss, tile_size=tile_size,
                   names=labels if any(v is not None for v in labels.values()) else None)

    def stages(self, engine: Engine) -> Stages:
        builder = PlanBuilder()
        swap_plan(builder, self.sources, self.targets, self.tss)
        pred = yield Stage(builder.build(), "context swap")
        n_src, length = self.sources.shape
        settings = engine.describe(pred.shape[-1], n_src, length, test="context_swap",
                                   tile_size=self.tile_size, names=self.names)
        return ContextSwapResult(pred=pred.reshape(n_src, self.targets.shape[0],
                                                   *pred.shape[1:]),
                                 tss_tile=self.tss, settings=settings)


def context_swap(predictor: Predictor, sources: Any, targets: Any | None = None, *,
                 tss_tile: Sequence[int] | None = None, tile_size: int = 5000,
                 names: Sequence[str] | None = None, target_names: Sequence[str] | None = None,
                 **options: Any) -> ContextSwapResult:
    """Put every source's TSS tile into every target at the same position.

    Parameters
    ----------
    predictor : Predictor
    sources : tokens (L,) or (n, L)
    targets : tokens, optional
        Default: the sources themselves (all-vs-all).
    tss_tile, tile_size
        The swapped tile (default: the centred tile).
    names, target_names : sequence of str, optional
        Names of the sources and targets (default: the sources' names, else
        their positions).
    **options
        Engine options.
    """
    return run_assay(predictor, options, ContextSwap.of, sources, targets, tile_size=tile_size,
                     tss_tile=tss_tile, names=names, target_names=target_names)


def _names(names: Sequence[str] | None, n: int, option: str) -> list[str] | None:
    if names is None:
        return None
    names = [str(v) for v in names]
    if len(names) != n:
        raise ValueError(f"{option} has {len(names)} names for {n} sequences")
    return names
