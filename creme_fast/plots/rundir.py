"""``creme-fast plot`` and :func:`plot_run`: the paper's figures for run directories."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from creme_fast.io.annotations import NAME_SEPARATOR
from creme_fast.io.runfiles import read_summary
from creme_fast.io.store import RunStore
from creme_fast.io.tables import atomic_write
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

__all__ = ["RUN_FIGURES", "file_names", "plot_run", "read_run"]

log = logging.getLogger(__name__)


def read_run(directory: str | Path, genes: Sequence[str] | None = None
             ) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """A finished run directory's test, results and summary: the loci of its summary
    (each once; of ``genes`` only, when given), never others left on disk by an
    earlier table.

    A gene is matched by its locus name or, for a GTF run whose transcripts are
    named ``GENE|TRANSCRIPT``, by the part before the ``|``.

    Raises
    ------
    ValueError
        Not a run directory, no summary (the run or merge has not finished), or a
        file that cannot be read (named).
    """
    store = RunStore(directory)
    settings = store.existing_settings()
    if settings is None or "test" not in settings:
        raise ValueError(f"{directory}: not a creme-fast run directory (no settings.json)")
    path = Path(directory) / "summary.parquet"
    if not path.is_file():
        raise ValueError(f"{directory}: no summary.parquet: its run (or merge) has not "
                         "finished; run it to the end before plotting")
    summary = read_summary(path)
    loci = list(dict.fromkeys(summary["name"].astype(str)))
    if genes is not None:
        loci = [n for n in loci if any(_is_gene(n, g) for g in genes)]
        summary = summary[summary["name"].astype(str).isin(loci)]
    wanted = set(loci)
    parts = [rows[rows["name"].astype(str).isin(wanted)] for rows in store.loci()]
    results = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["name"])
    absent = sorted(wanted - set(results["name"].astype(str)))
    if absent:
        raise ValueError(f"{directory}: its summary names loci without results "
                         f"({', '.join(absent[:3])}{', ...' if len(absent) > 3 else ''}); "
                         "rerun it to the end")
    return settings["test"], results, summary.reset_index(drop=True)


def _is_gene(name: str, gene: str) -> bool:
    return name == gene or name.split(NAME_SEPARATOR, 1)[0] == gene


def file_names(genes: Sequence[str]) -> dict[str, str]:
    """A file name for each gene, unique among them (``A/B``, ``A_B`` and ``A B``
    become ``A_B``, ``A_B-2`` and ``A_B-3``, in the order given)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for gene in dict.fromkeys(genes):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", gene).strip(".") or "gene"
        name, n = base, 1
        while name.lower() in taken:  # case-insensitive file systems too
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        out[gene] = name
    return out


Saver = Callable[[Any, str, str, str], None]
"""``saved(figure, stem, test, gene)``: write one figure as ``out/stem.FORMAT`` and
list it in ``index.tsv`` under its test and gene ("" for a figure of many genes)."""


def _per_gene(results: pd.DataFrame, test: str, draw: Callable[..., Any], saved: Saver,
              names: dict[str, str]) -> None:
    for gene in dict.fromkeys(results["name"].astype(str)):
        rows = results[results["name"].astype(str) == gene]
        saved(draw(rows), f"{names[gene]}.{test}", test, gene)


def _with_across(test: str, draw: Callable[..., Any]) -> RunFigures:
    """Per gene, and across genes (mean and spread) when the run holds several."""
    def figures(results: pd.DataFrame, saved: Saver, names: dict[str, str]) -> None:
        _per_gene(results, test, draw, saved, names)
        if results["name"].nunique() > 1:
            saved(draw(results), test, test, "")
    return figures


def context_figures(results: pd.DataFrame, saved: Saver, names: dict[str, str]) -> None:
    """``context.png``: every gene's context effect with the paper's categories."""
    saved(context_figure(results), "context", "context", "")


def higher_order_figures(results: pd.DataFrame, saved: Saver, names: dict[str, str]) -> None:
    """``GENE.higher-order.png``: each gene's greedy rounds against the expectations."""
    _per_gene(results, "higher-order", higher_order_figure, saved, names)


def fine_tile_figures(results: pd.DataFrame, saved: Saver, names: dict[str, str]) -> None:
    """``GENE.fine-tile.png``: each gene's kept sub-tiles and the effect they retain."""
    _per_gene(results, "fine-tile", fine_tile_figure, saved, names)


RunFigures = Callable[[pd.DataFrame, Saver, dict[str, str]], None]
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
    """Draw the paper's figures for one or more finished run directories into ``out``.

    Per gene: the necessity and sufficiency profile (one figure holding both when
    both runs are given), the distance curve, the higher-order trajectory, the
    multiplicity curve and the fine-tile sub-tiles; across genes: the context
    effects, the distance and multiplicity curves' mean and spread (``TEST.png``,
    with more than one gene) and each run's summary figure (one point per gene).
    Only the loci of each run's summary are drawn. Files are ``GENE.TEST.png``/
    ``.pdf``, ``TEST.png``/``.pdf`` and ``TEST.summary.png``/``.pdf``, the gene's
    name made a unique file name (``A/B`` and ``A_B`` become ``A_B`` and ``A_B-2``);
    ``index.tsv`` lists each file with its test and gene.

    Parameters
    ----------
    directories : path or sequence of paths
        ``creme-fast run`` (or ``merge``) output directories, finished.
    out : path
        Where the figures go (created).
    genes : sequence of str, optional
        Only these genes (default: every gene of the runs); a gene is its locus
        name or, for GTF transcripts named ``GENE|ID``, the part before ``|``. A
        run that lacks one is named in a warning and the others are drawn.
    formats : sequence of {"png", "pdf", "svg"}, default=("png", "pdf")

    Returns
    -------
    list of Path

    Raises
    ------
    ValueError
        A directory that is not a finished run (no summary) or holds an unreadable
        file; no run holds any of ``genes``. Nothing is drawn then.
    """
    if isinstance(directories, (str, Path)):
        directories = [directories]
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise ValueError(f"figure format must be png, pdf or svg, got {fmt!r}")
    runs = [read_run(d, genes) for d in directories]  # every input checked first
    _say_missing(directories, runs, genes)
    out = Path(out)
    drawn = [str(n) for _, results, _ in runs for n in results["name"]]
    names = file_names(drawn)
    for gene, name in names.items():
        if name != gene:
            log.info("gene %r is drawn in %s.*", gene, name)
    files: list[Path] = []
    index: list[tuple[str, str, str]] = []

    def saved(fig: Any, stem: str, test: str, gene: str = "") -> None:
        written = save(fig, out / stem, formats)
        files.extend(written)
        index.extend((p.name, test, gene) for p in written)

    profiles = {test: results for test, results, _ in runs
                if test in ("necessity", "sufficiency") and len(results)}
    for directory, (test, results, summary) in zip(directories, runs):
        if not len(summary):
            log.warning("%s: its summary holds no loci (an empty selection): nothing to "
                        "draw", directory)
            continue
        if test in RUN_FIGURES:
            RUN_FIGURES[test](results, saved, names)
        saved(draw_summary(test, summary), f"{test}.summary", test, "")
    if profiles:
        for gene in dict.fromkeys(pd.concat(list(profiles.values()))["name"].astype(str)):
            frames = {t: r[r["name"] == gene] for t, r in profiles.items()}
            frames = {t: r for t, r in frames.items() if len(r)}
            kind = "_".join(frames)
            saved(tile_profile_figure(frames, [gene]), f"{names[gene]}.{kind}", kind, gene)
    if index:
        table = pd.DataFrame(index, columns=["file", "test", "gene"])
        files.append(atomic_write(out / "index.tsv",
                                  lambda p: table.to_csv(p, sep="\t", index=False)))
    log.info("wrote %d figure files to %s%s", len(files) - bool(index), out,
             " (index.tsv says which file draws which gene)" if index else "")
    return files


def _say_missing(directories: Sequence[str | Path],
                 runs: list[tuple[str, pd.DataFrame, pd.DataFrame]],
                 genes: Sequence[str] | None) -> None:
    """Name the asked genes a run lacks (the others are drawn); none anywhere is an
    error."""
    if not genes:
        return
    found = set()
    for directory, (_, _, summary) in zip(directories, runs):
        names = summary["name"].astype(str)
        here = {g for g in genes if any(_is_gene(n, g) for n in names)}
        found |= here
        lacking = [g for g in dict.fromkeys(genes) if g not in here]
        if lacking:
            log.warning("%s: no results for %s %s (drawn where another run has %s)",
                        directory, "gene" if len(lacking) == 1 else "genes",
                        ", ".join(lacking), "it" if len(lacking) == 1 else "them")
    if not found:
        raise ValueError(f"no run holds {'gene' if len(genes) == 1 else 'genes'} "
                         f"{', '.join(genes)}: nothing to draw")
