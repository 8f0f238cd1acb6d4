"""What every test's result shares: arrays plus settings, one table schema, one
``.npz`` on disk."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from creme_fast.schema.bed import elements_bed
from creme_fast.schema.coords import check_loci
from creme_fast.schema.frames import Region, standard_frame

__all__ = ["AssayResult", "activity", "safe_ratio", "track_column"]

R = TypeVar("R", bound="AssayResult")


def track_column(settings: dict[str, Any], track: int) -> int:
    """Column, among a result's track columns, of the original track ``track``."""
    ids = settings.get("tracks")
    if not ids:  # a result saved before settings were kept: ``track`` is the column
        return int(track)
    return ids.index(track) if track in ids else 0


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
