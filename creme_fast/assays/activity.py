"""Activity: each locus's wild-type prediction (``creme-fast run activity``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays.design import Stage, Stages
from creme_fast.assays.inputs import as_loci
from creme_fast.assays.result import AssayResult, activity
from creme_fast.pipeline import Engine, PlanBuilder
from creme_fast.schema.coords import check_loci

__all__ = ["Activity", "ActivityResult"]


@dataclass
class ActivityResult(AssayResult):
    """Attributes
    ----------
    pred : numpy.ndarray, shape=(n_loci, bins, tracks)
    """

    kind: ClassVar[str] = "activity"
    pred: np.ndarray

    def raw_frame(self) -> pd.DataFrame:
        """One row per locus and track: the activity (mean over the bins kept)."""
        act = activity(self.pred)
        locus, track = np.meshgrid(np.arange(act.shape[0]), np.arange(act.shape[1]),
                                   indexing="ij")
        return pd.DataFrame({"locus": locus.ravel(), "track": track.ravel(),
                             "activity": act.ravel()})


@dataclass(frozen=True)
class Activity:
    """The design of activity: one plan, one unedited row per locus.

    Attributes
    ----------
    tokens : numpy.ndarray of uint8, shape=(n_loci, L)
    seed : int
    loci : pandas.DataFrame or None
    """

    tokens: np.ndarray
    seed: int = 0
    loci: Any = None

    @classmethod
    def of(cls, seqs: Any, *, seed: int = 0, loci: Any = None) -> Activity:
        """The design of these loci (checked)."""
        tokens = as_loci(seqs)
        return cls(tokens=tokens, seed=seed, loci=check_loci(loci, tokens.shape[0]))

    def stages(self, engine: Engine) -> Stages:
        builder = PlanBuilder(self.seed)
        builder.rows_of(self.tokens)
        pred = yield Stage(builder.build(), "activity")
        return ActivityResult(pred=pred, settings=engine.describe(
            pred.shape[-1], self.tokens.shape[0], self.tokens.shape[1]))
