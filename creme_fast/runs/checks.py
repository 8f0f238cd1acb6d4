"""What a run checks against the model and the TSS table before anything is written.

:func:`fit_run` checks a run's settings against the model (bins, tracks, the
followed track, the tile size, the batch's memory, the incremental pieces) and
fits the engine once for the whole run; :func:`check_cres` checks every row's
CRE for the tests that take one. Messages name the options as the caller calls
them (``names``: the CLI passes its flags, e.g. ``{"tile_size": "--tile-size"}``);
a test's needs come from its spec (:data:`creme_fast.assays.registry.TESTS`).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from creme_fast._validate import check_indices
from creme_fast.assays.registry import TESTS
from creme_fast.assays.spec import StepConfig, cre_of
from creme_fast.pipeline.engine import Engine, fit_batch_now, fit_engine
from creme_fast.pipeline.memory import format_bytes
from creme_fast.runtime.base import Predictor, output_shape
from creme_fast.runtime.readout import resolve_bins
from creme_fast.schema.tracks import model_tracks
from creme_fast.sequence.tiles import tile_layout

__all__ = ["OPTION_NAMES", "check_cres", "fit_run"]

log = logging.getLogger(__name__)

#: The settings' names in messages, by :class:`StepConfig` field (Python's own).
OPTION_NAMES = {"bins": "bins", "tracks": "tracks", "track": "track",
                "tile_size": "tile_size", "rounds": "rounds", "batch_size": "batch_size",
                "max_batch_bytes": "max_batch_bytes"}


def fit_run(test: str, config: StepConfig, predictor: Predictor, *,
            default_bins: list[int] | None = None,
            names: Mapping[str, str] | None = None) -> tuple[StepConfig, Engine]:
    """Check a run's settings against the model and the test and fit its engine, once.

    Parameters
    ----------
    test : str
        A key of :data:`~creme_fast.assays.registry.TESTS`.
    config : StepConfig
        ``batch_size`` None: the largest that fits, up to
        :data:`~creme_fast.pipeline.engine.DEFAULT_BATCH_SIZE`; ``bins`` None:
        ``default_bins`` (refused, naming the option, when the model records
        none); ``"all"``: every bin.
    predictor : Predictor
    default_bins : list of int, optional
        The bins the model records as the TSS's (an export's ``tss_bins``).
    names : mapping, optional
        How messages name each setting (default :data:`OPTION_NAMES`).

    Returns
    -------
    (StepConfig, Engine)
        The settings with the bins and batch size the run uses, and the engine
        fitted to them.

    Raises
    ------
    ValueError
        A setting the model or the test cannot take, naming it.
    """
    n = {**OPTION_NAMES, **(names or {})}
    spec = TESTS[test]
    n_bins, n_tracks = output_shape(predictor)
    length = predictor.seq_length
    if config.bins is not None and not isinstance(config.bins, str):
        check_indices(list(config.bins), n_bins, n["bins"], "output bins")
    # the one default of the API, the CLI and the workflow: the model's recorded TSS bins
    bins = config.bins if config.bins is not None else default_bins
    if bins is None:
        resolve_bins(predictor, None, n["bins"])  # refuses, naming the option
    if config.bins is None and not all(0 <= b < n_bins for b in bins):
        raise ValueError(f"the model records TSS bins {bins} outside its {n_bins} output "
                         f"bins; give {n['bins']}")
    _check_tracks(spec.follows_track, config, predictor, n_tracks, n)
    if spec.reads_tiles:
        try:
            layout = tile_layout(length, config.tile_size)
        except ValueError as exc:
            raise ValueError(f"{n['tile_size']} {config.tile_size}: {exc}") from None
        if spec.tiled and not layout.n_tiles:
            raise ValueError(f"{n['tile_size']} {config.tile_size} leaves no tile beside the "
                             f"TSS tile in a {length:,} bp window: {test} would have nothing "
                             f"to test; give a smaller {n['tile_size']}")
        if spec.check is not None:
            spec.check(config, length, n)
    n_out = (n_bins if isinstance(bins, str) else len(bins)) * (
        len(config.tracks) if config.tracks is not None else n_tracks)
    config = replace(config, bins=bins if isinstance(bins, str) else tuple(bins))
    engine = fit_batch_now(fit_engine(predictor, config.engine(), n_outputs=n_out,
                                      labels={"batch_size": n["batch_size"],
                                              "max_batch_bytes": n["max_batch_bytes"]}))
    config = replace(config, batch_size=engine.batch_size)
    cost = engine.budget.cost
    size = engine.batch_size
    buffers = cost(size) - cost.fixed - size * cost.model_per_sequence
    model = cost.fixed + size * cost.model_per_sequence
    log.info("batches of %d: %s of engine buffers (budget %s) plus %s", size,
             format_bytes(buffers), "the machine's available memory"
             if config.max_batch_bytes is None else format_bytes(config.max_batch_bytes),
             f"{format_bytes(model)} of the model's working memory (measured at export)"
             if model else "the model's working memory")
    return config, engine


def _check_tracks(follows_track: bool, config: StepConfig, predictor: Predictor,
                  n_tracks: int, n: Mapping[str, str]) -> None:
    """``tracks`` and ``track`` are the model's original track indices: those an
    export kept (its metadata says which), else 0..n_tracks - 1."""
    tracks = None if config.tracks is None else list(config.tracks)
    track = config.track
    known = model_tracks(predictor)
    if known.ids is None:
        if tracks is not None:
            check_indices(tracks, n_tracks, n["tracks"], "tracks")
        if track is not None and not 0 <= track < n_tracks:
            raise ValueError(f"{n['track']} {track} is out of range: the model has "
                             f"{n_tracks} tracks (0..{n_tracks - 1})")
    else:
        known.positions(tracks, n["tracks"])
        if tracks is not None:
            check_indices(tracks, max(known.ids) + 1, n["tracks"], "tracks")
        if track is not None:
            known.positions([track], n["track"])
    if follows_track and tracks is not None and track is not None and track not in tracks:
        raise ValueError(f"{n['track']} {track} is not among {n['tracks']} "
                         f"{','.join(map(str, tracks))}")


def check_cres(test: str, table: pd.DataFrame, length: int, path: Path, tile_size: int, *,
               names: Mapping[str, str] | None = None) -> None:
    """The tests that take a CRE need one inside the window on every row of ``table``
    (which has the file's ``line`` numbers); those that move it to every tile
    start need it to fit there too.

    Raises
    ------
    ValueError
        Naming the file, the line and the CRE.
    """
    n = {**OPTION_NAMES, **(names or {})}
    spec = TESTS[test]
    if not spec.takes_cre:
        return
    starts = tile_layout(length, tile_size).tiles[:, 0]
    last = int(starts.max()) if spec.moves_cre and len(starts) else 0
    for _, row in table.iterrows():
        try:
            start, end = cre_of(row)
        except ValueError as exc:
            raise ValueError(f"{path}: line {row['line']}: {exc}") from None
        if not 0 <= start < end <= length:
            raise ValueError(f"{path}: line {row['line']}: CRE [{start}, {end}) is not inside "
                             f"the {length} bp window")
        if last + end - start > length:
            raise ValueError(f"{path}: line {row['line']}: CRE [{start}, {end}) is "
                             f"{end - start:,} bp: {test} moves it to every tile start, and "
                             f"at {last:,} it would end past the {length:,} bp window (at "
                             f"most {length - last:,} bp with {n['tile_size']} {tile_size})")
