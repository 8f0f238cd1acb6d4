"""The one runner: checks, then plans through the engine, then the result.

Every test's public function is a call of :func:`run_assay`; ``creme-fast run``
calls :func:`run_design` with the engine it fitted once for the whole run.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from creme_fast.assays.checks import ARGUMENT_CHECKS, check_arguments, check_predictor
from creme_fast.assays.design import Design
from creme_fast.pipeline.engine import Engine, fit_engine
from creme_fast.runtime.base import Predictor

__all__ = ["run_assay", "run_design"]

R = TypeVar("R")


def run_design(design: Design[R], predictor: Predictor, engine: Engine) -> R:
    """Drive a design: each plan it yields through ``engine``, its predictions back.

    Parameters
    ----------
    design : Design
    predictor : Predictor
    engine : Engine
        Fitted once (:func:`~creme_fast.pipeline.engine.fit_engine`).

    Returns
    -------
    AssayResult
        The design's result, told the design's loci.
    """
    stages = design.stages(engine)
    try:
        stage = next(stages)
        while True:
            stage = stages.send(engine.predict(stage.plan, predictor, stage.label))
    except StopIteration as done:  # the design returned its result
        result = done.value
    return result if design.loci is None else result.with_loci(design.loci)


def run_assay(predictor: Predictor, options: Mapping[str, Any], make: Callable[..., Design[R]],
              *inputs: Any, **arguments: Any) -> R:
    """Run a test: checks, design, plans through the engine, result.

    Parameters
    ----------
    predictor : Predictor
    options : mapping
        The engine options the test was given (``batch_size``, ``bins``,
        ``tracks``, ...), checked and fitted once.
    make : callable
        The design's constructor (``Necessity.of``): the design's own checks of
        its inputs (sequences, tiles, loci, names).
    *inputs, **arguments
        What ``make`` takes. The arguments with a check by name
        (:data:`~creme_fast.assays.checks.ARGUMENT_CHECKS`, ``track``) are
        checked first, in the order given.

    Returns
    -------
    AssayResult
    """
    check_predictor(predictor)
    engine = fit_engine(predictor, options)
    check_arguments(predictor, engine, **{k: v for k, v in arguments.items()
                                          if k in ARGUMENT_CHECKS or k == "track"})
    return run_design(make(*inputs, **arguments), predictor, engine)
