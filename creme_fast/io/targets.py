"""The Enformer targets table (``targets_human.txt``): track index -> description.

Basenji/Enformer publish one row per output track, tab-separated, with the
header ``index genome identifier file clip scale sum_stat description`` (the
first column may be unnamed). ``creme-fast export --targets`` reads it into the
export's metadata so results carry each track's name.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

__all__ = ["TargetsError", "read_targets", "track_names"]


class TargetsError(ValueError):
    """A targets table that cannot be read (the message names file and line)."""


def read_targets(path: str | Path) -> dict[int, str]:
    """Track index -> description of a targets table.

    Raises
    ------
    TargetsError
        Missing file, no ``index``/``description`` column, a non-integer or
        repeated index (naming the line).
    """
    path = Path(path)
    if not path.is_file():
        raise TargetsError(f"{path}: targets table not found")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise TargetsError(f"{path}: cannot read as a tab-separated targets table: "
                           f"{exc}") from None
    if "index" not in table and len(table.columns) and table.columns[0].startswith("Unnamed"):
        table = table.rename(columns={table.columns[0]: "index"})
    missing = [c for c in ("index", "description") if c not in table]
    if missing:
        raise TargetsError(f"{path}: no {' or '.join(missing)} column (a targets table has "
                           "index, genome, identifier, file, clip, scale, sum_stat, "
                           f"description; this one has {', '.join(table.columns)})")
    names: dict[int, str] = {}
    for line, (index, description) in enumerate(zip(table["index"], table["description"]),
                                                 start=2):
        try:
            key = int(index)
        except ValueError:
            raise TargetsError(f"{path}: line {line}: index {index!r} is not an "
                               "integer") from None
        if key < 0:
            raise TargetsError(f"{path}: line {line}: index {key} is negative")
        if key in names:
            raise TargetsError(f"{path}: line {line}: index {key} appears twice")
        names[key] = description
    return names


def track_names(path: str | Path, tracks: Sequence[int] | None, n_tracks: int) -> dict[str, str]:
    """The names of the kept ``tracks`` (None: all ``n_tracks``) as stored in the
    export's metadata: ``{"5111": "CAGE:K562 ENCODE, biol_"}``.

    Raises
    ------
    TargetsError
        The table lacks a kept track, or describes more tracks than the head has.
    """
    names = read_targets(path)
    beyond = [i for i in names if i >= n_tracks]
    if beyond:
        raise TargetsError(f"{path}: index {max(beyond)} is beyond the head's {n_tracks} "
                           "tracks (the human head has 5313, the mouse head 1643: is it the "
                           "other head's table?)")
    kept = list(range(n_tracks)) if tracks is None else [int(t) for t in tracks]
    absent = [t for t in kept if t not in names]
    if absent:
        raise TargetsError(f"{path}: no row for track {absent[0]} (of {len(absent)} kept "
                           "tracks without a name)")
    return {str(t): names[t] for t in kept}
