"""Test 1, context dependence: the TSS tile in dinucleotide-shuffled contexts."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays._common import (
    KIND_CONTEXT,
    AssayResult,
    ShuffleSource,
    activity,
    as_loci,
    check_predictor,
    default_tss,
    locus_keys,
    predict_plan,
    run_label,
    safe_ratio,
)
from creme_fast.pipeline import PlanBuilder, stream_keys
from creme_fast.runtime.base import Predictor

__all__ = ["ContextDependenceResult", "context_dependence", "categorize_context"]

# the paper's categories of the context effect
ENHANCING, NEUTRAL, SILENCING = 0.95, 0.05, -0.3


def categorize_context(effect: np.ndarray) -> np.ndarray:
    """``"enhancing"`` (> 0.95), ``"neutral"`` (|x| < 0.05), ``"silencing"`` (< -0.3), else
    ``"other"``."""
    effect = np.asarray(effect, dtype=np.float64)
    out = np.full(effect.shape, "other", dtype=object)
    out[effect > ENHANCING] = "enhancing"
    out[np.abs(effect) < NEUTRAL] = "neutral"
    out[effect < SILENCING] = "silencing"
    return out


@dataclass
class ContextDependenceResult(AssayResult):
    """Predictions of the wild type and of the TSS tile in shuffled contexts.

    Attributes
    ----------
    wt : numpy.ndarray, shape=(n_loci, bins, tracks)
    mut : numpy.ndarray, shape=(n_loci, num_shuffles, bins, tracks)
    tss_tile : tuple of int
    seed : int
    """

    kind: ClassVar[str] = "context_dependence"
    wt: np.ndarray
    mut: np.ndarray
    tss_tile: tuple[int, int]
    seed: int

    @property
    def effect(self) -> np.ndarray:
        """``(WT - mean(shuffled)) / WT`` per locus and track (activity = mean over bins)."""
        wt = activity(self.wt)
        return safe_ratio(wt - activity(self.mut).mean(axis=1), wt)

    @property
    def category(self) -> np.ndarray:
        return categorize_context(self.effect)

    def to_frame(self) -> pd.DataFrame:
        """One row per locus and track."""
        wt, mut = activity(self.wt), activity(self.mut)
        n_loci, n_tracks = wt.shape
        locus, track = np.meshgrid(np.arange(n_loci), np.arange(n_tracks), indexing="ij")
        return pd.DataFrame({"locus": locus.ravel(), "track": track.ravel(),
                             "wt": wt.ravel(), "mean_mut": mut.mean(axis=1).ravel(),
                             "std_mut": mut.std(axis=1).ravel(), "effect": self.effect.ravel(),
                             "category": self.category.ravel()})


def context_dependence(predictor: Predictor, seqs: Any, *, tss_tile: Sequence[int] | None = None,
                       tile_size: int = 5000, num_shuffles: int = 10, seed: int = 0,
                       shuffle: str = "fast", rng: Any = None,
                       locus_keys_: Sequence[int] | None = None,
                       names: Sequence[str] | None = None,
                       **options: Any) -> ContextDependenceResult:
    """Context dependence of one or many loci, batched across loci.

    Parameters
    ----------
    predictor : Predictor
    seqs : tokens (L,) or (n_loci, L), or str / list of str
    tss_tile : (start, end), optional
        Default: the centred tile of ``tile_size``.
    tile_size : int, default=5000
    num_shuffles : int, default=10
    seed : int, default=0
        Shuffle ``n`` of locus ``i`` uses native stream ``(seed, key_i, n)``.
    shuffle : {"fast", "uniform", "creme"}, default="fast"
        ``"creme"`` draws creme-nn's shuffles from ``rng`` (for parity).
    rng : numpy.random.RandomState, optional
    locus_keys_ : sequence of int, optional
        Stable per-locus keys (default 0..n-1).
    names : sequence of str, optional
        Locus names: locus ``i``'s shuffles are keyed by a hash of ``names[i]``,
        exactly as ``creme-fast run`` keys each TSS by its ``name``, so the same
        windows and settings give a CLI run's results exactly (and a locus's
        results do not depend on the other loci of the call). Default: keys
        ``0..n-1``. The bars name the loci.
    **options
        Engine options: ``batch_size``, ``bins``, ``tracks``, ``verbose``, ``stats``.

    Returns
    -------
    ContextDependenceResult
    """
    check_predictor(predictor)
    loci = as_loci(seqs)
    n_loci, length = loci.shape
    tss = default_tss(length, tile_size, tss_tile)
    keys = locus_keys(n_loci, locus_keys_, names)
    builder = PlanBuilder(seed)
    source = ShuffleSource(shuffle, rng)
    for i in range(n_loci):
        base = builder.base(loci[i])
        builder.rows(1, base, locus=i, shuffle=-1)
        rows = builder.rows(num_shuffles, base, locus=i, shuffle=np.arange(num_shuffles))
        source.apply(builder, rows, 0, length,
                     stream_keys(keys[i], KIND_CONTEXT, np.arange(num_shuffles)), loci[i])
        builder.copy(rows, tss[0], tss[1], builder.source(loci[i, tss[0]:tss[1]]))
    pred = predict_plan(builder.build(), predictor, options,
                        run_label("context dependence", names, n_loci))
    pred = pred.reshape(n_loci, num_shuffles + 1, *pred.shape[1:])
    return ContextDependenceResult(wt=pred[:, 0], mut=pred[:, 1:], tss_tile=tss, seed=seed)
