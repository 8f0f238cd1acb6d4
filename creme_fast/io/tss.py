"""TSS tables: CSV/TSV/parquet with a header, BED6, or GTF/GFF annotations.

Every reader names the file, the line (a parquet table's row number) and, where it
helps, the column of what it refuses; GTF/GFF records are read by
:mod:`creme_fast.io.annotations`."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creme_fast.io.annotations import AnnotationError, read_annotation_tss
from creme_fast.io.genome import Genome, GenomeError

__all__ = ["COLUMNS", "TssTableError", "check_against_genome", "read_tss", "table_track"]

COLUMNS = ("chrom", "tss", "strand", "name")
ALIASES = {"chromosome": "chrom", "chr": "chrom", "start": "tss", "gene_name": "name",
           "gene": "name", "chrom": "chrom", "tss": "tss", "strand": "strand", "name": "name"}


class TssTableError(ValueError):
    """A TSS table that cannot be read as asked (the message names file and line)."""


def _suffixes(path: Path) -> list[str]:
    return [s.lower() for s in path.suffixes if s.lower() != ".gz"]


def read_tss(path: str | Path, *, gtf_feature: str = "transcript",
             protein_coding: bool = True, query: str | None = None) -> pd.DataFrame:
    """Read a TSS table as columns ``chrom, tss (0-based), strand, name`` plus any extra
    columns, and a ``line`` column (the row's line in the file, for messages).

    Parameters
    ----------
    path : str or Path
        ``.bed`` (BED6: the TSS is ``start`` on + and ``end - 1`` on -),
        ``.gtf``/``.gff``/``.gff3`` (TSSs of ``gtf_feature`` records, named by gene:
        see :mod:`creme_fast.io.annotations`),
        ``.parquet``, or CSV/TSV with a header naming ``chrom, tss, strand, name``
        (``Chromosome, Start, Strand, gene_name`` are accepted too). gzip is fine.
    gtf_feature : {"transcript", "gene"}, default="transcript"
    protein_coding : bool, default=True
        GTF/GFF only: keep protein-coding records (``gene_type``/``gene_biotype``/
        ``transcript_type``/``transcript_biotype``).
    query : str, optional
        Keep only rows matching this :meth:`pandas.DataFrame.query` (applied before
        the checks, so an earlier run's per-track summary can be narrowed to one
        row per locus). A query that matches no row gives an empty table (with the
        four columns), and so does a parquet table with no rows (an earlier run's
        empty summary); a text table with no rows is an error.

    Raises
    ------
    TssTableError
        A missing column, a bad position or strand, or a duplicate name.
    """
    path = Path(path)
    if not path.is_file():
        raise TssTableError(f"{path}: TSS table not found")
    _check_readable(path)
    kind = _suffixes(path)[-1:] or [""]
    if kind[0] == ".bed":
        table = _read_bed(path)
    elif kind[0] in (".gtf", ".gff", ".gff3"):
        try:
            table = read_annotation_tss(path, gtf_feature, protein_coding)
        except AnnotationError as exc:
            raise TssTableError(str(exc)) from None
        except UnicodeDecodeError as exc:
            raise TssTableError(f"{path}: not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start})") from None
    else:
        table = _read_delimited(path)
    if table.empty and _suffixes(path)[-1:] != [".parquet"]:
        raise TssTableError(f"{path}: the TSS table has no rows")
    # a parquet table with the columns but no rows is an earlier step's empty summary:
    # an empty selection upstream, which the caller writes as an empty run
    if query:
        try:
            table = table.query(query)
        except (pd.errors.UndefinedVariableError, SyntaxError, ValueError, TypeError,
                KeyError) as exc:
            raise TssTableError(f"{path}: query {query!r} fails: {exc}") from None
    if table.empty:  # a selection that matches nothing is an outcome, not an error
        return table.reset_index(drop=True).astype(
            {"chrom": str, "name": str, "strand": str, "tss": "int64"})
    return _validate(table, path)


def _check_readable(path: Path) -> None:
    """An empty or binary file is named as such (not a parser's message)."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if not head:
        raise TssTableError(f"{path}: the TSS table is empty")
    if head[:2] == b"\x1f\x8b":
        if path.suffix.lower() != ".gz":
            raise TssTableError(f"{path}: gzip-compressed, but the name does not end in .gz "
                                "(rename it, e.g. genes.tsv.gz)")
        with gzip.open(path, "rb") as fh:
            try:
                head = fh.read(8192)
            except (OSError, EOFError) as exc:
                raise TssTableError(f"{path}: a damaged gzip file ({exc})") from None
        if not head:
            raise TssTableError(f"{path}: the TSS table is empty")
    if head[:4] == b"PAR1":
        if _suffixes(path)[-1:] != [".parquet"]:
            raise TssTableError(f"{path}: a parquet file, but the name does not end in "
                                ".parquet")
        return
    if b"\x00" in head:
        raise TssTableError(f"{path}: a binary file, not a TSS table (expected CSV/TSV, "
                            "parquet, BED or GTF/GFF text)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the 8 KiB edge
            raise TssTableError(f"{path}: not UTF-8 text (byte {exc.start}); a TSS table "
                                "must be text") from None


def _read_delimited(path: Path) -> pd.DataFrame:
    if _suffixes(path)[-1:] == [".parquet"]:
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise TssTableError(f"{path}: cannot read as parquet: {exc}") from None
        table["line"] = range(1, len(table) + 1)  # parquet has rows, not lines
    else:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            header = fh.readline()
        sep = "\t" if "\t" in header else ","
        try:
            table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                                comment=None)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise TssTableError(f"{path}: cannot read as a table: {exc}") from None
        table["line"] = range(2, len(table) + 2)
    # the paper's names (Chromosome, Start, Strand, gene_name) stand in for the columns
    # a table lacks; beside a ``name`` column, ``gene_name`` is just another column
    present = {c for c in table.columns if c in COLUMNS}
    renamed = {c: ALIASES[c.strip().lower()] for c in table.columns
               if c.strip().lower() in ALIASES and c not in present
               and ALIASES[c.strip().lower()] not in present}
    if len(set(renamed.values())) < len(renamed):
        raise TssTableError(f"{path}: several columns mean the same thing: "
                            f"{', '.join(renamed)}")
    table = table.rename(columns=renamed)
    if _suffixes(path)[-1:] != [".parquet"]:
        table = _typed(table)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        found = ", ".join(str(c) for c in table.columns if c != "line")
        raise TssTableError(f"{path}: missing column(s) {', '.join(missing)}; the header has "
                            f"{found} (expected chrom, tss, strand, name, or Chromosome, "
                            "Start, Strand, gene_name; a BED file must end in .bed)")
    return table


# window or genome positions a table may carry beside tss: numbers, never True/False
POSITION_COLUMNS = ("cre_start", "cre_end")


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Give a text table's other columns their types, as parquet keeps them: a column
    whose every non-empty value is a number becomes numeric (empty cells NaN), one of
    only True/False becomes bool; ``chrom``, ``strand`` and ``name`` stay text."""
    for column in table.columns:
        if column in COLUMNS or column == "line":
            continue
        values = table[column]
        text = values.str.strip()
        if text.isin(["True", "False"]).all() and len(text) and column not in POSITION_COLUMNS:
            table[column] = text == "True"
            continue
        present = text != ""
        numbers = pd.to_numeric(text.where(present), errors="coerce")
        if present.any() and numbers[present].notna().all():
            table[column] = numbers
    return table


def _read_bed(path: Path) -> pd.DataFrame:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    rows, lines = [], []
    with opener(path, "rt") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 6:
                raise TssTableError(f"{path}: line {number}: BED6 needs 6 tab-separated "
                                    "columns (chrom, start, end, name, score, strand), "
                                    f"found {len(fields)}")
            rows.append(fields[:6])
            lines.append(number)
    raw = pd.DataFrame(rows, columns=range(6))
    line = pd.Series(lines)
    start, end = (_ints(raw[c], path, line, n) for c, n in ((1, "start"), (2, "end")))
    reversed_ = end <= start
    if reversed_.any():
        i = int(reversed_.to_numpy().nonzero()[0][0])
        raise TssTableError(f"{path}: line {line.iloc[i]}, column 3: end {end.iloc[i]} is not "
                            f"after start {start.iloc[i]} (BED intervals are [start, end))")
    tss = start.where(raw[5] != "-", end - 1)
    return pd.DataFrame({"chrom": raw[0], "tss": tss, "strand": raw[5], "name": raw[3],
                         "line": line})


# the largest position read (genomes are far smaller; beyond it int64 arithmetic wraps)
MAX_POSITION = 2**62


def _ints(values: pd.Series, path: Path, lines: pd.Series, column: str) -> pd.Series:
    """Whole numbers, each checked before the conversion to int64 (which would
    wrap a huge value to a negative one, or fail on infinity)."""
    out = pd.to_numeric(values, errors="coerce")
    as_float = out.astype("float64")
    bad = as_float.isna() | ~np.isfinite(as_float) | (as_float != as_float.round())
    bad |= _booleans(values)  # True is not position 1 (a parquet bool column)
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        value = _plain(values.iloc[i])
        raise TssTableError(f"{path}: line {lines.iloc[i]}: {column} {value!r} is not an "
                            "integer")
    huge = as_float.abs() >= MAX_POSITION
    if huge.any():
        i = huge.to_numpy().nonzero()[0][0]
        value = _plain(values.iloc[i])
        raise TssTableError(f"{path}: line {lines.iloc[i]}: {column} {value!r} is too large "
                            f"for a position (at most {MAX_POSITION - 1})")
    return out.astype("int64")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``True``, not ``np.True_``)."""
    return value.item() if isinstance(value, np.generic) else value


def _booleans(values: pd.Series) -> pd.Series:
    """Which cells hold True/False (a bool column, or bools among other objects)."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(True, index=values.index)
    if values.dtype == object:
        return values.map(lambda v: isinstance(v, (bool, np.bool_)))
    return pd.Series(False, index=values.index)


def _check_positions(table: pd.DataFrame, path: Path) -> None:
    """Position columns besides tss (``cre_start``, ``cre_end``) hold numbers or
    nothing: a True/False or a word is refused by line, as in tss (whole numbers are
    checked where the CRE is read, :func:`creme_fast.runs.steps.cre_of`)."""
    for column in POSITION_COLUMNS:
        if column not in table:
            continue
        values = table[column]
        present = values.notna() & (values.astype(str).str.strip() != "")
        bad = present & (_booleans(values) | pd.to_numeric(values, errors="coerce").isna())
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise TssTableError(f"{path}: line {table['line'].iloc[i]}: {column} "
                                f"{_plain(values.iloc[i])!r} is not an integer")


# characters a name cannot hold: it becomes a field of tab-separated files (BED, TSV)
_BREAKS = "\t\n\r"


def _validate(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    if table.empty:
        raise TssTableError(f"{path}: no TSSs (after any query)")
    for column in COLUMNS:  # a null (parquet) or NaN cell is not the text "None"
        missing = table[column].isna()
        if missing.any():
            raise TssTableError(f"{path}: line {table.loc[missing, 'line'].iloc[0]}: empty "
                                f"{column}")
    table["chrom"] = table["chrom"].astype(str)
    table["name"] = table["name"].astype(str)
    table["strand"] = table["strand"].astype(str)
    table["tss"] = _ints(table["tss"], path, table["line"], "tss")
    negative = table["tss"] < 0
    if negative.any():
        row = table[negative].iloc[0]
        raise TssTableError(f"{path}: line {row['line']}: tss {row['tss']} is negative "
                            "(positions are 0-based)")
    bad_strand = ~table["strand"].isin(["+", "-"])
    if bad_strand.any():
        row = table[bad_strand].iloc[0]
        raise TssTableError(f"{path}: line {row['line']}: unknown strand {row['strand']!r} "
                            "(expected + or -)")
    empty = table["name"].str.strip() == ""
    if empty.any():
        raise TssTableError(f"{path}: line {table[empty].iloc[0]['line']}: empty name")
    broken = table["name"].str.contains(f"[{_BREAKS}]", regex=True)
    if broken.any():
        row = table[broken].iloc[0]
        raise TssTableError(f"{path}: line {row['line']}: name {row['name']!r} holds a tab or "
                            "line break (names become fields of tab-separated outputs such "
                            "as elements.bed)")
    _check_positions(table, path)
    dup = table["name"].duplicated(keep=False)
    if dup.any():
        name = table[dup].iloc[0]["name"]
        lines = table.loc[table["name"] == name, "line"].tolist()
        hint = (" (a run's summary has a row per track: narrow it with a query such as "
                "\"track == 0\")") if "track" in table else " (names key the results)"
        raise TssTableError(f"{path}: duplicate name {name!r} on lines "
                            f"{', '.join(map(str, lines))}{hint}")
    return table


def check_against_genome(table: pd.DataFrame, genome: Genome, path: str | Path) -> None:
    """Every chromosome is in the genome and every TSS inside its chromosome."""
    for chrom, rows in table.groupby("chrom", sort=False):
        first = rows.iloc[0]
        try:
            size = genome.check_chrom(str(chrom), f"{path}: line {first['line']}: ")
        except GenomeError as exc:
            raise TssTableError(str(exc)) from None
        beyond = rows[rows["tss"] >= size]
        if len(beyond):
            row = beyond.iloc[0]
            raise TssTableError(f"{path}: line {row['line']}: tss {chrom}:{row['tss']} is "
                                f"beyond the end of {chrom} ({size} bp in "
                                f"{genome.path.name})")


def table_track(table: pd.DataFrame) -> int | None:
    """The track every row of ``table`` is of, when it has a ``track`` column holding
    one value (an earlier run's per-track summary narrowed with ``--query "track ==
    1"``); None otherwise."""
    if "track" not in table or not len(table):
        return None
    tracks = pd.unique(table["track"].dropna())
    if len(tracks) != 1:
        return None
    try:
        return int(tracks[0])
    except (TypeError, ValueError):
        return None
