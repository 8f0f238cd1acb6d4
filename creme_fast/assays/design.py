"""The protocol between a CREME test and the engine.

A test is a **design** (this protocol; one module per test in
:mod:`creme_fast.assays`) plus a **spec** (:class:`creme_fast.assays.spec.TestSpec`,
registered in :mod:`creme_fast.assays.registry`).

A design holds its loci and settings, already checked. Its :meth:`Design.stages`
is a generator that never sees the model:

1. it builds a :class:`~creme_fast.pipeline.Plan` (mutants described as base
   sequences plus edits, nothing materialised) and yields it in a
   :class:`Stage` with a progress label;
2. it receives the plan's predictions, ``(plan.n_rows, bins, tracks)`` float32
   in plan row order, already reduced to the bins and tracks the engine keeps;
3. a one-plan test (context, necessity, sufficiency, distance, the swap) then
   folds them into its result and returns it; a greedy test (higher-order,
   multiplicity, fine-tile) decides its next plan from them and yields again.

What a design may read of the engine while it builds plans is what the
:class:`~creme_fast.pipeline.Engine` says about its output: whether rows'
``parent`` hints will be used (:func:`parent_rows`), the column of a track
(``engine.column``) and the settings a result keeps (``engine.describe``).
It never calls the model, fits a batch or checks engine options: the runner
(:mod:`creme_fast.assays.runner`) and the engine do, once.

Randomness: every shuffle is keyed by ``(seed, locus key, kind, indices)``
through the design's :class:`~creme_fast.assays.shuffles.ShuffleSource`, so a
mutant's sequence depends only on what it is, never on batch size, the other
loci of the call, or which engine path predicts it.
"""
from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from creme_fast.pipeline.engine import Engine
from creme_fast.pipeline.plan import Plan, PlanBuilder

__all__ = ["Design", "Stage", "Stages", "count_rows", "parent_rows"]

R = TypeVar("R", covariant=True)


@dataclass(frozen=True)
class Stage:
    """One plan of a design and its progress label (the test, the locus, the stage)."""

    plan: Plan
    label: str


#: What :meth:`Design.stages` returns: yields stages, receives their predictions,
#: returns the result.
Stages = Generator[Stage, np.ndarray, Any]


class Design(Protocol[R]):
    """A CREME test's design: checked loci and settings in, plans out, a result back.

    Attributes
    ----------
    loci : pandas.DataFrame or None
        The loci's table (``name`` and, for genome coordinates, ``chrom, tss,
        strand``): the runner tells the result (``with_loci``).
    """

    loci: pd.DataFrame | None

    def stages(self, engine: Engine) -> Stages:
        """Yield :class:`Stage` s, receive each one's predictions, return the result."""
        ...


def parent_rows(builder: PlanBuilder, engine: Engine, bases: Sequence[int],
                **labels: Any) -> np.ndarray | int:
    """Unedited rows of ``bases`` to serve as parents, only when the engine's
    incremental path will run (their predictions are extra work otherwise); -1
    when it will not."""
    if not engine.incremental:
        return -1
    return builder.rows(len(bases), np.asarray(bases, dtype=np.int64), **labels)


def count_rows(design: Design) -> int:
    """Rows of a design's first plan (its mutants, for a one-plan test): the plan is
    built, never predicted."""
    return next(iter(design.stages(Engine()))).plan.n_rows

