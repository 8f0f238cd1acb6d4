"""Which rows of a compat model's output a creme-nn call asks for."""
from __future__ import annotations

from typing import Any

__all__ = ["kept_positions"]


def kept_positions(wanted: list[int] | None, kept: list[int] | None, size: int, name: str,
                   what: str, file_name: str, how: str | None = None) -> Any:
    """Positions in a backend's output of the wanted tracks or bins.

    Parameters
    ----------
    wanted : list of int or None
        Original indices asked for (None: every one).
    kept : list of int or None
        Original indices an export kept (None: all ``size`` of them).
    size : int
        How many the full model has.
    name, what : str
        The argument's name (``track_index``) and what it counts (``track``), for messages.
    file_name : str
        The model file, for messages.
    how : str, optional
        How to make a model with every one, appended to the refusal of ``wanted=None``.

    Returns
    -------
    slice or list of int
        ``slice(None)`` for every one, else positions in the output.

    Raises
    ------
    ValueError
        An index out of range, not kept by the export, or None where the export keeps
        only some.
    """
    if wanted is None:
        if kept is not None:
            extra = f" or {how}" if how else ""
            raise ValueError(f"{name}=None asks for every {what}, but {file_name} keeps "
                             f"only {what}s {kept}; set {name} to some of them{extra}")
        return slice(None)
    bad = [w for w in wanted if not 0 <= w < size]
    if bad:
        raise ValueError(f"{name}: {what} {bad[0]} is out of range; the model has {size} "
                         f"{what}s")
    if kept is None:
        return wanted
    missing = [w for w in wanted if w not in kept]
    if missing:
        raise ValueError(f"{name}: {what} {missing[0]} is not in {file_name}, which "
                         f"keeps {what}s {kept}; re-export with it")
    return [kept.index(w) for w in wanted]
