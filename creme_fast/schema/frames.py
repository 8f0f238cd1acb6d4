"""The one result schema: every table the demo, the Python results and
``creme-fast run`` write goes through :func:`standard_frame`.

Columns, in order: ``name`` (the gene or locus), ``chrom, tss, strand`` (when
the loci are known), ``track`` (the model's original track index) and
``track_name`` (when the model records names), then the test's own columns. Each
region a row names (a tile, a CRE, a moved CRE copy) keeps its window
coordinates ``<region>_start, <region>_end`` and gains its genome interval and
offset from the TSS: ``start, end, tss_offset`` for the row's own region,
``<region>_genome_start, <region>_genome_end, <region>_tss_offset`` for the
others (see :mod:`creme_fast.schema.coords`). The README's "Result schema"
section documents every column.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from creme_fast.schema.coords import genome_interval, has_coordinates, tss_offset

__all__ = ["LOCUS_COLUMNS", "Region", "genome_columns", "standard_frame"]

LOCUS_COLUMNS = ["name", "chrom", "tss", "strand"]

Region = tuple[str, str]  # (window start column, window end column)


def genome_columns(prefix: str, primary: bool) -> tuple[str, str, str]:
    """Names of a region's genome start, end and TSS-offset columns."""
    if primary:
        return "start", "end", "tss_offset"
    return f"{prefix}_genome_start", f"{prefix}_genome_end", f"{prefix}_tss_offset"


def standard_frame(frame: pd.DataFrame, settings: Mapping[str, Any],
                   loci: pd.DataFrame | None, regions: Mapping[str, Region],
                   primary: str | None = None) -> pd.DataFrame:
    """Bring a test's raw table to the schema.

    Parameters
    ----------
    frame : pandas.DataFrame
        The test's columns, with ``locus`` (row of ``loci``; absent for a
        one-locus test) and ``track`` (column of the result's track axis) as
        integer positions.
    settings : mapping
        The result's settings: ``seq_length``, ``tracks`` (original index of each
        track column) and ``track_names`` (None, or one name per column).
    loci : pandas.DataFrame or None
        ``name`` and, for genome coordinates, ``chrom, tss, strand`` (and
        ``chrom_size``) per locus.
    regions : mapping of str to (str, str)
        Region prefix to its window start/end columns in ``frame``.
    primary : str, optional
        The region whose genome columns are plain ``start, end, tss_offset``.
    """
    frame = frame.copy()
    locus = (frame.pop("locus").to_numpy() if "locus" in frame
             else np.zeros(len(frame), dtype=np.int64))
    front = pd.DataFrame(index=frame.index)
    if loci is not None:
        front["name"] = loci["name"].astype(str).to_numpy()[locus]
        if has_coordinates(loci):
            for col in LOCUS_COLUMNS[1:]:
                front[col] = loci[col].to_numpy()[locus]
            front["tss"] = front["tss"].astype(np.int64)
    else:
        front["name"] = locus.astype(str)
    if "track" in frame:
        position = frame.pop("track").to_numpy()
        ids = settings.get("tracks")
        front["track"] = (np.asarray(ids, dtype=np.int64)[position] if ids is not None
                          else position.astype(np.int64))
        names = settings.get("track_names")
        if names is not None and any(n is not None for n in names):
            front["track_name"] = np.asarray(names, dtype=object)[position]
    out = pd.concat([front, frame], axis=1)
    if settings.get("seq_length") is None:  # a result saved before settings were kept
        return out
    length = int(settings["seq_length"])
    for prefix, (start_col, end_col) in regions.items():
        start = out[start_col].to_numpy(dtype=np.int64)
        end = out[end_col].to_numpy(dtype=np.int64)
        absent = start < 0  # e.g. multiplicity's zero-copy row
        g_start, g_end, offset = genome_columns(prefix, prefix == primary)
        values: dict[str, Any] = {}
        if has_coordinates(loci):
            size = (loci["chrom_size"].to_numpy()[locus] if "chrom_size" in loci else None)
            gs, ge = genome_interval(out["tss"].to_numpy(), out["strand"].to_numpy(), length,
                                     start, end, size)
            gs[absent], ge[absent] = pd.NA, pd.NA
            values[g_start], values[g_end] = gs, ge
        off = pd.array(tss_offset(start, length), dtype="Int64")
        off[absent] = pd.NA
        values[offset] = off
        at = out.columns.get_loc(end_col) + 1
        for k, (col, value) in enumerate(values.items()):
            out.insert(at + k, col, value)
    return out
