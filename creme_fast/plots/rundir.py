"""``creme-fast plot`` and :func:`plot_run`: the paper's figures for run directories."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from typing import Any

import pandas as pd

from creme_fast.assays.registry import TESTS
from creme_fast.io.store import RunStore
from creme_fast.plots.style import FORMATS, save
from creme_fast.plots.summary import draw_summary

__all__ = ["plot_run", "read_run", "run_figures"]

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
    if settings["test"] not in TESTS:
        raise ValueError(f"{directory}: a run of {settings['test']!r}, a test this version "
                         f"does not know ({', '.join(TESTS)})")
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


def run_figures(test: str, results: pd.DataFrame, out: Path,
                formats: Sequence[str]) -> list[Path]:
    """The figures of a run's results, as the test's spec says (``figure_scope``):
    ``GENE.TEST`` per gene, ``TEST`` across genes, or per gene and, when the run
    holds several genes, across them (mean and spread). The tile profiles
    (necessity, sufficiency) are drawn by :func:`plot_run`: one figure per gene
    holds every profile run given."""
    spec = TESTS[test]
    if spec.figure is None or spec.figure_scope == "profile":
        return []
    files: list[Path] = []
    if spec.figure_scope in ("gene", "gene+run"):
        files += _per_gene(results, test, spec.figure, out, formats)
    if spec.figure_scope == "run" or (spec.figure_scope == "gene+run"
                                      and results["name"].nunique() > 1):
        files += save(spec.figure(results), out / test, formats)
    return files


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
                if TESTS[test].figure is not None and TESTS[test].figure_scope == "profile"}
    for test, results, summary in runs:
        files += run_figures(test, results, out, formats)
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
            profile = TESTS[next(iter(frames))].figure
            files += save(profile(frames, [gene]), out / f"{_file_name(gene)}.{kind}", formats)
    log.info("wrote %d figure files to %s", len(files), out)
    return files
