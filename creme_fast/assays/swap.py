"""Test 2, context swap: the TSS tile of one sequence in the context of another."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays._common import (
    AssayResult,
    activity,
    as_loci,
    check_arguments,
    default_tss,
    describe,
    finish,
    predict_plan,
)
from creme_fast.pipeline import PlanBuilder
from creme_fast.runtime.base import Predictor
from creme_fast.schema.frames import standard_frame

__all__ = ["ContextSwapResult", "context_swap"]


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
    check_arguments(predictor, options, tile_size=tile_size)
    src = as_loci(sources)
    tgt = src if targets is None else as_loci(targets)
    if src.shape[1] != tgt.shape[1]:
        raise ValueError(f"sources are {src.shape[1]} bp but targets {tgt.shape[1]} bp")
    tss = default_tss(src.shape[1], tile_size, tss_tile)
    labels = {"source": _names(names, src.shape[0], "names"),
              "target": _names(target_names if targets is not None else
                               (target_names or names), tgt.shape[0], "target_names")}
    builder = PlanBuilder()
    bases = [builder.base(t) for t in tgt]
    for i in range(src.shape[0]):
        tile = builder.source(src[i, tss[0]:tss[1]])
        rows = builder.rows(tgt.shape[0], np.array(bases), source=i,
                            target=np.arange(tgt.shape[0]))
        builder.copy(rows, tss[0], tss[1], tile)
    pred = predict_plan(builder.build(), predictor, options, "context swap")
    settings = describe(predictor, options, pred.shape[-1], src.shape[0], src.shape[1],
                        test="context_swap", tile_size=tile_size,
                        names=labels if any(v is not None for v in labels.values()) else None)
    return ContextSwapResult(pred=pred.reshape(src.shape[0], tgt.shape[0], *pred.shape[1:]),
                             tss_tile=tss, settings=settings)


def _names(names: Sequence[str] | None, n: int, option: str) -> list[str] | None:
    if names is None:
        return None
    names = [str(v) for v in names]
    if len(names) != n:
        raise ValueError(f"{option} has {len(names)} names for {n} sequences")
    return names
