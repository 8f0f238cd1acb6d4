"""TSS tables: CSV/TSV/parquet with a header, BED6, or GTF/GFF annotations."""
from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pandas as pd

from creme_fast.io.genome import Genome, GenomeError

__all__ = ["COLUMNS", "TssTableError", "check_against_genome", "read_tss"]

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
        ``.gtf``/``.gff``/``.gff3`` (TSSs of ``gtf_feature`` records),
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
        table = _read_gtf(path, gtf_feature, protein_coding)
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
    renamed = {c: ALIASES[c.strip().lower()] for c in table.columns
               if c.strip().lower() in ALIASES}
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


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Give a text table's other columns their types, as parquet keeps them: a column
    whose every non-empty value is a number becomes numeric (empty cells NaN), one of
    only True/False becomes bool; ``chrom``, ``strand`` and ``name`` stay text."""
    for column in table.columns:
        if column in COLUMNS or column == "line":
            continue
        values = table[column]
        text = values.str.strip()
        if text.isin(["True", "False"]).all() and len(text):
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
    tss = start.where(raw[5] != "-", end - 1)
    return pd.DataFrame({"chrom": raw[0], "tss": tss, "strand": raw[5], "name": raw[3],
                         "line": line})


# GENCODE/Ensembl GTF say "transcript"; Ensembl GFF3 says "mRNA" for coding transcripts
FEATURE_TYPES = {"transcript": ("transcript", "mRNA"), "gene": ("gene",)}
BIOTYPE_KEYS = ("gene_type", "gene_biotype", "transcript_type", "transcript_biotype",
                "biotype")
_ATTR = re.compile(r'(\w+)[ =]"?([^";]*)"?')


def _read_gtf(path: Path, feature: str, protein_coding: bool) -> pd.DataFrame:
    if feature not in ("transcript", "gene"):
        raise TssTableError(f"gtf_feature must be 'transcript' or 'gene', got {feature!r}")
    raw = pd.read_csv(path, sep="\t", header=None, comment="#", dtype=str,
                      keep_default_na=False, usecols=range(9))
    raw["line"] = range(1, len(raw) + 1)  # comments shift lines; good enough for messages
    types = FEATURE_TYPES[feature]
    found = raw[2].value_counts()
    raw = raw[raw[2].isin(types)]
    if raw.empty:
        seen = ", ".join(f"{t} ({n})" for t, n in found.head(6).items())
        raise TssTableError(f"{path}: no {' or '.join(map(repr, types))} records (the file has "
                            f"{seen or 'no records'}); see --gtf-feature")
    attrs = raw[8].map(lambda text: dict(_ATTR.findall(text)))
    if protein_coding:
        coding = attrs.map(lambda a: any(a.get(k) == "protein_coding" for k in BIOTYPE_KEYS))
        if not coding.any():
            raise TssTableError(f"{path}: none of the {len(raw)} {feature} records is "
                                f"protein-coding (by {', '.join(BIOTYPE_KEYS)}); pass "
                                "--all-biotypes to keep every record")
        raw, attrs = raw[coding], attrs[coding]
    start = _ints(raw[3], path, raw["line"], "start") - 1  # GTF is 1-based, closed
    end = _ints(raw[4], path, raw["line"], "end")
    ident = "transcript_id" if feature == "transcript" else "gene_id"
    names = attrs.map(lambda a: a.get(ident) or a.get("ID") or a.get("gene_name", ""))
    gene = attrs.map(lambda a: a.get("gene_name") or (a.get("Name", "") if feature == "gene"
                                                      else ""))
    return pd.DataFrame({"chrom": raw[0], "tss": start.where(raw[6] != "-", end - 1),
                         "strand": raw[6], "name": names, "gene_name": gene,
                         "line": raw["line"]})


def _ints(values: pd.Series, path: Path, lines: pd.Series, column: str) -> pd.Series:
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna() | (out != out.round())
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise TssTableError(f"{path}: line {lines.iloc[i]}: {column} {values.iloc[i]!r} is "
                            "not an integer")
    return out.astype("int64")


def _validate(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    if table.empty:
        raise TssTableError(f"{path}: no TSSs (after any query)")
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
