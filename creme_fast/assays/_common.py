"""Pieces every assay shares: inputs, tiles, activity, results on disk."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from creme_fast._validate import as_tokens, check_int
from creme_fast.pipeline import Plan, run_plan, stream_keys
from creme_fast.pipeline.plan import name_key
from creme_fast.pipeline.memory import batch_cost, fit_batch
from creme_fast.pipeline.incremental import resolve_incremental
from creme_fast.runtime.base import Predictor
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
    """Validate ``(start, end)`` inside a sequence."""
    if len(tile) != 2:
        raise ValueError(f"{name} must be (start, end), got {tile!r}")
    start, end = (check_int(v, name) for v in tile)
    if not 0 <= start < end <= length:
        raise ValueError(f"{name} [{start}, {end}) is not inside a sequence of {length} bp")
    return start, end


def as_tiles(tiles: object, length: int, tile_size: int) -> np.ndarray:
    """Tiles ``(n, 2)``; None gives the paper's layout without the TSS tile."""
    if tiles is None:
        return tile_layout(length, tile_size).tiles
    arr = np.asarray(tiles, dtype=np.int64).reshape(-1, 2)
    for i, tile in enumerate(arr):
        as_tile(tile, length, f"tiles[{i}]")
    return arr


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


def predict_plan(plan: Plan, predictor: Predictor, options: dict[str, Any],
                 desc: str) -> np.ndarray:
    """run_plan with an assay's engine options (unknown ones are a TypeError)."""
    check_options(options)
    batch_size = options.get("batch_size", DEFAULT_BATCH_SIZE)
    incremental = options.get("incremental", "auto")
    wanted = min(batch_size, max(plan.n_rows, 1))
    fitted = check_batch_memory(wanted, predictor,
                                options.get("max_batch_bytes"),
                                explicit="batch_size" in options, incremental=incremental)
    return run_plan(plan, predictor, batch_size=batch_size if fitted == wanted else fitted,
                    bins=options.get("bins"), tracks=options.get("tracks"),
                    verbose=options.get("verbose", True), desc=desc,
                    stats=options.get("stats"), incremental=incremental,
                    trunk_cache_gb=options.get("trunk_cache_gb", 2.0))


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
    """Base of every assay result: arrays plus settings, saved as one ``.npz``."""

    kind: ClassVar[str] = "assay"

    def to_frame(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

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
