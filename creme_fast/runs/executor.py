"""Where a run's chunks are computed: in this process, or on other workers.

The runner reads the loci, cuts them into :class:`ChunkTask` s and hands them to
an executor, which yields one :class:`ChunkResult` per task (in any order). The
runner alone writes the run directory, so every executor gets the same atomic
parts, settings check and resume.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from creme_fast.runs.steps import STEPS, StepConfig

__all__ = ["LOCUS_COLUMNS", "ChunkResult", "ChunkTask", "Executor", "LocalExecutor",
           "run_chunk"]

LOCUS_COLUMNS = ["name", "chrom", "tss", "strand"]


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
        The loci's table rows (``name, chrom, tss, strand`` and any other columns).
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
        ``(name, reason)`` of loci of the chunk that could not be computed.
    """

    task: ChunkTask
    frame: pd.DataFrame
    failed: list[tuple[str, str]] = field(default_factory=list)


def run_chunk(predictor: Any, test: str, task: ChunkTask, config: StepConfig) -> ChunkResult:
    """Run one test's step on one chunk with ``predictor``.

    Parameters
    ----------
    predictor : Predictor
    test : str
        A key of :data:`creme_fast.runs.steps.STEPS`.
    task : ChunkTask
    config : StepConfig

    Returns
    -------
    ChunkResult
    """
    frame = STEPS[test](predictor, task.tokens, task.keys, task.rows, config)
    locus = frame.pop("locus").to_numpy()
    frame = pd.concat([task.rows.loc[locus, LOCUS_COLUMNS].reset_index(drop=True),
                       frame.reset_index(drop=True)], axis=1)
    return ChunkResult(task=task, frame=frame)


class Executor(Protocol):
    """Computes chunks; yields their results in any order."""

    def run(self, test: str, config: StepConfig,
            tasks: Iterable[ChunkTask]) -> Iterator[ChunkResult]:
        """Results of ``tasks`` (consumed lazily, so memory stays bounded)."""
        ...


class LocalExecutor:
    """Chunks one after another in this process, on one predictor."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor

    def run(self, test: str, config: StepConfig,
            tasks: Iterable[ChunkTask]) -> Iterator[ChunkResult]:
        for task in tasks:
            yield run_chunk(self.predictor, test, task, config)
