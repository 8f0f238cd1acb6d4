"""The Enformer targets table (``targets_human.txt``): track index -> description.

Basenji/Enformer publish one row per output track, tab-separated, with the
header ``index genome identifier file clip scale sum_stat description`` (the
first column may be unnamed). ``creme-fast export --targets`` reads it into the
export's metadata so results carry each track's name.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["TargetsError", "read_targets", "track_names"]


class TargetsError(ValueError):
    """A targets table that cannot be read (the message names file and line)."""


def read_targets(path: str | Path) -> dict[int, str]:
    """Track index -> description of a targets table.

    The table is read line by line: empty trailing fields (tabs at the end of a
    line) are no column; the header's first column may be unnamed.

    Raises
    ------
    TargetsError
        Missing file, no ``index``/``description`` column, a non-integer, negative
        or repeated index, or an empty description (naming line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise TargetsError(f"{path}: targets table not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise TargetsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    rows = [(number, _fields(line)) for number, line in enumerate(lines, start=1)
            if line.strip()]
    if not rows:
        raise TargetsError(f"{path}: the targets table is empty")
    _, header = rows[0]
    if header and header[0] in ("", "Unnamed: 0"):
        header[0] = "index"
    missing = [c for c in ("index", "description") if c not in header]
    if missing:
        raise TargetsError(f"{path}: no {' or '.join(missing)} column (a targets table has "
                           "index, genome, identifier, file, clip, scale, sum_stat, "
                           f"description; this one has {', '.join(header)})")
    at = {name: header.index(name) for name in ("index", "description")}
    names: dict[int, str] = {}
    for number, fields in rows[1:]:
        where = f"{path}: line {number}"
        if len(fields) > len(header):
            raise TargetsError(f"{where}: {len(fields)} fields for the header's "
                               f"{len(header)} columns")
        cells = {name: fields[i].strip() if i < len(fields) else ""
                 for name, i in at.items()}
        try:
            key = int(cells["index"])
        except ValueError:
            raise TargetsError(f"{where}, column {at['index'] + 1}: index "
                               f"{cells['index']!r} is not an integer") from None
        if key < 0:
            raise TargetsError(f"{where}, column {at['index'] + 1}: index {key} is "
                               "negative")
        if key in names:
            raise TargetsError(f"{where}, column {at['index'] + 1}: index {key} appears "
                               "twice")
        if not cells["description"]:
            raise TargetsError(f"{where}, column {at['description'] + 1}: empty "
                               "description (every track needs a name)")
        names[key] = cells["description"]
    return names


def _fields(line: str) -> list[str]:
    """The tab-separated fields of a line, without empty ones at its end."""
    fields = line.rstrip("\r").split("\t")
    while len(fields) > 1 and fields[-1].strip() == "":
        fields.pop()
    return fields


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
