"""Window coordinates to genome coordinates.

A locus's window has the model's length ``L`` and its centre (index ``L // 2``)
on the TSS; on the minus strand it is the reverse complement of the genome, so
window index ``i`` is genome position ``window_end - 1 - i``. A region
``[a, b)`` of the window is therefore genome ``[window_start + a, window_start + b)``
on ``+`` and ``[window_end - b, window_end - a)`` on ``-`` (0-based, half-open),
clipped to the chromosome (a window past a chromosome end is padded with N, and
the part of a region inside that padding has no genome position). The offset from
the TSS is ``a - L // 2``: the region's first base in the gene's orientation,
upstream negative.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from creme_fast.io.genome import window_bounds

__all__ = ["LOCUS_FIELDS", "check_loci", "genome_interval", "has_coordinates", "tss_offset"]

# what a results table needs to know of its loci (chrom_size is optional)
LOCUS_FIELDS = ("name", "chrom", "tss", "strand")


def check_loci(loci: object, n_loci: int,
               names: Sequence[str] | str | None = None) -> pd.DataFrame | None:
    """A locus table for ``n_loci`` loci: a DataFrame with ``name`` and, for genome
    coordinates, ``chrom, tss (0-based), strand`` (``chrom_size`` clips at the
    chromosome's end), or a list of names. Without ``loci``, the assays' ``names=``
    (or ``name=``) name the loci; None and None stay None.

    Raises
    ------
    ValueError
        The wrong number of loci, or a table without names.
    """
    what = "loci"
    if loci is None:
        if names is None:
            return None
        loci, what = ([names] if isinstance(names, str) else list(names)), "names"
    if isinstance(loci, pd.DataFrame):
        table = loci.reset_index(drop=True)
    elif isinstance(loci, dict):
        table = pd.DataFrame(loci)
    else:
        listed = [loci] if isinstance(loci, str) else list(loci)  # type: ignore[call-overload]
        table = pd.DataFrame({"name": [str(n) for n in listed]})
    if "name" not in table:
        raise ValueError("loci needs a 'name' column (and chrom, tss, strand for genome "
                         "coordinates)")
    if len(table) != n_loci:
        unit = "names" if what == "names" else "rows"
        raise ValueError(f"{what} has {len(table)} {unit} for {n_loci} sequences")
    if what == "loci" and names is not None:
        given = [names] if isinstance(names, str) else [str(n) for n in names]
        if list(table["name"].astype(str)) != given:
            raise ValueError("loci and names name different loci: give one of them, or the "
                             "same names in the same order")
    partial = [c for c in ("chrom", "tss", "strand") if c in table]
    if partial and len(partial) < 3:
        missing = sorted({"chrom", "tss", "strand"} - set(partial))
        raise ValueError(f"loci gives {', '.join(partial)} but not {', '.join(missing)}: genome "
                         "coordinates need chrom, tss and strand")
    if partial:
        bad = table.loc[~table["strand"].isin(["+", "-"]), "strand"]
        if len(bad):
            raise ValueError(f"loci: strand must be '+' or '-', got {bad.iloc[0]!r}")
    keep = [c for c in (*LOCUS_FIELDS, "chrom_size") if c in table]
    return table[keep].copy()


def has_coordinates(loci: pd.DataFrame | None) -> bool:
    return loci is not None and {"chrom", "tss", "strand"} <= set(loci.columns)


def genome_interval(tss: np.ndarray, strand: np.ndarray, length: int, start: np.ndarray,
                    end: np.ndarray, chrom_size: np.ndarray | None = None
                    ) -> tuple[pd.array, pd.array]:
    """Genome ``[start, end)`` of window regions ``[start, end)`` (vectorised over rows).

    Parameters
    ----------
    tss : array of int
        The loci's TSS (0-based).
    strand : array of str
    length : int
        Window length.
    start, end : array of int
        Regions in window coordinates (gene orientation).
    chrom_size : array of int, optional
        Chromosome lengths; regions are clipped to them (and to 0 in any case).

    Returns
    -------
    (pandas.array of Int64, pandas.array of Int64)
        Missing (``<NA>``) where the region lies wholly outside the chromosome.
    """
    tss = np.asarray(tss, dtype=np.int64)
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    minus = np.asarray(strand) == "-"
    w_plus, _ = window_bounds(tss, "+", length)
    _, w_minus_end = window_bounds(tss, "-", length)
    g_start = np.where(minus, w_minus_end - end, w_plus + start)
    g_end = np.where(minus, w_minus_end - start, w_plus + end)
    g_start = np.maximum(g_start, 0)
    if chrom_size is not None:
        g_end = np.minimum(g_end, np.asarray(chrom_size, dtype=np.int64))
    empty = g_end <= g_start
    return _masked(g_start, empty), _masked(g_end, empty)


def _masked(values: np.ndarray, empty: np.ndarray) -> pd.array:
    out = pd.array(values, dtype="Int64")
    out[empty] = pd.NA
    return out


def tss_offset(start: np.ndarray, length: int) -> np.ndarray:
    """Offset of a window region's first base from the TSS (gene orientation)."""
    return np.asarray(start, dtype=np.int64) - length // 2
