"""``creme-fast plot`` and :func:`plot_run`: the paper's figures for run directories."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from typing import Any

import pandas as pd

from creme_fast.io.store import RunStore
from creme_fast.plots.figures import (
    context_figure,
    distance_figure,
    fine_tile_figure,
    higher_order_figure,
    multiplicity_figure,
    tile_profile_figure,
)
from creme_fast.plots.style import FORMATS, save
from creme_fast.plots.summary import draw_summary

__all__ = ["RUN_FIGURES", "plot_run", "read_run"]

log = logging.getLogger(__name__)


def read_run(directory: str | Path, genes: Sequence[str] | None = None
             ) -> tuple[str, pd.DataFrame, pd.DataFrame | None]:
    """A run directory's test, results (of ``genes``, each locus once) and summary.

    Raises
    ------
    ValueError
        Not a run directory, no results yet, or a gene it does not hold (named).
    """
    store = RunStore(directory)
    settings = store.existing_settings()
    if settings is None or "test" not in settings:
        raise ValueError(f"{directory}: not a creme-fast run directory (no settings.json)")
    wanted = None if genes is None else set(genes)
    parts = [rows if wanted is None else rows[rows["name"].isin(wanted)]
             for rows in store.loci()]
    results = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not len(results):
        raise ValueError(f"{directory}: no results to plot"
                         + (f" for {', '.join(sorted(wanted))}" if wanted else ""))
    if wanted:
        missing = sorted(wanted - set(results["name"]))
        if missing:
            raise ValueError(f"{directory}: no results for gene(s) {', '.join(missing)}")
    path = Path(directory) / "summary.parquet"
    summary = pd.read_parquet(path) if path.is_file() else None
    return settings["test"], results, summary


def _file_name(gene: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", gene)


def _per_gene(results: pd.DataFrame, test: str, draw: Callable[..., Any], out: Path,
              formats: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for gene in dict.fromkeys(results["name"].astype(str)):
        rows = results[results["name"].astype(str) == gene]
        files += save(draw(rows), out / f"{_file_name(gene)}.{test}", formats)
    return files


def _with_across(test: str, draw: Callable[..., Any]) -> RunFigures:
    """Per gene, and across genes (mean and spread) when the run holds several."""
    def figures(results: pd.DataFrame, out: Path, formats: Sequence[str]) -> list[Path]:
        files = _per_gene(results, test, draw, out, formats)
        if results["name"].nunique() > 1:
            files += save(draw(results), out / test, formats)
        return files
    return figures


def context_figures(results: pd.DataFrame, out: Path, formats: Sequence[str]) -> list[Path]:
    """``context.png``: every gene's context effect with the paper's categories."""
    return save(context_figure(results), out / "context", formats)


def higher_order_figures(results: pd.DataFrame, out: Path,
                         formats: Sequence[str]) -> list[Path]:
    """``GENE.higher-order.png``: each gene's greedy rounds against the expectations."""
    return _per_gene(results, "higher-order", higher_order_figure, out, formats)


def fine_tile_figures(results: pd.DataFrame, out: Path, formats: Sequence[str]) -> list[Path]:
    """``GENE.fine-tile.png``: each gene's kept sub-tiles and the effect they retain."""
    return _per_gene(results, "fine-tile", fine_tile_figure, out, formats)


RunFigures = Callable[[pd.DataFrame, Path, Sequence[str]], list]
# per test: the figures of a run's results (necessity and sufficiency are drawn
# together, per gene, by plot_run: one figure holds both when both runs are given)
RUN_FIGURES: dict[str, RunFigures] = {
    "context": context_figures,
    "distance": _with_across("distance", distance_figure),
    "multiplicity": _with_across("multiplicity", multiplicity_figure),
    "higher-order": higher_order_figures,
    "fine-tile": fine_tile_figures,
}


def plot_run(directories: str | Path | Sequence[str | Path], out: str | Path,
             genes: Sequence[str] | None = None,
             formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draw the paper's figures for one or more run directories into ``out``.

    Per gene: the necessity and sufficiency profile (one figure holding both when
    both runs are given), the distance curve, the higher-order trajectory, the
    multiplicity curve and the fine-tile sub-tiles; across genes: the context
    effects, the distance and multiplicity curves' mean and spread (``TEST.png``,
    with more than one gene) and each run's summary figure (one point per gene).
    Files are ``GENE.TEST.png``/``.pdf``, ``TEST.png``/``.pdf`` and
    ``TEST.summary.png``/``.pdf``.

    Parameters
    ----------
    directories : path or sequence of paths
        ``creme-fast run`` output directories.
    out : path
        Where the figures go (created).
    genes : sequence of str, optional
        Only these genes (default: every gene of the runs).
    formats : sequence of {"png", "pdf", "svg"}, default=("png", "pdf")

    Returns
    -------
    list of Path
    """
    if isinstance(directories, (str, Path)):
        directories = [directories]
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise ValueError(f"figure format must be png, pdf or svg, got {fmt!r}")
    runs = [read_run(d, genes) for d in directories]  # every input checked first
    out = Path(out)
    files: list[Path] = []
    profiles = {test: results for test, results, _ in runs
                if test in ("necessity", "sufficiency")}
    for test, results, summary in runs:
        if test in RUN_FIGURES:
            files += RUN_FIGURES[test](results, out, formats)
        if summary is not None and len(summary):
            if genes is not None:
                summary = summary[summary["name"].isin(set(genes))]
            files += save(draw_summary(test, summary), out / f"{test}.summary", formats)
    if profiles:
        names = list(dict.fromkeys(pd.concat(list(profiles.values()))["name"].astype(str)))
        for gene in names:
            frames = {t: r[r["name"] == gene] for t, r in profiles.items()}
            frames = {t: r for t, r in frames.items() if len(r)}
            kind = "_".join(frames)
            files += save(tile_profile_figure(frames, [gene]),
                          out / f"{_file_name(gene)}.{kind}", formats)
    log.info("wrote %d figure files to %s", len(files), out)
    return files
