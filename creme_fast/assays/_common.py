"""Pieces every assay shares: inputs, tiles, activity, results on disk."""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from creme_fast._validate import as_tokens, check_count, check_indices, check_seed
from creme_fast.pipeline import PipelineStats, Plan, run_plan, stream_keys
from creme_fast.pipeline.plan import name_key
from creme_fast.pipeline.memory import batch_cost, fit_batch
from creme_fast.pipeline.incremental import resolve_incremental
from creme_fast.runtime.base import Predictor
from creme_fast.runtime.readout import resolve_bins
from creme_fast.schema.bed import elements_bed
from creme_fast.schema.coords import check_loci
from creme_fast.schema.frames import Region, standard_frame
from creme_fast.schema.tracks import model_tracks
from creme_fast.sequence.tiles import tile_layout
from creme_fast.sequence.tokens import encode

# stream kinds: a mutant's shuffles are keyed by (locus, kind, ...indices)
KIND_CONTEXT, KIND_NECESSITY, KIND_BACKGROUND, KIND_GREEDY = 1, 2, 3, 4

R = TypeVar("R", bound="AssayResult")


def as_loci(seqs: object) -> np.ndarray:
    """One or several sequences (tokens or strings) as (n_loci, L) uint8."""
    if isinstance(seqs, (str, bytes)):
        seqs = encode(seqs)[None]
    elif isinstance(seqs, (list, tuple)) and seqs and isinstance(seqs[0], (str, bytes)):
        seqs = np.stack([encode(s) for s in seqs])
    tokens = as_tokens(seqs, "seqs")
    return tokens[None] if tokens.ndim == 1 else tokens


def as_tile(tile: Sequence[int], length: int, name: str) -> tuple[int, int]:
    """Validate ``(start, end)`` inside a sequence: whole numbers, never truncated."""
    if not hasattr(tile, "__len__") or len(tile) != 2:
        raise ValueError(f"{name} must be (start, end), got {tile!r}")
    for v in tile:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise ValueError(f"{name} must be whole numbers (start, end), got {tuple(tile)!r}")
    start, end = (int(v) for v in tile)
    if not 0 <= start < end <= length:
        raise ValueError(f"{name} [{start}, {end}) is not inside a sequence of {length} bp")
    return start, end


def as_tiles(tiles: object, length: int, tile_size: int) -> np.ndarray:
    """Tiles ``(n, 2)``; None gives the paper's layout without the TSS tile. An
    empty set (given, or a ``tile_size`` that leaves no tile beside the TSS tile)
    is a ValueError."""
    if tiles is None:
        out = tile_layout(length, tile_size).tiles
        if not len(out):
            raise ValueError(f"tile_size {tile_size} leaves no tile beside the TSS tile in "
                             f"a {length:,} bp sequence; give a smaller tile_size")
        return out
    raw = tiles if isinstance(tiles, np.ndarray) else np.asarray(tiles, dtype=object)
    if raw.size == 0:
        raise ValueError("tiles is empty: give at least one (start, end), or None for the "
                         "paper's layout")
    if raw.ndim == 1 and raw.size == 2:
        raw = raw.reshape(1, 2)
    if raw.ndim != 2 or raw.shape[1] != 2:
        raise ValueError(f"tiles must be (start, end) pairs, got shape {raw.shape}")
    return np.array([as_tile(tuple(t), length, f"tiles[{i}]") for i, t in enumerate(raw)],
                    dtype=np.int64).reshape(-1, 2)


def default_tss(length: int, tile_size: int, tss_tile: Sequence[int] | None) -> tuple[int, int]:
    if tss_tile is None:
        return tile_layout(length, tile_size).tss
    return as_tile(tss_tile, length, "tss_tile")


def locus_keys(n_loci: int, keys: Sequence[int] | None,
               names: Sequence[str] | None = None) -> np.ndarray:
    """Per-locus stream keys: from ``names`` (a hash of each name, as ``creme-fast
    run`` keys its loci), else ``keys``, else 0..n-1. Stable keys make a locus's
    shuffles independent of which other loci share the call."""
    if names is not None:
        if keys is not None:
            raise ValueError("give names or locus_keys_, not both")
        if isinstance(names, str):
            names = [names]
        names = [str(n) for n in names]
        if len(names) != n_loci:
            raise ValueError(f"names has {len(names)} names for {n_loci} sequences")
        return np.array([name_key(n) for n in names], dtype=np.int64)
    if keys is None:
        return np.arange(n_loci, dtype=np.int64)
    arr = np.asarray(keys, dtype=np.int64).reshape(-1)
    if arr.shape[0] != n_loci:
        raise ValueError(f"locus_keys has {arr.shape[0]} keys for {n_loci} sequences")
    return arr


def single_key(locus_key: int, name: str | None) -> int:
    """A one-locus assay's stream key: ``name``'s (as :func:`locus_keys`), else
    ``locus_key``."""
    if name is None:
        return int(locus_key)
    if locus_key != 0:
        raise ValueError("give name or locus_key, not both")
    return name_key(str(name))


def run_label(test: str, names: Sequence[str] | None, n_loci: int = 1,
              key: int | None = None) -> str:
    """Progress label naming the test and the locus (or loci)."""
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        where = (names[0] if len(names) == 1 else
                 f"{names[0]}..{names[-1]} ({len(names)} loci)")
    elif n_loci != 1:
        where = f"{n_loci} loci"
    else:
        where = f"locus {key if key is not None else 0}"
    return f"{test} {where}"


class ShuffleSource:
    """Where an assay's dinucleotide shuffles come from.

    ``"fast"``/``"uniform"``: native streams keyed by (seed, locus, ...), drawn
    inside the splice kernel (parallel, batch-invariant). ``"creme"``: drawn
    from ``rng`` (a RandomState) in creme-nn's algorithm, in the order the
    plan is built and once per stream key (so shared backgrounds are shared);
    for parity with creme-nn, not for speed.
    """

    def __init__(self, mode: str, rng: Any = None) -> None:
        if mode not in ("fast", "uniform", "creme"):
            raise ValueError(f"shuffle must be 'fast', 'uniform' or 'creme', got {mode!r}")
        self.mode = mode
        self.rng = None
        if mode == "creme":
            self.rng = rng if rng is not None else np.random.RandomState()
        self._drawn: dict[int, int] = {}

    def apply(self, builder: Any, rows: np.ndarray, start: Any, end: Any, keys: np.ndarray,
              tokens: np.ndarray) -> None:
        """Shuffle ``[start, end)`` of ``rows`` (whose current content is ``tokens``)."""
        if self.mode != "creme":
            builder.shuffle(rows, start, end, keys, self.mode)
            return
        from creme_fast.sequence.shuffle import dinuc_shuffle

        rows, start, end, keys = np.broadcast_arrays(np.asarray(rows), np.asarray(start),
                                                     np.asarray(end), np.asarray(keys))
        for row, s, e, key in zip(rows.ravel(), start.ravel(), end.ravel(), keys.ravel()):
            if int(key) not in self._drawn:
                shuffled = dinuc_shuffle(tokens[s:e], 1, mode="creme", rng=self.rng)[0]
                self._drawn[int(key)] = builder.source(shuffled)
            builder.copy(row, s, e, self._drawn[int(key)])


def add_backgrounds(builder: Any, source: ShuffleSource, base: int, seq: np.ndarray,
                    locus_key: int, background: int, num_shuffles: int,
                    tss: tuple[int, int], tss_src: int, **labels: Any) -> np.ndarray:
    """``num_shuffles`` rows of ``seq`` dinucleotide-shuffled whole (background set
    ``background`` of the locus), with the TSS tile put back; returns the rows."""
    shuffles = np.arange(num_shuffles)
    rows = builder.rows(num_shuffles, base, shuffle=shuffles, **labels)
    source.apply(builder, rows, 0, seq.shape[0],
                 stream_keys(locus_key, KIND_BACKGROUND, background, shuffles), seq)
    builder.copy(rows, tss[0], tss[1], tss_src)
    return rows


#: sequences per model call when an assay is not given ``batch_size``
DEFAULT_BATCH_SIZE = 8
def known_output_shape(predictor: object) -> tuple[int, int] | None:
    """``(bins, tracks)`` of the model's output when known without running it (an
    export's metadata, or a graph's static output shape); None otherwise."""
    meta = getattr(predictor, "metadata", None)
    if meta is not None and hasattr(meta, "n_bins"):
        return int(meta.n_bins), int(meta.n_tracks)
    session = getattr(predictor, "session", None)
    if session is not None and hasattr(session, "get_outputs"):
        shape = session.get_outputs()[0].shape
        if len(shape) == 3 and all(isinstance(d, int) for d in shape[1:]):
            return int(shape[1]), int(shape[2])
    return None


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


# assay arguments checked by name by check_arguments (a new assay gets them by naming
# its arguments the same way)
ARGUMENT_CHECKS: dict[str, Any] = {
    "num_shuffles": lambda v, n: check_count(v, n),
    "num_rounds": lambda v, n: v is None or check_count(v, n),
    "num_copies": lambda v, n: check_count(v, n),
    "tile_size": lambda v, n: check_count(v, n),
    "seed": _check_seed,
    "locus_key": _check_key,
    "rng": _check_rng,
    "frac": _check_fraction,
    "scales": _check_counts,
    "n_batches": _check_counts,
    "thresholds": _check_reals,
}


def check_arguments(predictor: object, options: dict[str, Any], **arguments: Any) -> Predictor:
    """The checks every assay makes first, before any model pass.

    Parameters
    ----------
    predictor : Predictor
    options : dict
        The engine options (``batch_size``, ``bins``, ``tracks``, ...): unknown
        names are a TypeError; ``bins``/``tracks`` must be distinct, in range
        for the model's output (when it is known without running it) and are
        never wrapped; ``bins`` left out reads the model's recorded TSS bins
        (:func:`read_bins`), a ValueError naming ``bins=`` where it records
        none; ``batch_size`` a whole number >= 1.
    **arguments
        The assay's own arguments, checked by name (see ``ARGUMENT_CHECKS``);
        ``track`` is checked against the tracks kept.

    Returns
    -------
    Predictor

    Raises
    ------
    ValueError
        Naming the argument.
    """
    check_predictor(predictor)
    check_options(options)
    shape = known_output_shape(predictor)
    n_bins, n_tracks = shape if shape is not None else (None, None)
    bins = read_bins(predictor, options)  # the model's TSS bins unless told; never guessed
    if bins is not None:
        check_indices(bins, n_bins, "bins", "output bins")
    known = model_tracks(predictor)  # original track indices, when the export kept some
    wanted = options.get("tracks")
    if wanted is not None:
        wanted = check_indices(wanted, n_tracks if known.ids is None else None, "tracks",
                               "tracks")
        known.positions(wanted)
    check_count(options.get("batch_size", 8), "batch_size")
    if options.get("max_batch_bytes") is not None:  # None: the machine's available memory
        check_count(options["max_batch_bytes"], "max_batch_bytes")
    stats = options.get("stats")
    if stats is not None and not isinstance(stats, PipelineStats):
        raise ValueError(f"stats must be a creme_fast.pipeline.PipelineStats or None, got "
                         f"{type(stats).__name__} {stats!r}")
    cache = options.get("trunk_cache_gb", 2.0)
    if isinstance(cache, bool) or not isinstance(cache, numbers.Real) or not 0 < cache < math.inf:
        raise ValueError(f"trunk_cache_gb must be a positive number, got {cache!r}")
    for name, value in arguments.items():
        if name == "track":
            check_track(value, wanted, known, n_tracks)
        elif name == "shuffle":
            if value not in ("fast", "uniform", "creme"):
                raise ValueError(f"shuffle must be 'fast', 'uniform' or 'creme', got {value!r}")
        else:
            ARGUMENT_CHECKS[name](value, name)
    return predictor


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


def check_predictor(predictor: object) -> Predictor:
    if not isinstance(predictor, Predictor):
        raise TypeError("predictor must be a creme_fast Predictor (see "
                        "creme_fast.runtime.load_predictor), got " + type(predictor).__name__)
    return predictor


# the engine options every assay takes as ``**options`` (anything else is a TypeError)
ENGINE_OPTIONS = frozenset({"batch_size", "bins", "tracks", "verbose", "stats",
                            "max_batch_bytes", "incremental", "trunk_cache_gb"})


def check_options(options: dict[str, Any]) -> None:
    """Refuse engine options this version does not know (a typo must not run with
    defaults).

    Raises
    ------
    TypeError
        Naming the unknown option(s) and the ones that exist.
    """
    unknown = sorted(set(options) - ENGINE_OPTIONS)
    if unknown:
        import difflib

        hints = [f"{u!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
            u, ENGINE_OPTIONS, n=1)) else repr(u) for u in unknown]
        raise TypeError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                        f"the engine options are {', '.join(sorted(ENGINE_OPTIONS))}")


def check_batch_memory(batch_size: int, predictor: Predictor, budget: int | None, *,
                       explicit: bool = True, incremental: bool | str = "auto") -> int:
    """The batch size to run: its engine buffers plus the model's working memory
    (measured at export) must fit ``budget`` bytes and the machine's available memory.

    Returns
    -------
    int
        ``batch_size``, or (``explicit=False``) the largest that fits below it.

    Raises
    ------
    ValueError
        Naming what the batch costs and the largest batch that fits.
    """
    return fit_batch(batch_size, batch_cost(predictor, 0, incremental), budget,
                     explicit=explicit)


def read_bins(predictor: Predictor, options: dict[str, Any]) -> list[int] | None:
    """The output bins an assay averages: ``options["bins"]`` when given, else the
    model's recorded TSS readout; None (``bins="all"``) for every bin.

    The one default of the API, ``creme-fast run`` and the workflow (see
    :mod:`creme_fast.runtime.readout`).

    Raises
    ------
    ValueError
        Naming ``bins=`` when it is left out and the model records no TSS bins.
    """
    return resolve_bins(predictor, options.get("bins"), "bins")


def predict_plan(plan: Plan, predictor: Predictor, options: dict[str, Any],
                 desc: str) -> np.ndarray:
    """run_plan with an assay's engine options (unknown ones are a TypeError)."""
    check_options(options)
    tracks = model_tracks(predictor).positions(options.get("tracks"))
    # a batch never holds more rows than the plan: the engine allocates what it is given
    batch_size = check_count(options.get("batch_size", DEFAULT_BATCH_SIZE), "batch_size")
    incremental = options.get("incremental", "auto")
    wanted = min(batch_size, max(plan.n_rows, 1))
    fitted = check_batch_memory(wanted, predictor,
                                options.get("max_batch_bytes"),
                                explicit="batch_size" in options, incremental=incremental)
    return run_plan(plan, predictor, batch_size=fitted,
                    bins=read_bins(predictor, options), tracks=tracks,
                    verbose=options.get("verbose", True), desc=desc,
                    stats=options.get("stats"), incremental=incremental,
                    trunk_cache_gb=options.get("trunk_cache_gb", 2.0))


def track_position(predictor: Predictor, options: dict[str, Any], track: int | None) -> int:
    """Column of the original track ``track`` (None: the first) in an assay's output."""
    return model_tracks(predictor).position(track, options.get("tracks"))


def track_column(settings: dict[str, Any], track: int) -> int:
    """Column, among a result's track columns, of the original track ``track``."""
    ids = settings.get("tracks")
    if not ids:  # a result saved before settings were kept: ``track`` is the column
        return int(track)
    return ids.index(track) if track in ids else 0


def describe(predictor: Predictor, options: dict[str, Any], n_out: int, n_loci: int,
             length: int, **settings: Any) -> dict[str, Any]:
    """The settings a result keeps: the test's own, the bins read (None: every
    bin), the original index (and name) of each track column, and the window length."""
    tracks = model_tracks(predictor)
    ids = tracks.selected(options.get("tracks"), n_out)
    names = [tracks.name(t) for t in ids]
    bins = read_bins(predictor, options)
    return {"seq_length": int(length), "n_loci": int(n_loci),
            "bins": None if bins is None else [int(b) for b in bins],
            "tracks": ids, "track_names": names if any(n is not None for n in names) else None,
            **settings}


def finish(result: R, loci: Any) -> R:
    """``result`` told its ``loci`` (see :meth:`AssayResult.with_loci`) when given."""
    return result if loci is None else result.with_loci(loci)


def parent_rows(builder: Any, predictor: Predictor, options: dict[str, Any],
                bases: Sequence[int], **labels: Any) -> np.ndarray | int:
    """Unedited rows of ``bases`` to serve as parents, only when incremental evaluation
    will run (their predictions are extra work otherwise); -1 when it will not."""
    if resolve_incremental(predictor, options.get("incremental", "auto")) is None:
        return -1
    return builder.rows(len(bases), np.asarray(bases, dtype=np.int64), **labels)


def activity(pred: np.ndarray) -> np.ndarray:
    """Mean over bins: ``(..., bins, tracks) -> (..., tracks)``."""
    return pred.mean(axis=-2)


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den is 0 (an inactive TSS has no relative effect)."""
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, np.asarray(num, dtype=np.float64) / np.where(den != 0, den, 1),
                        np.nan)


@dataclasses.dataclass
class AssayResult:
    """Base of every assay result: arrays plus settings, saved as one ``.npz``.

    Attributes
    ----------
    settings : dict
        How it was computed: ``seq_length``, ``n_loci``, ``bins``, ``tracks``
        (the model's original index of each track column), ``track_names``, and
        the test's own (``tile_size``, ``num_shuffles``, ``seed``, ...).
    loci : dict or None
        The loci's ``name`` and, where given, ``chrom, tss, strand, chrom_size``
        (column to list); see :meth:`with_loci`.
    """

    kind: ClassVar[str] = "assay"
    # region prefix -> window (start, end) columns of the raw table, and the row's own
    regions: ClassVar[dict[str, Region]] = {}
    primary: ClassVar[str | None] = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict, kw_only=True)
    loci: dict[str, list[Any]] | None = dataclasses.field(default=None, kw_only=True)

    def raw_frame(self) -> pd.DataFrame:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:
        """The result as a tidy table in the one result schema (README, "Result
        schema"): ``name``, the loci's ``chrom, tss, strand`` when known, ``track``
        (the model's original index), ``track_name``, genome coordinates."""
        return standard_frame(self.raw_frame(), self.settings, self.locus_table,
                              self.regions, self.primary)

    @property
    def locus_table(self) -> pd.DataFrame | None:
        """The loci (``name``, ``chrom``, ``tss``, ``strand``, ...) or None."""
        return None if self.loci is None else pd.DataFrame(self.loci)

    def with_loci(self: R, loci: Any) -> R:
        """This result, told its loci: a DataFrame with ``name`` and (for genome
        coordinates) ``chrom, tss (0-based), strand`` and optionally
        ``chrom_size``, as many rows as the result has loci; or a list of names."""
        table = check_loci(loci, int(self.settings.get("n_loci", 1)))
        return dataclasses.replace(self, loci=None if table is None
                                   else {c: table[c].tolist() for c in table.columns})

    def elements(self, threshold: float = 0.3) -> pd.DataFrame:
        """Tiles whose effect passes ``+-threshold`` as a BED6 + effect, track table
        (see :func:`creme_fast.schema.bed.elements_bed`); needs genome coordinates
        (:meth:`with_loci`)."""
        return elements_bed(self.to_frame(), threshold)

    def save(self, path: str | Path) -> Path:
        """Write arrays and settings to ``path`` (``.npz``)."""
        path = Path(path)
        arrays, meta = {}, {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                meta[f.name] = value
        arrays["__meta__"] = np.array(json.dumps(meta, default=_jsonable))
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls: type[R], path: str | Path) -> R:
        """Read a result written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            stored = meta.pop("kind", None)
            if stored != cls.kind:
                raise ValueError(f"{path} holds a {stored} result, not {cls.kind}")
            values = {k: data[k] for k in data.files if k != "__meta__"}
        values.update(meta)
        values.setdefault("settings", {})
        for f in dataclasses.fields(cls):
            if isinstance(values.get(f.name), list) and f.name.endswith("tile"):
                values[f.name] = tuple(values[f.name])
        return cls(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a result")
