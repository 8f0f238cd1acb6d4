"""Track identity: the model's original track index (and name) of each output column.

An export pruned with ``--tracks 4824,5110,5111`` outputs three columns; results
must still say 4824, 5110 and 5111 (and their names, when the export read a
targets table), so a query ``track == 5110`` means what it says. Everything that
takes or reports a track goes through :func:`model_tracks`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelTracks", "model_tracks", "track_names_of"]


def track_names_of(meta: Any) -> dict[int, str]:
    """Names the metadata records, by original track index.

    ``extra["track_names"]`` is either a mapping ``{index: description}`` (an
    export given ``--targets``) or a list, one name per output column.
    """
    if meta is None:
        return {}
    names = meta.extra.get("track_names")
    if not names:
        return {}
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items()}
    ids = meta.tracks if meta.tracks is not None else range(len(names))
    return {int(i): str(n) for i, n in zip(ids, names)}


@dataclass(frozen=True)
class ModelTracks:
    """Original indices (and names) of a model's output columns.

    Attributes
    ----------
    ids : tuple of int or None
        Original index of each output column; None when the model does not say
        (then column ``i`` is track ``i``).
    names : dict of int to str
        Track names by original index (empty when the model records none).
    """

    ids: tuple[int, ...] | None = None
    names: dict[int, str] | None = None

    def positions(self, wanted: Sequence[int] | None, option: str = "tracks") -> list[int] | None:
        """Output columns of the original track indices ``wanted`` (None: all).

        Raises
        ------
        ValueError
            A track the model does not output, naming the ones it keeps.
        """
        if wanted is None:
            return None
        wanted = [int(t) for t in wanted]
        if self.ids is None:
            bad = [t for t in wanted if t < 0]
            if bad:
                raise ValueError(f"{option}: track {bad[0]} is not a track index")
            return wanted
        where = {t: i for i, t in enumerate(self.ids)}
        missing = [t for t in wanted if t not in where]
        if missing:
            kept = ", ".join(map(str, self.ids[:12])) + (", ..." if len(self.ids) > 12 else "")
            raise ValueError(f"{option}: track {missing[0]} is not among the model's tracks "
                             f"(it outputs the original tracks {kept}; give those indices)")
        return [where[t] for t in wanted]

    def selected(self, wanted: Sequence[int] | None, n_out: int) -> list[int]:
        """Original indices of the ``n_out`` columns a run with ``tracks=wanted`` returns."""
        if wanted is not None:
            return [int(t) for t in wanted]
        return list(self.ids) if self.ids is not None else list(range(n_out))

    def position(self, track: int | None, wanted: Sequence[int] | None,
                 option: str = "track") -> int:
        """Column, among the columns a run with ``tracks=wanted`` returns, of the
        original track ``track`` (None: the first).

        Raises
        ------
        ValueError
            ``track`` is not among them, naming the ones there are.
        """
        if track is None:
            return 0
        track = int(track)
        if wanted is not None:
            wanted = [int(t) for t in wanted]
            if track not in wanted:
                raise ValueError(f"{option} {track} is not among tracks "
                                 f"{', '.join(map(str, wanted))}")
            return wanted.index(track)
        if self.ids is None:
            if track < 0:
                raise ValueError(f"{option} {track} is not a track index")
            return track
        return self.positions([track], option)[0]

    def name(self, track: int) -> str | None:
        return (self.names or {}).get(int(track))


def model_tracks(predictor: Any) -> ModelTracks:
    """The original track indices and names of ``predictor``'s output columns:
    an export's metadata (``tracks``, ``track_names``), or a Callable/Torch
    predictor's own ``tracks`` selection."""
    meta = getattr(predictor, "metadata", None)
    if meta is not None and hasattr(meta, "tracks"):
        ids = None if meta.tracks is None else tuple(int(t) for t in meta.tracks)
        return ModelTracks(ids=ids, names=track_names_of(meta))
    own = getattr(predictor, "tracks", None)
    if isinstance(own, (list, tuple)):
        return ModelTracks(ids=tuple(int(t) for t in own), names={})
    return ModelTracks()
