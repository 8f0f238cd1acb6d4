"""Figure size, fonts, colours, reference lines, legends and saving, shared by every
figure.

Every figure is one journal column (89 mm) or one page (183 mm) wide, uses the
Okabe-Ito colour-blind-safe palette for data (tracks, genes) and greys for reference
lines (thresholds, the TSS, N padding), and embeds TrueType (Type 42) fonts in PDFs so
the text stays editable. Legends sit outside the axes: the data's above the panels,
the reference marks' below, so a threshold is never read as a track.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from creme_fast.io.tables import atomic_write

__all__ = ["COLUMN_IN", "COLUMN_MM", "FORMATS", "PAGE_IN", "PAGE_MM", "REFERENCE",
           "TRACK_COLOURS", "colour", "empty_panel", "figure", "figure_legend",
           "genes_text", "reference", "save", "styled", "threshold_line", "track_label"]

FORMATS = ("png", "pdf")
# colour-blind-safe (Okabe-Ito), one per track (or gene) in the order the table lists
# them; black is left out: reference lines are black and grey
TRACK_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                 "#F0E442")
RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
      "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
      "axes.spines.right": False, "pdf.fonttype": 42, "ps.fonttype": 42,
      "svg.fonttype": "none"}
# a paper column is 89 mm, a page 183 mm wide: the only two widths a figure has
COLUMN_MM, PAGE_MM = 89, 183
COLUMN_IN, PAGE_IN = COLUMN_MM / 25.4, PAGE_MM / 25.4
# the gid that sends an artist's legend entry to the reference legend
REFERENCE = "reference"


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw a figure under the house style (fonts readable at paper size, Type 42)."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(RC):
            return draw(*args, **kwargs)
    return wrapper


def figure(width: float, height: float, nrows: int = 1, ncols: int = 1,
           **kwargs: Any) -> tuple[Figure, Any]:
    """A figure ``width`` (:data:`COLUMN_IN` or :data:`PAGE_IN`) x ``height`` inches
    with a grid of axes (2-D array).

    Raises
    ------
    ValueError
        ``width`` is neither a column nor a page.
    """
    if width not in (COLUMN_IN, PAGE_IN):
        raise ValueError(f"a figure is {COLUMN_MM} or {PAGE_MM} mm wide, not "
                         f"{width * 25.4:.1f} mm")
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # a renderer, so legends can be measured while drawing
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def colour(k: int) -> str:
    """The ``k``-th data colour (cycling)."""
    return TRACK_COLOURS[k % len(TRACK_COLOURS)]


def track_label(track: Any, name: Any = None) -> str:
    """``"CAGE:K562 (track 5111)"`` (name and the model's index), or ``"track 2"``."""
    if name is None or (isinstance(name, float) and name != name) or name == "":
        return f"track {track}"
    return f"{name} (track {track})"


def genes_text(n: int) -> str:
    """``"1 gene"``, ``"3 genes"``."""
    return f"{n} gene" + ("" if n == 1 else "s")


def reference(artist: Any) -> Any:
    """Mark ``artist`` as a reference mark (threshold, TSS, padding): its legend
    entry goes to the reference legend, apart from the data."""
    artist.set_gid(REFERENCE)
    return artist


def threshold_line(ax: Any, y: float, label: str | None, *, axis: str = "y",
                   colour: str = "0.3", ls: str = "--") -> Any:
    """A grey dashed reference line with its value in the reference legend (``label``)."""
    draw = ax.axhline if axis == "y" else ax.axvline
    return reference(draw(y, color=colour, lw=0.8, ls=ls, label=label, zorder=1))


def empty_panel(ax: Any, why: str) -> None:
    """Say in the panel why it holds no data (instead of leaving it blank)."""
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center",
            fontsize=7, color="0.3", wrap=True)


def figure_legend(fig: Figure, axes: Any, ncols: int = 4,
                  extra: Sequence[Any] = ()) -> None:
    """The figure's legends, outside the data: the data entries (tracks, genes) above
    the panels, the reference marks (thresholds, TSS, padding, and ``extra``
    handles) below them; every label once."""
    data: dict[str, Any] = {}
    refs: dict[str, Any] = {}
    pairs = [pair for ax in axes.flat for pair in zip(*ax.get_legend_handles_labels())]
    pairs += [(handle, handle.get_label()) for handle in extra]
    for handle, label in pairs:
        gid = handle.get_gid() if hasattr(handle, "get_gid") else None
        if gid is None and getattr(handle, "patches", None):
            gid = handle.patches[0].get_gid()  # a bar container
        (refs if gid == REFERENCE else data).setdefault(label, handle)
    if data:
        _fitted_legend(fig, data, "outside upper center", ncols)
    if refs:
        _fitted_legend(fig, refs, "outside lower center", ncols)


def _fitted_legend(fig: Figure, entries: dict[str, Any], loc: str, ncols: int) -> None:
    """A legend in at most ``ncols`` columns, fewer where it would be wider than the
    figure."""
    renderer = fig.canvas.get_renderer()
    for n in range(max(min(len(entries), ncols), 1), 0, -1):
        legend = fig.legend(list(entries.values()), list(entries), loc=loc, ncols=n,
                            frameon=False)
        if n == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width * 0.98:
            return
        legend.remove()


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``stem.png`` (200 dpi) and ``stem.pdf`` (or ``formats``) atomically, at the
    figure's own size (89 or 183 mm wide) with TrueType fonts."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise ValueError(f"figure format must be png, pdf or svg, got {fmt!r}")
        with matplotlib.rc_context(RC):  # fonttype is read when the file is written
            out.append(atomic_write(stem.parent / f"{stem.name}.{fmt}",  # a dot in a name
                                    lambda p, f=fmt: fig.savefig(p, format=f, dpi=200)))
    return out
