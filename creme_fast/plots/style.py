"""Figure size, fonts, colours, threshold lines and saving, shared by every figure."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from creme_fast.io.tables import atomic_write

__all__ = ["FORMATS", "TRACK_COLOURS", "figure", "figure_legend", "genes_text", "save",
           "styled", "threshold_line", "track_label"]

FORMATS = ("png", "pdf")
# colour-blind-safe (Okabe-Ito), one per track in the order the table lists them
TRACK_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                 "#F0E442", "#000000")
RC = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7,
      "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
      "axes.spines.right": False}
# a paper column is 89 mm, a page 183 mm wide
COLUMN_IN, PAGE_IN = 3.5, 7.2


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw a figure under the house style (fonts readable at paper size)."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(RC):
            return draw(*args, **kwargs)
    return wrapper


def figure(width: float, height: float, nrows: int = 1, ncols: int = 1,
           **kwargs: Any) -> tuple[Figure, Any]:
    """A figure of ``width`` x ``height`` inches with a grid of axes (2-D array)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def track_label(track: Any, name: Any = None) -> str:
    """``"CAGE:K562 (track 5111)"`` (name and the model's index), or ``"track 2"``."""
    if name is None or (isinstance(name, float) and name != name) or name == "":
        return f"track {track}"
    return f"{name} (track {track})"


def genes_text(n: int) -> str:
    """``"1 gene"``, ``"3 genes"``."""
    return f"{n} gene" + ("" if n == 1 else "s")


def threshold_line(ax: Any, y: float, label: str, *, axis: str = "y",
                   colour: str = "0.35") -> None:
    """A dashed threshold line with its value in the legend (``label``)."""
    draw = ax.axhline if axis == "y" else ax.axvline
    draw(y, color=colour, lw=0.8, ls="--", label=label, zorder=1)


def figure_legend(fig: Figure, axes: Any, ncols: int = 4) -> None:
    """One legend for the whole figure, above the panels: every label once, in at
    most ``ncols`` columns."""
    seen: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="outside upper center",
               ncols=max(min(len(seen), ncols), 1), frameon=False)


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``stem.png`` (200 dpi) and ``stem.pdf`` (or ``formats``) atomically."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise ValueError(f"figure format must be png, pdf or svg, got {fmt!r}")
        out.append(atomic_write(stem.parent / f"{stem.name}.{fmt}",  # a dot in a gene name
                                lambda p, f=fmt: fig.savefig(p, format=f, dpi=200)))
    return out
