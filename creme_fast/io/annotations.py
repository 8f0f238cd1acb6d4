"""GTF and GFF3 annotations as TSS tables: records read line by line, attributes as data.

GTF (GENCODE, Ensembl) attributes are ``key "value"; key value;`` pairs: a quoted
value is data whatever it holds (``#``, ``;``, spaces); a ``#`` outside quotes after
the last pair starts a comment. GFF3 attributes are ``tag=value;tag=value`` with
``%``-encoded characters (``%3B`` is ``;``, ``%2C`` is ``,``) and comma-separated
values. ``##FASTA`` (or a ``>`` header line) ends a GFF3 file's records. Every error
names the file, the line and the column (column 9 holds the attributes).

Names users search by (issue 32): a locus is named by its gene name (``gene_name``,
or the parent gene's ``Name`` in Ensembl GFF3); the ids keep their own columns
(``gene_id``, and ``transcript_id`` for transcripts). Where several rows share a gene
name (the transcripts of one gene, or a gene's PAR copies) each is named
``GENE|ID`` with its own id, which ``creme-fast plot --gene GENE`` matches too.
"""
from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

__all__ = ["AnnotationError", "BIOTYPE_KEYS", "FEATURE_TYPES", "read_annotation_tss"]

# GENCODE/Ensembl GTF say "transcript"; Ensembl GFF3 says "mRNA" for coding transcripts
FEATURE_TYPES = {"transcript": ("transcript", "mRNA"), "gene": ("gene",)}
BIOTYPE_KEYS = ("gene_type", "gene_biotype", "transcript_type", "transcript_biotype",
                "biotype")
COLUMN_NAMES = ("seqname", "source", "feature", "start", "end", "score", "strand", "frame",
                "attributes")
NAME_SEPARATOR = "|"  # GENE|ID where a gene name names several rows


class AnnotationError(ValueError):
    """A GTF/GFF record that cannot be read (the message names file, line, column)."""


def _opener(path: Path) -> Any:
    return gzip.open if path.suffix.lower() == ".gz" else open


def _is_gff3(path: Path) -> bool:
    """GFF3 by its ``##gff-version 3`` directive or its name; a ``.gff`` is GFF3 when
    its first record's attributes are ``tag=value`` pairs, else GTF-like (GFF2)."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    with _opener(path)(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("##gff-version"):
                words = line.split()
                return len(words) > 1 and words[1].split(".")[0] == "3"
            if line.startswith("#") or not line.strip():
                continue
            if suffixes[-1:] == [".gff3"]:
                return True
            if suffixes[-1:] == [".gtf"]:
                return False
            fields = line.rstrip("\n").split("\t")
            return len(fields) >= 9 and bool(re.match(r"\s*[^\s=;\"]+=", fields[8]))
    return suffixes[-1:] == [".gff3"]


def parse_gtf_attributes(text: str, where: str) -> dict[str, str]:
    """``key "value"; key value; # comment`` -> dict (the first value of a repeated
    key); ``where`` prefixes errors (file, line and column)."""
    out: dict[str, str] = {}
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t":
            pos += 1
        if pos >= end or text[pos] == "#":
            return out
        match = re.compile(r'[^\s;"]+').match(text, pos)
        if not match:
            raise AnnotationError(f"{where}: expected an attribute name at character "
                                  f"{pos + 1} of {text!r}")
        key, pos = match.group(), match.end()
        while pos < end and text[pos] in " \t":
            pos += 1
        if pos < end and text[pos] == '"':
            close = pos + 1
            while True:
                close = text.find('"', close)
                if close < 0:
                    raise AnnotationError(f"{where}: the value of {key!r} opens a quote at "
                                          f"character {pos + 1} that is never closed")
                if text[close - 1] != "\\":
                    break
                close += 1
            value = text[pos + 1:close].replace('\\"', '"')
            pos, quoted = close + 1, True
        else:
            match = re.compile(r"[^\s;]+").match(text, pos)
            if not match:
                raise AnnotationError(f"{where}: attribute {key!r} has no value")
            value, pos, quoted = match.group(), match.end(), False
        out.setdefault(key, value)
        while pos < end and text[pos] in " \t":
            pos += 1
        if pos < end and text[pos] == ";":
            pos += 1
        elif pos < end and text[pos] != "#":
            hint = " (is a quote unbalanced?)" if quoted else ""
            raise AnnotationError(f"{where}: expected ';' after the value of {key!r} at "
                                  f"character {pos + 1} of {text!r}{hint}")


def parse_gff3_attributes(text: str, where: str) -> dict[str, list[str]]:
    """``tag=v1,v2;tag=value`` (``%``-encoded) -> dict of value lists."""
    out: dict[str, list[str]] = {}
    if text.strip() == ".":
        return out
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise AnnotationError(f"{where}: attribute {part.strip()!r} has no '=' (GFF3 "
                                  "attributes are tag=value pairs)")
        out.setdefault(unquote(key.strip()), [unquote(v) for v in value.split(",")])
    return out


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, the nine columns) of every record, each record's columns and
    positions checked."""
    with _opener(path)(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.startswith(("##FASTA", ">")):
                return  # the GFF3 FASTA section: sequences, not records
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 9 or fields[8] == "":
                found = sum(1 for f in fields if f != "")
                raise AnnotationError(f"{path}: line {number}: a GTF/GFF record needs 9 "
                                      "tab-separated columns (seqname, source, feature, "
                                      "start, end, score, strand, frame, attributes), "
                                      f"found {found}")
            _check_positions(fields, f"{path}: line {number}")
            yield number, fields


def _check_positions(fields: list[str], where: str) -> None:
    values = []
    for column in (3, 4):
        text = fields[column]
        if not (text.isascii() and text.isdigit()):
            raise AnnotationError(f"{where}, column {column + 1}: {COLUMN_NAMES[column]} "
                                  f"{text!r} is not a whole number")
        values.append(int(text))
    start, end = values
    if start < 1:
        raise AnnotationError(f"{where}, column 4: start {start} is not a position: GTF/GFF "
                              "positions are 1-based (the first base is 1)")
    if end < start:
        raise AnnotationError(f"{where}, column 5: end {end} is before start {start}")


def read_annotation_tss(path: str | Path, feature: str = "transcript",
                        protein_coding: bool = True) -> pd.DataFrame:
    """The TSSs of a GTF/GFF3 file's ``feature`` records.

    Parameters
    ----------
    path : str or Path
        ``.gtf``, ``.gff``, ``.gff3`` (gzip is fine).
    feature : {"transcript", "gene"}, default="transcript"
    protein_coding : bool, default=True
        Keep protein-coding records only (by ``gene_type``, ``gene_biotype``,
        ``transcript_type``, ``transcript_biotype`` or ``biotype``).

    Returns
    -------
    pandas.DataFrame
        ``chrom, tss (0-based), strand, name, gene_name, gene_id`` (and
        ``transcript_id`` for transcripts) and ``line``, in file order.

    Raises
    ------
    AnnotationError
        A short record, a position that is not 1-based or an end before its start,
        unreadable attributes (each naming file, line and column), no record of the
        feature, or none protein-coding.
    """
    path = Path(path)
    if feature not in FEATURE_TYPES:
        raise AnnotationError(f"gtf_feature must be 'transcript' or 'gene', got {feature!r}")
    gff3 = _is_gff3(path)
    types = FEATURE_TYPES[feature]
    rows: list[dict[str, Any]] = []
    genes: dict[str, dict[str, str]] = {}  # GFF3 gene ID -> its attributes
    counts: dict[str, int] = {}
    for number, fields in _records(path):
        counts[fields[2]] = counts.get(fields[2], 0) + 1
        wanted = fields[2] in types
        where = f"{path}: line {number}, column 9"
        if gff3 and (wanted or fields[2].endswith("gene")):
            values = parse_gff3_attributes(fields[8], where)
            attrs = {k: ",".join(v) for k, v in values.items()}
            attrs["_parent"] = values.get("Parent", [""])[0]
            if fields[2].endswith("gene") and "ID" in attrs:
                genes[attrs["ID"]] = attrs
        elif wanted:
            attrs = parse_gtf_attributes(fields[8], where)
        if wanted:
            rows.append({"fields": fields, "attrs": attrs, "line": number})
    if not rows:
        found = ", ".join(f"{t} ({n})" for t, n in
                          sorted(counts.items(), key=lambda item: -item[1])[:6])
        raise AnnotationError(f"{path}: no {' or '.join(map(repr, types))} records (the file "
                              f"has {found or 'no records'}); see --gtf-feature")
    if protein_coding:
        coding = [r for r in rows
                  if _coding(r["attrs"], genes.get(r["attrs"].get("_parent", ""), {}))]
        if not coding:
            raise AnnotationError(f"{path}: none of the {len(rows)} {feature} records is "
                                  f"protein-coding (by {', '.join(BIOTYPE_KEYS)}); pass "
                                  "--all-biotypes to keep every record")
        rows = coding
    return _table(rows, genes, feature)


def _coding(attrs: dict[str, str], parent: dict[str, str]) -> bool:
    """Any biotype key of the record (else of its GFF3 parent gene) says protein_coding."""
    source = attrs if any(k in attrs for k in BIOTYPE_KEYS) else parent
    return any(source.get(k) == "protein_coding" for k in BIOTYPE_KEYS)


def _table(rows: list[dict[str, Any]], genes: dict[str, dict[str, str]],
           feature: str) -> pd.DataFrame:
    out = []
    for row in rows:
        fields, attrs = row["fields"], row["attrs"]
        parent = genes.get(attrs.get("_parent", ""), {})
        if feature == "gene":
            gene_id = attrs.get("gene_id") or attrs.get("ID", "")
            gene_name = attrs.get("gene_name") or attrs.get("Name", "")
            ident = gene_id
        else:
            gene_id = (attrs.get("gene_id") or parent.get("gene_id") or parent.get("ID")
                       or attrs.get("_parent", ""))
            gene_name = attrs.get("gene_name") or parent.get("gene_name") or parent.get(
                "Name", "")
            ident = attrs.get("transcript_id") or attrs.get("ID", "")
        start, end = int(fields[3]) - 1, int(fields[4])  # 1-based closed -> 0-based
        entry = {"chrom": fields[0], "tss": end - 1 if fields[6] == "-" else start,
                 "strand": fields[6], "name": gene_name or ident, "gene_name": gene_name,
                 "gene_id": gene_id, "line": row["line"]}
        if feature == "transcript":
            entry["transcript_id"] = ident
        entry["_ident"] = ident
        out.append(entry)
    table = pd.DataFrame(out)
    shared = table["name"].duplicated(keep=False) & (table["gene_name"] != "")
    table.loc[shared, "name"] = (table.loc[shared, "gene_name"] + NAME_SEPARATOR
                                 + table.loc[shared, "_ident"])
    columns = ["chrom", "tss", "strand", "name", "gene_name", "gene_id"]
    if feature == "transcript":
        columns.append("transcript_id")
    return table[columns + ["line"]]
