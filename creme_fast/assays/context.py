"""Test 1, context dependence: the TSS tile in dinucleotide-shuffled contexts."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creme_fast.assays.design import Stage, Stages
from creme_fast.assays.inputs import as_loci, default_tss, locus_keys, run_label
from creme_fast.assays.result import AssayResult, activity, safe_ratio
from creme_fast.assays.runner import run_assay
from creme_fast.assays.shuffles import KIND_CONTEXT, ShuffleSource
from creme_fast.pipeline import Engine, PlanBuilder, stream_keys
from creme_fast.runtime.base import Predictor
from creme_fast.schema.coords import check_loci

__all__ = ["ContextDependence", "ContextDependenceResult", "categorize_context",
           "context_dependence", "context_plan"]

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
    regions: ClassVar = {"tss_tile": ("tss_tile_start", "tss_tile_end")}
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

    def raw_frame(self) -> pd.DataFrame:
        """One row per locus and track."""
        wt, mut = activity(self.wt), activity(self.mut)
        n_loci, n_tracks = wt.shape
        locus, track = np.meshgrid(np.arange(n_loci), np.arange(n_tracks), indexing="ij")
        return pd.DataFrame({"locus": locus.ravel(), "track": track.ravel(),
                             "tss_tile_start": self.tss_tile[0], "tss_tile_end": self.tss_tile[1],
                             "wt": wt.ravel(), "mean_mut": mut.mean(axis=1).ravel(),
                             "std_mut": mut.std(axis=1).ravel(), "effect": self.effect.ravel(),
                             "category": self.category.ravel()})


def context_plan(builder: PlanBuilder, tokens: np.ndarray, keys: np.ndarray, tss: tuple[int, int],
                 num_shuffles: int, source: ShuffleSource, *, wild_type: bool = True) -> None:
    """The rows of context dependence, per locus: the wild type (when ``wild_type``),
    then ``num_shuffles`` dinucleotide shuffles of the whole window (stream
    ``(key, KIND_CONTEXT, n)``) with the TSS tile put back.

    Parameters
    ----------
    builder : PlanBuilder
    tokens : numpy.ndarray of uint8, shape=(n_loci, L)
    keys : numpy.ndarray of int64, shape=(n_loci,)
    tss : (start, end)
    num_shuffles : int
    source : ShuffleSource
    wild_type : bool, default=True
    """
    length = tokens.shape[1]
    shuffles = np.arange(num_shuffles)
    for i in range(tokens.shape[0]):
        base = builder.base(tokens[i])
        if wild_type:
            builder.rows(1, base, locus=i, shuffle=-1)
        rows = builder.rows(num_shuffles, base, locus=i, shuffle=shuffles)
        source.apply(builder, rows, 0, length, stream_keys(keys[i], KIND_CONTEXT, shuffles),
                     tokens[i])
        builder.copy(rows, tss[0], tss[1], builder.source(tokens[i, tss[0]:tss[1]]))


@dataclass(frozen=True)
class ContextDependence:
    """The design of test 1: one plan, every locus's wild type and shuffled contexts.

    Made by :meth:`of` from :func:`context_dependence`'s arguments, checked (sequences as
    tokens, per-locus stream keys, tiles and regions in window coordinates,
    the progress label, the loci's table).
    """

    tokens: np.ndarray
    keys: np.ndarray
    tss: tuple[int, int]
    tile_size: int
    num_shuffles: int
    seed: int
    shuffle: str = "fast"
    rng: Any = field(default=None, compare=False)
    label: str = "context dependence"
    loci: Any = None

    @classmethod
    def of(cls, seqs: Any, *, tss_tile: Sequence[int] | None = None, tile_size: int = 5000,
           num_shuffles: int = 10, seed: int = 0, shuffle: str = "fast", rng: Any = None,
           locus_keys_: Sequence[int] | None = None, names: Sequence[str] | None = None,
           loci: Any = None) -> ContextDependence:
        """The design of :func:`context_dependence`'s inputs (checked)."""
        tokens = as_loci(seqs)
        n_loci, length = tokens.shape
        table = check_loci(loci, n_loci, names)
        tss = default_tss(length, tile_size, tss_tile)
        return cls(tokens=tokens, keys=locus_keys(n_loci, locus_keys_, names), tss=tss,
                   tile_size=tile_size, num_shuffles=num_shuffles, seed=seed, shuffle=shuffle,
                   rng=rng, label=run_label("context dependence", names, n_loci), loci=table)

    def stages(self, engine: Engine) -> Stages:
        builder = PlanBuilder(self.seed)
        context_plan(builder, self.tokens, self.keys, self.tss, self.num_shuffles,
                     ShuffleSource(self.shuffle, self.rng))
        pred = yield Stage(builder.build(), self.label)
        n_loci, length = self.tokens.shape
        pred = pred.reshape(n_loci, self.num_shuffles + 1, *pred.shape[1:])
        settings = engine.describe(pred.shape[-1], n_loci, length, test="context_dependence",
                                   tile_size=self.tile_size, num_shuffles=self.num_shuffles,
                                   seed=self.seed, shuffle=self.shuffle)
        return ContextDependenceResult(wt=pred[:, 0], mut=pred[:, 1:], tss_tile=self.tss,
                                       seed=self.seed, settings=settings)


def context_dependence(predictor: Predictor, seqs: Any, *, tss_tile: Sequence[int] | None = None,
                       tile_size: int = 5000, num_shuffles: int = 10, seed: int = 0,
                       shuffle: str = "fast", rng: Any = None,
                       locus_keys_: Sequence[int] | None = None,
                       names: Sequence[str] | None = None, loci: Any = None,
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
    loci : DataFrame or list of str, optional
        The loci's ``name`` and, for genome coordinates in ``to_frame``,
        ``chrom, tss (0-based), strand`` (``chrom_size`` clips at the end).
    **options
        Engine options: ``batch_size``, ``bins``, ``tracks``, ``verbose``, ``stats``,
        ``max_batch_bytes``, ``incremental``, ``trunk_cache_gb`` (see
        :func:`creme_fast.pipeline.fit_engine`).

    Returns
    -------
    ContextDependenceResult
    """
    return run_assay(predictor, options, ContextDependence.of, seqs, tile_size=tile_size,
                     num_shuffles=num_shuffles, seed=seed, shuffle=shuffle, rng=rng,
                     tss_tile=tss_tile, locus_keys_=locus_keys_, names=names, loci=loci)
