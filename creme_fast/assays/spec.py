"""What a CREME test is, for everything that runs it by name: :class:`TestSpec`.

A test is a design (:mod:`creme_fast.assays.design`) plus a spec. The spec says
what ``creme-fast run``, its checks, its progress, its summaries, ``creme-fast
plot`` and ``creme-fast bench`` need to know about the test, so that none of
them keeps a table of tests: they read :data:`creme_fast.assays.registry.TESTS`.

The settings of a run (:class:`StepConfig`) are here too: a spec turns one chunk
of loci and the settings into the test's design.
"""
from __future__ import annotations

import importlib
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creme_fast.assays.design import Design, count_rows
from creme_fast.pipeline.engine import DEFAULT_BATCH_SIZE
from creme_fast.sequence.tiles import tile_layout

__all__ = ["FigureRef", "StepConfig", "TestSpec", "cre_of"]


@dataclass(frozen=True)
class StepConfig:
    """Settings of a test run over a genome (see ``creme-fast run --help``).

    ``tracks`` and ``track`` are the model's original track indices (an export
    pruned to tracks 4824, 5110 and 5111 is asked for those); ``track`` None
    follows the first track. ``batch_size``, ``max_batch_bytes`` and
    ``incremental`` are engine options; they do not change results
    (``batch_size`` None: the largest that fits the memory budget, up to
    :data:`~creme_fast.pipeline.engine.DEFAULT_BATCH_SIZE`).
    """

    tile_size: int = 5000
    num_shuffles: int = 10
    seed: int = 0
    batch_size: int | None = DEFAULT_BATCH_SIZE
    bins: tuple[int, ...] | str | None = None  # None: the model's TSS bins; "all": every bin
    tracks: tuple[int, ...] | None = None
    track: int | None = None
    rounds: int = 2
    optimization: str = "min"
    max_batch_bytes: int | None = None  # None: the machine's available memory
    incremental: bool | str = "auto"

    def engine(self) -> dict[str, Any]:
        """The engine options (for :func:`creme_fast.pipeline.fit_engine`)."""
        options = {"batch_size": self.batch_size, "verbose": False,
                   "max_batch_bytes": self.max_batch_bytes, "incremental": self.incremental,
                   "bins": self.bins if self.bins is None or isinstance(self.bins, str)
                   else list(self.bins),
                   "tracks": None if self.tracks is None else list(self.tracks)}
        if self.batch_size is None:  # the default: the largest that fits
            del options["batch_size"]
        return options

    def shuffles(self) -> dict[str, Any]:
        """The settings every design takes: ``tile_size``, ``num_shuffles``, ``seed``."""
        return {"tile_size": self.tile_size, "num_shuffles": self.num_shuffles,
                "seed": self.seed}


#: ``(tokens (n, L), keys (n,), rows (n-row table), config) -> Design``: the design of a
#: chunk of loci (a multi-locus test) or of one locus (``n == 1``).
MakeDesign = Callable[[np.ndarray, np.ndarray, pd.DataFrame, StepConfig], Design]


@dataclass(frozen=True)
class FigureRef:
    """A drawing function named as ``"module:function"`` (as entry points name
    theirs), with fixed keyword arguments, imported when first drawn: the
    registry imports no matplotlib, and :mod:`creme_fast.plots` can read the
    registry without a cycle."""

    target: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, *args: Any) -> Any:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)(*args, **self.kwargs)


@dataclass(frozen=True)
class TestSpec:
    """A CREME test as runs, checks, progress, summaries, plots and bench see it.

    Attributes
    ----------
    name : str
        The CLI's name (``creme-fast run NAME``).
    design : callable
        ``(tokens, keys, rows, config) -> Design`` for a chunk of loci
        (``multi_locus``) or one locus.
    summary : callable
        Result rows of finished loci -> the summary table (one row per locus and
        track, or per locus).
    multi_locus : bool
        The loci of a chunk share one design (their batches mix); else one design
        per locus.
    takes_cre : bool
        Each locus needs a CRE (``cre_start``/``cre_end`` or a necessity or
        sufficiency summary's ``top_tile_start``/``top_tile_end``).
    moves_cre : bool
        The CRE is moved to every tile start (it must fit there too).
    follows_track : bool
        The test follows one track (``--track``).
    reads_tiles : bool
        It reads tiles of ``tile_size`` (the TSS tile at least), so the tile size
        must fit the window; False for activity.
    tiled : bool
        Its mutants are the tiles beside the TSS tile (a tile size that leaves
        none is refused).
    check : callable, optional
        ``(config, length, names)``: the test's own check of a run's settings
        against the window (higher-order: at most one round per tile), a
        ValueError naming the setting as ``names`` does.
    calls_elements : bool
        Its tiles are called enhancing/silencing (``elements.bed``).
    mutants : callable, optional
        ``(config, length) -> model passes per locus``, an estimate for a test
        that decides its plans as it goes; None: the rows of its one plan, read
        from the plan built on a blank locus.
    figure : FigureRef, optional
        The test's figure from result rows: per gene (``figure_scope="gene"``),
        across the run's genes (``"run"``), per gene and, when the run holds
        several, across them (``"gene+run"``), or a tile profile that shares one
        figure per gene with the other profile tests of the runs plotted
        (``"profile"``: ``(frames by test, genes) -> Figure``).
    summary_figure : FigureRef, optional
        ``(summary) -> Figure``: the run's summary figure.
    bench : bool
        ``creme-fast bench --test`` offers it.
    """

    __test__ = False  # not a pytest class

    name: str
    design: MakeDesign
    summary: Callable[[pd.DataFrame], pd.DataFrame]
    multi_locus: bool = False
    reads_tiles: bool = True
    check: Callable[[StepConfig, int, Mapping[str, str]], None] | None = None
    takes_cre: bool = False
    moves_cre: bool = False
    follows_track: bool = False
    tiled: bool = False
    calls_elements: bool = False
    mutants: Callable[[StepConfig, int], int] | None = None
    figure: FigureRef | None = None
    figure_scope: str = "gene"
    summary_figure: FigureRef | None = None
    bench: bool = False

    def designs(self, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                config: StepConfig) -> list[Design]:
        """The designs of a chunk: one for the chunk, or one per locus."""
        if self.multi_locus:
            return [self.design(tokens, keys, rows, config)]
        return [self.design(tokens[i:i + 1], keys[i:i + 1], rows.iloc[i:i + 1], config)
                for i in range(tokens.shape[0])]

    def expected_mutants(self, config: StepConfig, length: int) -> int:
        """Model passes one locus takes: exact for a one-plan test (its plan's rows),
        an estimate for the greedy tests."""
        if self.mutants is not None:
            return int(self.mutants(config, length))
        rows = pd.DataFrame({"name": ["blank"]})
        if self.takes_cre:  # the layout's first tile, which fits at every tile start
            tiles = tile_layout(length, config.tile_size).tiles
            cre = tiles[0] if len(tiles) else (0, min(config.tile_size, length))
            rows = rows.assign(cre_start=int(cre[0]), cre_end=int(cre[1]))
        return count_rows(self.design(np.zeros((1, length), dtype=np.uint8),
                                      np.zeros(1, np.int64), rows, config))


def cre_of(row: Any) -> tuple[int, int]:
    """A locus's CRE (window coordinates): ``cre_start``/``cre_end`` columns, else the
    ``top_tile_start``/``top_tile_end`` of a necessity or sufficiency summary.

    Raises
    ------
    ValueError
        No CRE columns, an empty CRE, or coordinates that are not whole numbers.
    """
    for start, end in (("cre_start", "cre_end"), ("top_tile_start", "top_tile_end")):
        if start in row.index and end in row.index:
            if pd.isna(row[start]) or pd.isna(row[end]):
                raise ValueError(f"locus {row['name']!r} has no CRE ({start}/{end} are empty, "
                                 "e.g. its effects could not be normalised); leave it out, "
                                 "e.g. with --query \"note == ''\"")
            values = []
            for column in (start, end):
                value = row[column]
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                        math.isfinite(value) and value == int(value)):
                    raise ValueError(f"{column} {value!r} is not a whole number (window "
                                     "coordinates are whole bp)")
                values.append(int(value))
            return values[0], values[1]
    raise ValueError("this test needs a CRE per locus: give cre_start and cre_end columns "
                     "(window coordinates), or a necessity/sufficiency run's summary.parquet "
                     "narrowed to one track (its top_tile_start/top_tile_end are used)")
