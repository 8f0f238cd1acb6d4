"""Where a run's chunks are computed: in this process, or on other workers.

The runner reads the loci, cuts them into :class:`ChunkTask` s and hands them to
an executor, which yields one :class:`ChunkResult` per task (in any order). The
runner alone writes the run directory, so every executor gets the same atomic
parts, settings check and resume.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from creme_fast.assays.registry import TESTS
from creme_fast.assays.runner import run_design
from creme_fast.assays.spec import StepConfig
from creme_fast.errors import NonFiniteOutput
from creme_fast.pipeline.engine import Engine, fit_engine
from creme_fast.runtime.incremental import incremental_of
from creme_fast.schema.frames import LOCUS_COLUMNS

log = logging.getLogger(__name__)

__all__ = ["LOCUS_COLUMNS", "ChunkResult", "ChunkTask", "CountingPredictor", "Executor",
           "LocalExecutor", "run_chunk"]


@dataclass
class ChunkTask:
    """Loci computed together (one engine run; their batches mix).

    Attributes
    ----------
    index : int
        Position of the chunk in this run.
    tokens : numpy.ndarray of uint8, shape=(n, L)
        The loci's windows.
    keys : numpy.ndarray of int64, shape=(n,)
        Stable per-locus shuffle keys.
    rows : pandas.DataFrame
        The loci's table rows (``name, chrom, tss, strand``, ``chrom_size`` and any
        other columns).
    """

    index: int
    tokens: np.ndarray
    keys: np.ndarray
    rows: pd.DataFrame


@dataclass
class ChunkResult:
    """What one chunk gave.

    Attributes
    ----------
    task : ChunkTask
    frame : pandas.DataFrame
        Result rows of the finished loci, ``name, chrom, tss, strand`` first.
    failed : list of (str, str)
        ``(name, reason)`` of loci of the chunk that could not be computed (the
        model's predictions for them were not finite).
    mutants : int
        Sequences the model predicted for this chunk (for progress).
    """

    task: ChunkTask
    frame: pd.DataFrame
    failed: list[tuple[str, str]] = field(default_factory=list)
    mutants: int = 0


class CountingPredictor:
    """A predictor that counts the sequences it predicts (and reports each batch),
    on the full path (``predict``) and the incremental one (``incremental.tower``)."""

    def __init__(self, predictor: Any, on_batch: Callable[[int], None] | None = None) -> None:
        self._predictor = predictor
        self._on_batch = on_batch
        self._incremental: _CountingIncremental | None = None
        self.count = 0
        self.seq_length = predictor.seq_length
        self.input_kind = predictor.input_kind

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)

    @property
    def incremental(self) -> Any:
        """The wrapped predictor's incremental interface, counting its tower calls."""
        inner = incremental_of(self._predictor)
        if inner is None:
            return None
        if self._incremental is None or self._incremental.inner is not inner:
            self._incremental = _CountingIncremental(inner, self._counted)
        return self._incremental

    def _counted(self, n: int) -> None:
        self.count += n
        if self._on_batch is not None:
            self._on_batch(n)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = self._predictor.predict(batch)
        self._counted(len(batch))
        return out


class _CountingIncremental:
    """An incremental interface whose ``tower`` calls (one per predicted row) are counted."""

    def __init__(self, inner: Any, counted: Callable[[int], None]) -> None:
        self.inner = inner
        self.geometry = inner.geometry
        self.input_kind = inner.input_kind
        self._counted = counted

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def trunk(self, batch: np.ndarray) -> np.ndarray:
        return self.inner.trunk(batch)

    def tower(self, rows: np.ndarray) -> np.ndarray:
        out = self.inner.tower(rows)
        self._counted(len(rows))
        return out


def run_chunk(predictor: Any, test: str, task: ChunkTask, config: StepConfig,
              engine: Engine | None = None) -> ChunkResult:
    """Run one test on one chunk with ``predictor``.

    Parameters
    ----------
    predictor : Predictor
    test : str
        A key of :data:`creme_fast.assays.registry.TESTS`.
    task : ChunkTask
    config : StepConfig
    engine : Engine, optional
        Fitted once for the run; default: fitted here from ``config``.

    Returns
    -------
    ChunkResult
        A locus whose predictions are not finite is in ``failed`` (the chunk is
        then run again locus by locus, which gives the other loci the same
        results, their shuffles being keyed by locus).
    """
    counter = CountingPredictor(predictor)
    if engine is None:
        engine = fit_engine(counter, config.engine())
    try:
        frame = _table(counter, test, task, config, engine)
        return ChunkResult(task=task, frame=frame, mutants=counter.count)
    except NonFiniteOutput as exc:
        if len(task.rows) == 1:
            name = str(task.rows["name"].iloc[0])
            log.error("%s: %s", name, exc)
            return ChunkResult(task=task, frame=pd.DataFrame(), mutants=counter.count,
                               failed=[(name, str(exc))])
    frames, failed = [], []
    for i in range(len(task.rows)):
        one = ChunkTask(index=task.index, tokens=task.tokens[i:i + 1], keys=task.keys[i:i + 1],
                        rows=task.rows.iloc[i:i + 1].reset_index(drop=True))
        result = run_chunk(counter, test, one, config, engine)
        frames.append(result.frame)
        failed += result.failed
    frames = [f for f in frames if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return ChunkResult(task=task, frame=frame, failed=failed, mutants=counter.count)


def _table(predictor: Any, test: str, task: ChunkTask, config: StepConfig,
           engine: Engine) -> pd.DataFrame:
    """The chunk's result rows: the test's design(s) of the chunk through the engine,
    each result as a table (the result schema: the loci's columns, original track
    indices and names, genome coordinates)."""
    designs = TESTS[test].designs(task.tokens, task.keys, task.rows, config)
    return pd.concat([run_design(d, predictor, engine).to_frame() for d in designs],
                     ignore_index=True)


class Executor(Protocol):
    """Computes chunks; yields their results in any order."""

    def run(self, test: str, config: StepConfig,
            tasks: Iterable[ChunkTask]) -> Iterator[ChunkResult]:
        """Results of ``tasks`` (consumed lazily, so memory stays bounded)."""
        ...


class LocalExecutor:
    """Chunks one after another in this process, on one predictor.

    ``on_batch(n)``, if given, is called after each batch the model predicts
    (progress finer than a chunk). ``engine``: fitted for the run (default: fitted
    from the config once, when the run starts).
    """

    def __init__(self, predictor: Any, on_batch: Callable[[int], None] | None = None,
                 engine: Engine | None = None) -> None:
        self.predictor = predictor if on_batch is None else CountingPredictor(predictor,
                                                                              on_batch)
        self.engine = engine

    def run(self, test: str, config: StepConfig,
            tasks: Iterable[ChunkTask]) -> Iterator[ChunkResult]:
        engine = self.engine or fit_engine(self.predictor, config.engine())  # once a run
        for task in tasks:
            yield run_chunk(self.predictor, test, task, config, engine)
