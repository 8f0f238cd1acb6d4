"""The registry of CREME tests: one :class:`~creme_fast.assays.spec.TestSpec` per test.

``creme-fast run`` (its choices, checks, steps, progress, summaries and
``elements.bed``), resume, ``creme-fast plot`` and ``creme-fast bench`` read
:data:`TESTS` and nothing else about which tests exist. Adding a test is one
module (its design and result, :mod:`creme_fast.assays.design`) plus one entry
here; see ``docs/architecture.md``.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from creme_fast.assays.activity import Activity
from creme_fast.assays.context import ContextDependence
from creme_fast.assays.distance import Distance
from creme_fast.assays.fine_tile import FineTile
from creme_fast.assays.higher_order import HigherOrder
from creme_fast.assays.multiplicity import Multiplicity
from creme_fast.assays.necessity import Necessity
from creme_fast.assays.spec import FigureRef, StepConfig, TestSpec, cre_of
from creme_fast.assays.sufficiency import Sufficiency
from creme_fast.schema.summaries import (
    context_summary,
    distance_summary,
    fine_tile_summary,
    higher_order_summary,
    multiplicity_summary,
    tile_summary,
)
from creme_fast.sequence.tiles import tile_layout

__all__ = ["TESTS"]

_FIGURES = "creme_fast.plots.figures"
_SUMMARY = "creme_fast.plots.summary"


def _tiles(length: int, config: StepConfig) -> int:
    return len(tile_layout(length, config.tile_size).tiles)


# --- a chunk of loci (or one locus) and the run's settings -> the test's design ----

def _activity(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
              cfg: StepConfig) -> Activity:
    return Activity.of(tokens, seed=cfg.seed, loci=rows)


def _context(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
             cfg: StepConfig) -> ContextDependence:
    return ContextDependence.of(tokens, locus_keys_=keys, loci=rows, **cfg.shuffles())


def _necessity(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
               cfg: StepConfig) -> Necessity:
    return Necessity.of(tokens, locus_keys_=keys, loci=rows, **cfg.shuffles())


def _sufficiency(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                 cfg: StepConfig) -> Sufficiency:
    return Sufficiency.of(tokens, locus_keys_=keys, loci=rows, **cfg.shuffles())


def _higher_order(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                  cfg: StepConfig) -> HigherOrder:
    return HigherOrder.of(tokens[0], num_rounds=cfg.rounds, optimization=cfg.optimization,
                          track=cfg.track, locus_key=int(keys[0]), loci=rows, **cfg.shuffles())


def _distance(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
              cfg: StepConfig) -> Distance:
    return Distance.of(tokens[0], cre_of(rows.iloc[0]), locus_key=int(keys[0]), loci=rows,
                       **cfg.shuffles())


def _multiplicity(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                  cfg: StepConfig) -> Multiplicity:
    opt = "max" if cfg.optimization == "min" else "min"  # enhancer CREs: add where it helps
    return Multiplicity.of(tokens[0], cre_of(rows.iloc[0]), track=cfg.track, optimization=opt,
                           locus_key=int(keys[0]), loci=rows, **cfg.shuffles())


def _fine_tile(tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
               cfg: StepConfig) -> FineTile:
    kind = "enhancer" if cfg.optimization == "min" else "silencer"
    return FineTile.of(tokens[0], cre_of(rows.iloc[0]), track=cfg.track, cre_type=kind,
                       locus_key=int(keys[0]), loci=rows, **cfg.shuffles())


# --- model passes per locus of the tests that decide their plans as they go ---------

def _higher_order_passes(cfg: StepConfig, length: int) -> int:
    tiles = _tiles(length, cfg)
    return 1 + sum(max(tiles - r, 0) for r in range(cfg.rounds)) * cfg.num_shuffles


def _multiplicity_passes(cfg: StepConfig, length: int) -> int:
    tiles = _tiles(length, cfg)
    return (2 * cfg.num_shuffles
            + sum(max(tiles - c, 0) for c in range(5)) * cfg.num_shuffles)


def _fine_tile_passes(cfg: StepConfig, length: int) -> int:
    return (2 + 2 * _tiles(length, cfg)) * cfg.num_shuffles  # depends on how much is pruned


def _check_rounds(cfg: StepConfig, length: int, names: Mapping[str, str]) -> None:
    """Higher-order: at most one round per tile beside the TSS tile."""
    n = _tiles(length, cfg)
    if cfg.rounds > n:
        raise ValueError(f"{names['rounds']} {cfg.rounds}: a {length:,} bp window has {n} "
                         f"tile{'s' if n > 1 else ''} beside the TSS tile with "
                         f"{names['tile_size']} {cfg.tile_size}, so at most {n} "
                         f"round{'s' if n > 1 else ''}")


def _summary_figure(name: str, **kwargs: object) -> FigureRef:
    return FigureRef(f"{_SUMMARY}:{name}", kwargs)


#: Every test ``creme-fast run`` offers, by its CLI name.
TESTS: dict[str, TestSpec] = {spec.name: spec for spec in (
    TestSpec("activity", _activity, summary=lambda f: f, multi_locus=True, reads_tiles=False,
             summary_figure=_summary_figure("activity_summary")),
    TestSpec("context", _context, summary=context_summary, multi_locus=True,
             figure=FigureRef(f"{_FIGURES}:context_figure"), figure_scope="run",
             summary_figure=_summary_figure("context_summary"), bench=True),
    TestSpec("necessity", _necessity, summary=tile_summary, multi_locus=True, tiled=True,
             calls_elements=True, figure=FigureRef(f"{_FIGURES}:tile_profile_figure"),
             figure_scope="profile", summary_figure=_summary_figure("tile_summary",
                                                                    test="necessity"),
             bench=True),
    TestSpec("sufficiency", _sufficiency, summary=tile_summary, multi_locus=True, tiled=True,
             calls_elements=True, figure=FigureRef(f"{_FIGURES}:tile_profile_figure"),
             figure_scope="profile", summary_figure=_summary_figure("tile_summary",
                                                                    test="sufficiency"),
             bench=True),
    TestSpec("higher-order", _higher_order, summary=higher_order_summary, tiled=True,
             check=_check_rounds, follows_track=True, mutants=_higher_order_passes,
             figure=FigureRef(f"{_FIGURES}:higher_order_figure"),
             summary_figure=_summary_figure("higher_order_summary")),
    TestSpec("distance", _distance, summary=distance_summary, tiled=True, takes_cre=True,
             moves_cre=True, figure=FigureRef(f"{_FIGURES}:distance_figure"),
             figure_scope="gene+run", summary_figure=_summary_figure("distance_summary")),
    TestSpec("multiplicity", _multiplicity, summary=multiplicity_summary, tiled=True,
             takes_cre=True, moves_cre=True, follows_track=True, mutants=_multiplicity_passes,
             figure=FigureRef(f"{_FIGURES}:multiplicity_figure"), figure_scope="gene+run",
             summary_figure=_summary_figure("multiplicity_summary")),
    TestSpec("fine-tile", _fine_tile, summary=fine_tile_summary, takes_cre=True,
             follows_track=True, mutants=_fine_tile_passes,
             figure=FigureRef(f"{_FIGURES}:fine_tile_figure"),
             summary_figure=_summary_figure("fine_tile_summary")),
)}
