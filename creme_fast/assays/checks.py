"""The argument checks every test makes before any model pass, by argument name.

A test's public function names its arguments; :func:`check_arguments` checks
each by that name (``num_shuffles``, ``seed``, ``track``, ...), so a new test
gets the checks by naming its arguments the same way. Engine options are
checked (and fitted) by :func:`creme_fast.pipeline.engine.fit_engine`.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from creme_fast._validate import check_count, check_seed
from creme_fast.pipeline.engine import Engine
from creme_fast.runtime.base import Predictor, known_output_shape

__all__ = ["ARGUMENT_CHECKS", "check_arguments", "check_predictor", "check_track"]


def _check_rng(value: Any, name: str) -> None:
    if value is not None and not isinstance(value, (np.random.RandomState,
                                                    np.random.Generator)):
        raise ValueError(f"{name} must be a numpy.random.RandomState (creme-nn's "
                         f"generator), a numpy Generator or None, got {type(value).__name__} "
                         f"{value!r} (shuffle='creme' draws from it; the other modes are "
                         "keyed by seed=)")


def _check_fraction(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")


def _check_counts(value: Any, name: str) -> None:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not len(value):
        raise ValueError(f"{name} must be a non-empty sequence of whole numbers >= 1, "
                         f"got {value!r}")
    for i, v in enumerate(value):
        check_count(v, f"{name}[{i}]")


def _check_reals(value: Any, name: str) -> None:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not len(value):
        raise ValueError(f"{name} must be a non-empty sequence of numbers, got {value!r}")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name}[{i}] must be a finite number, got {v!r}")


def _check_seed(value: Any, name: str) -> None:
    try:
        check_seed(value, name)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _check_key(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not (
            -2**63 <= value < 2**63):
        raise ValueError(f"{name} must be a whole number that fits in 64 bits, got {value!r}")


def _check_shuffle(value: Any, name: str) -> None:
    if value not in ("fast", "uniform", "creme"):
        raise ValueError(f"{name} must be 'fast', 'uniform' or 'creme', got {value!r}")


#: Checks by argument name (``track`` is checked against the engine's tracks).
ARGUMENT_CHECKS: dict[str, Any] = {
    "num_shuffles": lambda v, n: check_count(v, n),
    "num_rounds": lambda v, n: v is None or check_count(v, n),
    "num_copies": lambda v, n: check_count(v, n),
    "tile_size": lambda v, n: check_count(v, n),
    "seed": _check_seed,
    "locus_key": _check_key,
    "rng": _check_rng,
    "shuffle": _check_shuffle,
    "frac": _check_fraction,
    "scales": _check_counts,
    "n_batches": _check_counts,
    "thresholds": _check_reals,
}


def check_predictor(predictor: object) -> Predictor:
    """``predictor`` itself, if it is a :class:`~creme_fast.runtime.Predictor`.

    Raises
    ------
    TypeError
        Naming what was given instead.
    """
    if not isinstance(predictor, Predictor):
        raise TypeError("predictor must be a creme_fast Predictor (see "
                        "creme_fast.runtime.load_predictor), got " + type(predictor).__name__)
    return predictor


def check_arguments(predictor: Predictor, engine: Engine, **arguments: Any) -> None:
    """The checks of a test's own arguments, by name (see :data:`ARGUMENT_CHECKS`).

    Parameters
    ----------
    predictor : Predictor
    engine : Engine
        ``track`` must be among the tracks it returns.
    **arguments
        The test's arguments, checked in the order given.

    Raises
    ------
    ValueError
        Naming the argument.
    """
    for name, value in arguments.items():
        if name == "track":
            shape = known_output_shape(predictor)
            check_track(value, None if engine.tracks is None else list(engine.tracks),
                        engine.model_tracks, None if shape is None else shape[1])
        else:
            ARGUMENT_CHECKS[name](value, name)


def check_track(track: Any, wanted: list[int] | None, known: Any,
                n_tracks: int | None) -> None:
    """``track`` (an original track index, None: the first kept) is one the engine
    returns: among ``tracks=`` when given, else among the model's tracks."""
    if track is None:
        return
    if isinstance(track, (bool, np.bool_)) or not isinstance(track, numbers.Integral) or track < 0:
        raise ValueError(f"track {track!r} is out of range: tracks are whole numbers from 0")
    if wanted is not None:
        if track not in wanted:
            raise ValueError(f"track {track} is out of range: the engine keeps {len(wanted)} "
                             f"track(s), tracks={wanted}")
    elif known.ids is None:
        if n_tracks is not None and track >= n_tracks:
            raise ValueError(f"track {track} is out of range: the model has {n_tracks} "
                             f"tracks (0..{n_tracks - 1})")
    else:
        known.position(int(track), None)
