"""What every batch source and the batch loop share: timings, and the check every
batch of predictions passes."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from creme_fast.errors import NonFiniteOutput
from creme_fast.pipeline.plan import Plan

__all__ = ["PipelineStats", "check_predictions"]


@dataclass
class PipelineStats:
    """Where the time of one run went (seconds), and what took which path.

    Attributes
    ----------
    n_mutants, n_batches : int
        Rows predicted, model calls (a batch of the incremental path counts once).
    splice_s, one_hot_s : float
        Producer time building batches (splice; one-hot and, incremental, windows).
    model_s, wait_s, wall_s : float
        Time in the model; time the model side waited for a batch; wall time.
    n_incremental, n_parents : int
        Mutants that took the incremental path; parents run through the trunk.
    trunk_bp_avoided, flops_avoided : int, float
        Trunk input (bp) and FLOPs the incremental path did not recompute.
    """

    n_mutants: int = 0
    n_batches: int = 0
    splice_s: float = 0.0
    one_hot_s: float = 0.0
    model_s: float = 0.0
    wait_s: float = 0.0
    wall_s: float = 0.0
    n_incremental: int = 0
    n_parents: int = 0
    trunk_bp_avoided: int = 0
    flops_avoided: float = 0.0

    @property
    def n_full_path(self) -> int:
        """Mutants run through the whole model (parents included)."""
        return self.n_mutants - self.n_incremental

    @property
    def build_s(self) -> float:
        """Producer busy time: splice plus one-hot."""
        return self.splice_s + self.one_hot_s

    @property
    def model_efficiency(self) -> float:
        """Model busy time over wall time (1.0: the device never waited)."""
        return self.model_s / self.wall_s if self.wall_s else 0.0

    def add(self, other: PipelineStats) -> None:
        """Add ``other``'s counts and times to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def check_predictions(pred: np.ndarray, rows: np.ndarray, plan: Plan,
                      bins: Sequence[int] | None, tracks: Sequence[int] | None) -> np.ndarray:
    """Shape check, bin/track selection and the non-finite check of one batch.

    Parameters
    ----------
    pred : numpy.ndarray, shape=(B, bins, tracks)
        What the model returned for ``rows``.
    rows : numpy.ndarray of int64, shape=(B,)
        The plan rows of the batch (for messages).
    plan : Plan
    bins, tracks : sequence of int, optional
        Output bins and columns to keep.

    Returns
    -------
    numpy.ndarray, shape=(B, len(bins), len(tracks))

    Raises
    ------
    ValueError
        A shape the engine cannot read, or a bin/track out of range.
    NonFiniteOutput
        NaN or infinity; the message names the first such mutant.
    """
    if pred.ndim != 3 or pred.shape[0] != len(rows):
        raise ValueError(f"the model returned shape {pred.shape} for a batch of "
                         f"{len(rows)}; expected (batch, bins, tracks)")
    for name, picked, size in (("bins", bins, pred.shape[1]), ("tracks", tracks, pred.shape[2])):
        if picked is not None and any(not 0 <= int(i) < size for i in picked):
            raise ValueError(f"{name} {[int(i) for i in picked]} is out of range: the model "
                             f"returns {size} {name} (0..{size - 1})")
    if bins is not None:
        pred = pred[:, list(bins)]
    if tracks is not None:
        pred = pred[:, :, list(tracks)]
    bad = ~np.isfinite(pred).reshape(pred.shape[0], -1).all(axis=1)
    if bad.any():
        row = int(rows[int(np.flatnonzero(bad)[0])])
        raise NonFiniteOutput(f"the model returned NaN or infinity for mutant {row} "
                              f"({plan.describe(row)})", row)
    return pred
