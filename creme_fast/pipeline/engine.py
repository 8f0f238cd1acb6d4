"""The engine: options fitted once into a frozen :class:`Engine`, which predicts plans.

Everything that runs a plan receives an :class:`Engine`: the assays' runner
(:func:`creme_fast.assays.runner.run_assay`) fits one per call from the
engine options a test was given, ``creme-fast run`` fits one per run
(:func:`creme_fast.runs.checks.fit_run`). Fitting checks every option against
the model, decides once whether the incremental path will run, and measures the
memory budget once (:class:`~creme_fast.pipeline.memory.BatchBudget`); nothing
downstream checks them again. A plan runs in batches of ``batch_size``, or of
its own size when smaller, within the budget (:meth:`Engine.batch_for`).

:meth:`Engine.predict` picks the batch source (full, or incremental when the
model has the pieces and the plan has parent rows) and hands it to the one batch
loop (:func:`creme_fast.pipeline.loop.run_batches`).
"""
from __future__ import annotations

import difflib
import logging
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from creme_fast._validate import check_count, check_indices
from creme_fast.pipeline.full import FullBatches
from creme_fast.pipeline.incremental import IncrementalBatches, resolve_incremental
from creme_fast.pipeline.loop import run_batches
from creme_fast.pipeline.memory import BatchBudget, batch_budget, batch_cost
from creme_fast.pipeline.plan import Plan
from creme_fast.pipeline.stats import PipelineStats
from creme_fast.progress import Progress, progress_allowed
from creme_fast.runtime.base import Predictor, known_output_shape
from creme_fast.runtime.incremental import incremental_of
from creme_fast.runtime.gpu_batch import GpuBatchLimit, fit_gpu_batch
from creme_fast.runtime.readout import resolve_bins
from creme_fast.schema.tracks import ModelTracks, model_tracks

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_BATCH_SIZE", "ENGINE_OPTIONS", "Engine", "PipelineStats", "check_options",
           "fit_batch_now", "fit_engine", "run_plan"]

#: Sequences per model call when no batch size is given (the one place it is written).
DEFAULT_BATCH_SIZE = 8

#: The engine options every test takes as ``**options`` (anything else is a TypeError).
ENGINE_OPTIONS = frozenset({"batch_size", "bins", "tracks", "verbose", "stats",
                            "max_batch_bytes", "incremental", "trunk_cache_gb"})


@dataclass(frozen=True)
class Engine:
    """Engine options, checked and fitted to one model: what every plan runs with.

    Attributes
    ----------
    batch_size : int
        Sequences per model call; a plan with fewer rows runs in one batch of its
        size. Results do not depend on it.
    explicit : bool
        ``batch_size`` was asked for: a batch over the budget is refused (else
        the largest that fits is taken).
    budget : BatchBudget or None
        The memory batches must fit (None: not checked, as :func:`run_plan`).
    batch_option : str
        ``batch_size``'s name in messages.
    bins : tuple of int or None
        Output bins averaged (None: all; :func:`fit_engine` reads the model's
        recorded TSS bins when none are given).
    tracks : tuple of int or None
        The model's original indices of the tracks kept (None: all).
    columns : tuple of int or None
        The output columns of ``tracks``.
    incremental : bool
        Plans with parent rows take the incremental path (decided once: the
        model offers the pieces and the caller did not refuse them).
    trunk_cache_gb : float
        Memory for cached parent trunk rows.
    prefetch : int
        Batches built ahead of the model.
    verbose : bool
        Progress bars (:class:`creme_fast.progress.Progress`).
    stats : PipelineStats or None
        Accumulates timings across plans (shared, not compared).
    model_tracks : ModelTracks
        The original index and name of each of the model's output columns.
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    explicit: bool = False
    budget: BatchBudget | None = None
    batch_option: str = "batch_size"
    bins: tuple[int, ...] | None = None
    tracks: tuple[int, ...] | None = None
    columns: tuple[int, ...] | None = None
    incremental: bool = False
    trunk_cache_gb: float = 2.0
    prefetch: int = 2
    verbose: bool = True
    stats: PipelineStats | None = field(default=None, compare=False, repr=False)
    model_tracks: ModelTracks = field(default_factory=ModelTracks)
    gpu_limit: GpuBatchLimit | None = field(default=None, compare=False, repr=False)

    def predict(self, plan: Plan, predictor: Predictor, desc: str | None = None) -> np.ndarray:
        """Predict every row of ``plan``.

        Parameters
        ----------
        plan : Plan
        predictor : Predictor
            Its ``seq_length`` must equal the plan's.
        desc : str, optional
            Progress label (the test, the locus and the stage).

        Returns
        -------
        numpy.ndarray of float32, shape=(M, n_bins, n_tracks)

        Raises
        ------
        NonFiniteOutput
            (a ValueError) The model returned NaN or infinity; names the mutant.
        """
        if plan.seq_length != predictor.seq_length:
            raise ValueError(f"the sequences are {plan.seq_length:,} bp but the model takes "
                             f"{predictor.seq_length:,} bp")
        batch_size = self.batch_for(plan.n_rows)
        local = PipelineStats()
        inc = incremental_of(predictor) if self.incremental else None
        if inc is not None and (plan.parent >= 0).any():
            source: Any = IncrementalBatches(plan, predictor, inc, batch_size,
                                             self.trunk_cache_gb, local)
        else:
            source = FullBatches(plan, predictor, batch_size, self.prefetch, local)
        progress = (Progress(plan.n_rows, desc or "mutants", leave=False)
                    if progress_allowed(self.verbose) else None)
        wall0 = time.perf_counter()
        try:
            return run_batches(source, plan, bins=self.bins, tracks=self.columns,
                               prefetch=self.prefetch, progress=progress, stats=local)
        finally:
            if progress is not None:
                progress.close()
            local.wall_s = time.perf_counter() - wall0
            local.n_mutants = plan.n_rows
            if self.stats is not None:
                self.stats.add(local)

    def batch_for(self, n_rows: int) -> int:
        """The batch size a plan of ``n_rows`` runs with: never more rows than the plan
        (the engine allocates what it is given), within the budget.

        Raises
        ------
        ValueError
            An explicit batch size whose batches do not fit the budget.
        """
        wanted = min(self.batch_size, max(n_rows, 1))
        if self.budget is not None:
            wanted = self.budget.fit(wanted, explicit=self.explicit, option=self.batch_option)
        return fit_gpu_batch(wanted, self.gpu_limit, explicit=self.explicit,
                             option=self.batch_option)

    def column(self, track: int | None) -> int:
        """Column, in the engine's output, of the original track ``track`` (None: the
        first)."""
        return self.model_tracks.position(track, self.tracks)

    def describe(self, n_out: int, n_loci: int, length: int, **settings: Any) -> dict[str, Any]:
        """The settings a result keeps: the test's own (``settings``), the engine's
        ``bins``, the original index (and name) of each of the ``n_out`` track
        columns, the window length and the number of loci."""
        ids = self.model_tracks.selected(self.tracks, n_out)
        names = [self.model_tracks.name(t) for t in ids]
        return {"seq_length": int(length), "n_loci": int(n_loci),
                "bins": None if self.bins is None else [int(b) for b in self.bins],
                "tracks": ids,
                "track_names": names if any(n is not None for n in names) else None,
                **settings}


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse engine options this version does not know (a typo must not run with
    defaults).

    Raises
    ------
    TypeError
        Naming the unknown option(s) and the ones that exist.
    """
    unknown = sorted(set(options) - ENGINE_OPTIONS)
    if unknown:
        hints = [f"{u!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
            u, ENGINE_OPTIONS, n=1)) else repr(u) for u in unknown]
        raise TypeError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                        f"the engine options are {', '.join(sorted(ENGINE_OPTIONS))}")


def fit_engine(predictor: Predictor, options: Mapping[str, Any], *, n_outputs: int = 0,
               labels: Mapping[str, str] | None = None) -> Engine:
    """Check engine options against ``predictor`` and fit them, once.

    Parameters
    ----------
    predictor : Predictor
    options : mapping
        ``batch_size`` (default :data:`DEFAULT_BATCH_SIZE`; given, it is refused
        when it does not fit the memory budget, else the largest that fits is
        taken), ``bins`` (left out: the model's recorded TSS bins, a ValueError
        naming ``bins=`` where it records none; ``"all"``: every bin;
        :func:`~creme_fast.runtime.readout.resolve_bins`), ``bins``/``tracks``
        (distinct, in range for the model's output when known without running
        it, never wrapped; ``tracks`` are original indices), ``verbose``, ``stats``, ``max_batch_bytes`` (None: the
        machine's available memory), ``incremental`` (``"auto"``, True: required,
        False: never), ``trunk_cache_gb``.
    n_outputs : int, default=0
        Output floats per sequence (bins x tracks), for the batch's cost.
    labels : mapping, optional
        Names of ``batch_size`` and ``max_batch_bytes`` in messages (the CLI's
        ``--batch-size``, ``--max-batch-memory 3G``).

    Returns
    -------
    Engine
        Batches are fitted to the measured budget as plans come
        (:meth:`Engine.batch_for`); :func:`fit_batch_now` fits them up front.

    Raises
    ------
    TypeError
        An unknown option.
    ValueError
        An option out of range, a batch that does not fit, or ``incremental=True``
        on a model without the pieces; naming the option.
    """
    check_options(options)
    labels = labels or {}
    shape = known_output_shape(predictor)
    n_bins, n_tracks = shape if shape is not None else (None, None)
    bins = resolve_bins(predictor, options.get("bins"), "bins")  # never guessed
    if bins is not None:
        bins = check_indices(bins, n_bins, "bins", "output bins")
    tracks_of = model_tracks(predictor)  # original track indices, when the export kept some
    tracks = options.get("tracks")
    if tracks is not None:
        tracks = check_indices(tracks, n_tracks if tracks_of.ids is None else None, "tracks",
                               "tracks")
    columns = tracks_of.positions(tracks)
    explicit = options.get("batch_size") is not None
    batch_size = check_count(options.get("batch_size", DEFAULT_BATCH_SIZE), "batch_size")
    budget = options.get("max_batch_bytes")
    if budget is not None:  # None: the machine's available memory
        check_count(budget, "max_batch_bytes")
    stats = options.get("stats")
    if stats is not None and not isinstance(stats, PipelineStats):
        raise ValueError(f"stats must be a creme_fast.pipeline.PipelineStats or None, got "
                         f"{type(stats).__name__} {stats!r}")
    cache = options.get("trunk_cache_gb", 2.0)
    if isinstance(cache, bool) or not isinstance(cache, numbers.Real) or not 0 < cache < math.inf:
        raise ValueError(f"trunk_cache_gb must be a positive number, got {cache!r}")
    incremental = options.get("incremental", "auto")
    inc = resolve_incremental(predictor, incremental)
    return Engine(batch_size=batch_size, explicit=explicit,
                  budget=batch_budget(batch_cost(predictor, n_outputs, incremental), budget,
                                      labels.get("max_batch_bytes")),
                  batch_option=labels.get("batch_size", "batch_size"),
                  bins=None if bins is None else tuple(bins),
                  tracks=None if tracks is None else tuple(tracks),
                  columns=None if columns is None else tuple(columns),
                  incremental=inc is not None, trunk_cache_gb=float(cache),
                  verbose=bool(options.get("verbose", True)), stats=stats,
                  model_tracks=tracks_of, gpu_limit=getattr(predictor, "gpu_limit", None))


def fit_batch_now(engine: Engine) -> Engine:
    """``engine`` with its full batch fitted to the budget now (refused now when an
    explicit one does not fit; else the largest that fits), so no plan of the run
    is refused later: what ``creme-fast run`` does before it writes anything. On a GPU
    provider the batch is also held to what the device can run
    (:mod:`creme_fast.runtime.gpu_batch`)."""
    size = engine.batch_size
    if engine.budget is not None:
        size = engine.budget.fit(size, explicit=engine.explicit, option=engine.batch_option)
    size = fit_gpu_batch(size, engine.gpu_limit, explicit=engine.explicit,
                         option=engine.batch_option)
    if engine.budget is None and size == engine.batch_size:
        return engine
    return replace(engine, batch_size=size, explicit=True)


def run_plan(plan: Plan, predictor: Predictor, *, batch_size: int = DEFAULT_BATCH_SIZE,
             bins: Sequence[int] | None = None, tracks: Sequence[int] | None = None,
             prefetch: int = 2, verbose: bool = True, desc: str | None = None,
             stats: PipelineStats | None = None, incremental: bool | str = "auto",
             trunk_cache_gb: float = 2.0) -> np.ndarray:
    """Predict every mutant of a plan (the engine without the memory fit).

    Parameters
    ----------
    plan : Plan
    predictor : Predictor
        Its ``seq_length`` must equal the plan's.
    batch_size : int, default=DEFAULT_BATCH_SIZE
        Results do not depend on it.
    bins, tracks : sequence of int, optional
        Keep only these bins/output columns of each prediction (applied on arrival).
    prefetch : int, default=2
        Batches built ahead of the model (2-3 keeps the model busy).
    verbose : bool, default=True
        Progress in mutants (:class:`creme_fast.progress.Progress`: a bar on a
        terminal, a log line every 30 s elsewhere; ``TQDM_DISABLE`` turns it off).
    desc : str, optional
        Progress label.
    stats : PipelineStats, optional
        Accumulates timings, mutants per path and the trunk work avoided.
    incremental : {"auto", True, False}, default="auto"
        Recompute only the trunk rows each mutant changes relative to its
        parent row (see :mod:`creme_fast.pipeline.incremental`) when the model
        offers it ("auto"), always (True: an error if it cannot), or never.
        Results equal the full path's to the export tolerance.
    trunk_cache_gb : float, default=2.0
        Memory for cached parent trunk rows; more parents run in chunks.

    Returns
    -------
    numpy.ndarray of float32, shape=(M, n_bins, n_tracks)

    Raises
    ------
    NonFiniteOutput
        (a ValueError) The model returned NaN or infinity; the message names the mutant.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    inc = resolve_incremental(predictor, incremental)
    engine = Engine(batch_size=batch_size, bins=None if bins is None else tuple(bins),
                    columns=None if tracks is None else tuple(tracks),
                    incremental=inc is not None, trunk_cache_gb=trunk_cache_gb,
                    prefetch=prefetch, verbose=verbose, stats=stats)
    return engine.predict(plan, predictor, desc)
