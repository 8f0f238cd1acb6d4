"""Genome tracks of the tile tests: the called elements as BED9, every tile's effect as
one bedGraph per track, and an IGV session that loads them on the run's FASTA.

``elements.bed`` (BED9, 0-based half-open): one row per gene, tile and track whose
effect passes ``+-threshold``; ``name`` is ``GENE|CALL|effect=+0.421|track=5111:K562``
(the track's index and, when the model records it, its name), ``score`` is
``round(min(|effect|, 1) * 1000)``, ``thickStart``/``thickEnd`` the tile, ``itemRgb``
the call's colour (enhancing vermillion, silencing blue; colour-blind safe). A
``track`` line first turns the colours on in the UCSC browser; IGV, bedtools and
pybedtools read it as a header.

``tile_effects.track<N>.bedGraph``: every tile's effect on track ``N``, sorted and
non-overlapping (where the windows of two genes overlap, each stretch carries the
larger ``|effect|`` of the tiles covering it; the results tables hold every gene's).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

__all__ = ["BEDGRAPH_GLOB", "BED_COLUMNS", "CALL_RGB", "THRESHOLD", "bedgraph_name", "elements_bed",
           "igv_session", "read_bedgraph", "read_elements_bed", "tile_effect_bedgraphs",
           "write_bed", "write_bedgraph"]

THRESHOLD = 0.3  # the paper's enhancer (> 0.3) and silencer (< -0.3) cut-off
BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "thickStart", "thickEnd",
               "itemRgb"]
BED_DTYPES = {"chrom": str, "start": np.int64, "end": np.int64, "name": str,
              "score": np.int64, "strand": str, "thickStart": np.int64, "thickEnd": np.int64,
              "itemRgb": str}
# Okabe-Ito vermillion and blue (the figures' palette)
CALL_RGB = {"enhancing": "213,94,0", "silencing": "0,114,178"}
BED_HEADER = 'track name="creme-fast elements" description="CREME enhancing/silencing tiles" ' \
             'itemRgb="On"'
_UNSAFE = re.compile(r"[\s|]+")


def _safe(text: Any) -> str:
    """A name part without whitespace or ``|`` (BED names are one field)."""
    return _UNSAFE.sub("_", str(text)).strip("_")


def _track_text(track: np.ndarray, names: pd.Series | None) -> np.ndarray:
    text = np.array([f"track={int(t)}" for t in track], dtype=object)
    if names is not None:
        for i, name in enumerate(names):
            if isinstance(name, str) and name:
                text[i] += ":" + _safe(name)
    return text


def _check_columns(frame: pd.DataFrame) -> None:
    missing = [c for c in ("chrom", "start", "end", "strand", "effect", "track")
               if c not in frame]
    if missing:
        raise ValueError(f"genome tracks need genome coordinates and effects; the table "
                         f"lacks {', '.join(missing)} (give the loci: result.with_loci(table) "
                         "with name, chrom, tss, strand)")


def elements_bed(frame: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Rows of a necessity or sufficiency table (the result schema) whose effect is
    above ``threshold`` (enhancing) or below ``-threshold`` (silencing), as BED9
    (see the module's description): one row per gene, tile and track, the track in
    the name. Tiles wholly off the chromosome (windows past its end) are left out.
    Sorted by chrom, start, end, name.

    Raises
    ------
    ValueError
        The table has no genome coordinates or no effects.
    """
    _check_columns(frame)
    effect = frame["effect"].to_numpy(dtype=np.float64)
    hit = ((effect > threshold) | (effect < -threshold)) & frame["start"].notna().to_numpy()
    rows = frame[hit]
    value = rows["effect"].to_numpy(np.float64)
    call = np.where(value > 0, "enhancing", "silencing")
    genes = np.array([_safe(n) for n in rows["name"]], dtype=object)
    tracks = _track_text(rows["track"].to_numpy(np.int64),
                         rows["track_name"] if "track_name" in rows else None)
    effects = np.array([f"effect={v:+.3f}" for v in value], dtype=object)
    start = rows["start"].astype(np.int64).to_numpy()
    end = rows["end"].astype(np.int64).to_numpy()
    bed = pd.DataFrame({
        "chrom": rows["chrom"].astype(str).to_numpy(), "start": start, "end": end,
        "name": genes + "|" + call + "|" + effects + "|" + tracks,
        "score": np.round(np.minimum(np.abs(value), 1) * 1000).astype(np.int64),
        "strand": rows["strand"].astype(str).to_numpy(), "thickStart": start,
        "thickEnd": end, "itemRgb": [CALL_RGB[c] for c in call]}, columns=BED_COLUMNS)
    return bed.sort_values(["chrom", "start", "end", "name"], kind="stable", ignore_index=True)


def write_bed(bed: pd.DataFrame, path: str | Path) -> None:
    """Write a BED9 table: the ``track`` line, then tab-separated rows."""
    with open(path, "w") as fh:
        fh.write(BED_HEADER + "\n")
        bed[BED_COLUMNS].to_csv(fh, sep="\t", header=False, index=False)


def _data_lines(path: str | Path) -> int:
    """Lines before the data: ``track`` and ``browser`` lines and ``#`` comments."""
    skip = 0
    with open(path) as fh:
        for line in fh:
            if not line.startswith(("track", "browser", "#")):
                break
            skip += 1
    return skip


def read_elements_bed(path: str | Path) -> pd.DataFrame:
    """Read an ``elements.bed`` back: the BED9 columns with their types, and the
    name's parts as ``gene``, ``call``, ``effect`` (float) and ``track`` (int)."""
    bed = pd.read_csv(path, sep="\t", header=None, names=BED_COLUMNS, dtype=BED_DTYPES,
                      skiprows=_data_lines(path))
    if not len(bed):  # no element called: the columns, typed
        return bed.astype(BED_DTYPES).assign(
            gene=pd.Series(dtype=object), call=pd.Series(dtype=object),
            effect=pd.Series(dtype=np.float64), track=pd.Series(dtype=np.int64))
    parts = bed["name"].str.split("|", expand=True, n=3).reindex(columns=range(4))
    bed["gene"], bed["call"] = parts[0], parts[1]
    bed["effect"] = parts[2].str.removeprefix("effect=").astype(np.float64)
    bed["track"] = parts[3].str.extract(r"track=(-?\d+)", expand=False).astype(np.int64)
    return bed


BEDGRAPH_GLOB = "tile_effects.track*.bedGraph"


def bedgraph_name(track: int) -> str:
    """``tile_effects.track<N>.bedGraph``."""
    return f"tile_effects.track{int(track)}.bedGraph"


def _strongest_cover(chrom: np.ndarray, start: np.ndarray, end: np.ndarray,
                     value: np.ndarray) -> pd.DataFrame:
    """Split intervals into non-overlapping stretches, each with the value of largest
    magnitude among the intervals covering it (vectorised; ties: the first given)."""
    pieces = []
    for name in pd.unique(chrom):
        on = chrom == name
        s, e, v = start[on], end[on], value[on]
        cuts = np.unique(np.concatenate([s, e]))
        first = np.searchsorted(cuts, s)
        count = np.searchsorted(cuts, e) - first  # elementary stretches each covers
        owner = np.repeat(np.arange(len(s)), count)
        segment = first[owner] + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count,
                                                                     count))
        order = np.lexsort((owner, -np.abs(v[owner]), segment))
        segment, owner = segment[order], owner[order]
        keep = np.r_[True, segment[1:] != segment[:-1]]
        segment, owner = segment[keep], owner[keep]
        pieces.append(pd.DataFrame({"chrom": name, "start": cuts[segment],
                                    "end": cuts[segment + 1], "value": v[owner]}))
    out = (pd.concat(pieces, ignore_index=True) if pieces else
           pd.DataFrame({"chrom": [], "start": [], "end": [], "value": []}))
    # merge neighbours that carry the same value from touching stretches
    same = ((out["chrom"] == out["chrom"].shift()) & (out["start"] == out["end"].shift())
            & (out["value"] == out["value"].shift()))
    run = (~same).cumsum()
    return (out.groupby(run, sort=False)
            .agg(chrom=("chrom", "first"), start=("start", "first"), end=("end", "last"),
                 value=("value", "first")).reset_index(drop=True))


def tile_effect_bedgraphs(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """Every tile's effect (NaN left out) as one bedGraph table per track (``chrom,
    start, end, value``), sorted and non-overlapping; see the module's description.

    Raises
    ------
    ValueError
        The table has no genome coordinates or no effects.
    """
    _check_columns(frame)
    rows = frame[frame["start"].notna() & frame["effect"].notna()]
    out = {}
    for track in pd.unique(frame["track"]):
        one = rows[rows["track"] == track]
        one = one.sort_values(["chrom", "start"], kind="stable")
        out[int(track)] = _strongest_cover(
            one["chrom"].astype(str).to_numpy(), one["start"].to_numpy(np.int64),
            one["end"].to_numpy(np.int64), one["effect"].to_numpy(np.float64))
    return out


def write_bedgraph(table: pd.DataFrame, path: str | Path, name: str) -> None:
    """Write a bedGraph: a ``track type=bedGraph`` line, then tab-separated rows."""
    with open(path, "w") as fh:
        fh.write(f"track type=bedGraph name={quoteattr(name)} visibility=full "
                 "autoScale=on\n")
        table[["chrom", "start", "end", "value"]].to_csv(fh, sep="\t", header=False,
                                                          index=False, float_format="%.6g")


def read_bedgraph(path: str | Path) -> pd.DataFrame:
    """Read a bedGraph written by :func:`write_bedgraph` (``chrom, start, end, value``)."""
    return pd.read_csv(path, sep="\t", header=None, names=["chrom", "start", "end", "value"],
                       dtype={"chrom": str, "start": np.int64, "end": np.int64,
                              "value": np.float64}, skiprows=_data_lines(path))


def igv_session(genome: str | None, tracks: Mapping[str, str], locus: str | None = None
                ) -> str:
    """An IGV session (XML) loading ``tracks`` (file name -> display name; paths are
    relative to the session file, as IGV reads them) on ``genome`` (a FASTA with its
    ``.fai``, or an IGV genome id such as ``hg38``)."""
    head = '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<Session'
    if genome:
        head += f" genome={quoteattr(str(genome))}"
    if locus:
        head += f" locus={quoteattr(locus)}"
    lines = [head + ' version="8">', "    <Resources>"]
    lines += [f"        <Resource name={quoteattr(name)} path={quoteattr(path)}/>"
              for path, name in tracks.items()]
    lines += ["    </Resources>", "</Session>", ""]
    return "\n".join(lines)
