"""Enhancing and silencing tiles as BED (for a genome browser or bedtools)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["BED_COLUMNS", "THRESHOLD", "elements_bed", "read_elements_bed", "write_bed"]

THRESHOLD = 0.3  # the paper's enhancer (> 0.3) and silencer (< -0.3) cut-off
BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "effect", "track"]
BED_DTYPES = {"chrom": str, "start": np.int64, "end": np.int64, "name": str,
              "score": np.int64, "strand": str, "effect": np.float64, "track": np.int64}


def elements_bed(frame: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Rows of a necessity or sufficiency table (the result schema) whose effect is
    above ``threshold`` (enhancing) or below ``-threshold`` (silencing), as BED6 +
    effect, track: ``chrom, start, end`` (0-based, half-open, the tile's genome
    interval), ``name`` (``GENE:enhancing`` or ``GENE:silencing``), ``score``
    (``min(|effect|, 1) * 1000``, rounded), ``strand`` (the gene's), ``effect``,
    ``track`` (the model's original index). Tiles wholly off the chromosome
    (windows past its end) are left out. Sorted by chrom, start.

    Raises
    ------
    ValueError
        The table has no genome coordinates or no effects.
    """
    missing = [c for c in ("chrom", "start", "end", "strand", "effect", "track")
               if c not in frame]
    if missing:
        raise ValueError(f"elements need genome coordinates and effects; the table lacks "
                         f"{', '.join(missing)} (give the loci: result.with_loci(table) with "
                         "name, chrom, tss, strand)")
    effect = frame["effect"].to_numpy(dtype=np.float64)
    hit = ((effect > threshold) | (effect < -threshold)) & frame["start"].notna().to_numpy()
    rows = frame[hit]
    kind = np.where(rows["effect"] > 0, "enhancing", "silencing")
    bed = pd.DataFrame({
        "chrom": rows["chrom"].astype(str).to_numpy(),
        "start": rows["start"].astype(np.int64).to_numpy(),
        "end": rows["end"].astype(np.int64).to_numpy(),
        "name": rows["name"].astype(str).to_numpy() + ":" + kind,
        "score": np.round(np.minimum(np.abs(rows["effect"].to_numpy(np.float64)), 1) * 1000
                          ).astype(np.int64),
        "strand": rows["strand"].astype(str).to_numpy(),
        "effect": rows["effect"].to_numpy(np.float64),
        "track": rows["track"].astype(np.int64).to_numpy()})
    return bed.sort_values(["chrom", "start", "end"], kind="stable", ignore_index=True)


def write_bed(bed: pd.DataFrame, path: str | Path) -> None:
    """Write a BED table without header or index (tab-separated)."""
    bed[BED_COLUMNS].to_csv(path, sep="\t", header=False, index=False, float_format="%.6g")


def read_elements_bed(path: str | Path) -> pd.DataFrame:
    """Read an ``elements.bed`` back with its column names and types."""
    return pd.read_csv(path, sep="\t", header=None, names=BED_COLUMNS, dtype=BED_DTYPES)
