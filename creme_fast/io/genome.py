"""Genome access through pyfaidx: model-length windows centred on a TSS."""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.sequence.tokens import N_TOKEN, encode, reverse_complement

__all__ = ["Genome", "GenomeError", "window_bounds"]


class GenomeError(ValueError):
    """A FASTA that cannot be read, or a coordinate it does not hold."""


def window_bounds(tss: int, strand: str, length: int) -> tuple[int, int]:
    """Genomic ``[start, end)`` of a window whose centre (index ``length // 2``) is the
    TSS, on either strand (after reverse complementing on ``-``)."""
    half = length // 2
    if strand == "-":
        return tss - (length - half) + 1, tss + half + 1
    return tss - half, tss - half + length


class Genome:
    """A FASTA genome (plain or bgzip) read through pyfaidx.

    Parameters
    ----------
    path : str or Path
        The FASTA. Its ``.fai`` index is built next to it when missing (the
        directory must then be writable).

    Raises
    ------
    GenomeError
        The file is missing, unreadable, not FASTA, or its index cannot be read
        or written.
    """

    def __init__(self, path: str | Path) -> None:
        import pyfaidx

        self.path = Path(path)
        if not self.path.is_file():
            raise GenomeError(f"{self.path}: FASTA file not found")
        if not os.access(self.path, os.R_OK):
            raise GenomeError(f"{self.path}: FASTA file is not readable (permissions)")
        fai = Path(f"{self.path}.fai")
        if fai.exists() and not os.access(fai, os.R_OK):
            raise GenomeError(f"{fai}: the FASTA index exists but is not readable "
                              "(permissions); fix them or delete it so it is rebuilt")
        if not fai.exists() and not os.access(self.path.parent, os.W_OK):
            raise GenomeError(f"{self.path}: no index {fai.name} and its directory is not "
                              f"writable; run `samtools faidx {self.path}` where you can")
        with open(self.path, "rb") as fh:
            head = fh.read(2)
        if head[:1] != b">" and head != b"\x1f\x8b":
            raise GenomeError(f"{self.path}: not a FASTA file (the first line must start "
                              "with '>')")
        if head == b"\x1f\x8b" and not _is_bgzf(self.path):
            raise GenomeError(f"{self.path}: compressed with plain gzip, which cannot be read "
                              "by position; decompress it (gunzip) or recompress it with "
                              "`bgzip` (block gzip)")
        if fai.exists() and head[:1] == b">":
            _check_index(self.path, fai)
        try:
            self._fasta = pyfaidx.Fasta(str(self.path), as_raw=True, sequence_always_upper=False,
                                        read_ahead=None, build_index=True)
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat,
                ValueError, OSError) as exc:
            raise GenomeError(f"{self.path}: cannot index this FASTA: {exc}") from None
        self.lengths = {name: len(rec) for name, rec in self._fasta.records.items()}

    def close(self) -> None:
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_chrom(self, chrom: str, where: str = "") -> int:
        """Length of ``chrom``; a clear error (with a ``chr`` hint) if it is absent."""
        if chrom in self.lengths:
            return self.lengths[chrom]
        hint = ""
        alt = chrom[3:] if chrom.startswith("chr") else f"chr{chrom}"
        if alt in self.lengths:
            hint = f"; the FASTA names it {alt!r} (chr1 versus 1 naming)"
        else:
            close = difflib.get_close_matches(chrom, list(self.lengths), n=3)
            if close:
                hint = f"; did you mean {', '.join(map(repr, close))}?"
        names = list(self.lengths)
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise GenomeError(f"{where}chromosome {chrom!r} is not in {self.path.name} "
                          f"(which has {shown}){hint}")

    def window(self, chrom: str, tss: int, strand: str, length: int) -> np.ndarray:
        """Tokens of the ``length`` bp window centred on ``tss`` (0-based), reverse
        complemented on ``-``, padded with N beyond the chromosome's ends.

        Soft-masked (lowercase) bases are read as bases. IUPAC codes raise a
        :class:`GenomeError` naming the chromosome and position.
        """
        size = self.check_chrom(chrom)
        if not 0 <= tss < size:
            raise GenomeError(f"TSS {chrom}:{tss} is outside the chromosome (0..{size - 1})")
        start, end = window_bounds(tss, strand, length)
        out = self.interval(chrom, start, end)
        return reverse_complement(out) if strand == "-" else out

    def interval(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Tokens of the forward strand ``[start, end)`` (0-based), N beyond the
        chromosome's ends; the interval must overlap the chromosome.

        Soft-masked (lowercase) bases are read as bases. IUPAC codes raise a
        :class:`GenomeError` naming the chromosome and position.
        """
        size = self.check_chrom(chrom)
        if end <= start or end <= 0 or start >= size:
            raise GenomeError(f"{chrom}:{start}-{end} does not overlap the chromosome "
                              f"(0..{size - 1})")
        out = np.full(end - start, N_TOKEN, dtype=np.uint8)
        lo, hi = max(start, 0), min(end, size)
        raw = self._fasta[chrom][lo:hi]
        try:
            out[lo - start:hi - start] = encode(raw)
        except ValueError:
            codes = np.frombuffer(raw.encode("ascii", "replace"), dtype=np.uint8)
            bad = int(np.nonzero(~np.isin(codes, np.frombuffer(b"ACGTNacgtn", np.uint8)))[0][0])
            raise GenomeError(f"{self.path.name}: {chrom}:{lo + bad} holds {raw[bad]!r}, "
                              "not A, C, G, T or N (IUPAC ambiguity codes are not read; "
                              "mask them to N)") from None
        return out


def _is_bgzf(path: Path) -> bool:
    """A gzip file whose first member carries the BGZF ``BC`` extra field."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 16 and head[3] & 4 != 0 and head[12:14] == b"BC"


def _check_index(path: Path, fai: Path) -> None:
    """Refuse a ``.fai`` that does not describe this (uncompressed) FASTA, e.g. one
    left from a differently wrapped or edited file: pyfaidx would read wrong windows
    (or pad a shortened record with N). Every record is checked against the bytes:
    its header, its first line, where its sequence ends, and that the records together
    cover the file (no sequence the index lacks)."""
    size = path.stat().st_size
    stale = (f"{fai}: this index does not match {path.name} ({{}}); it is stale (built "
             "for another version of the file?): delete it and it is rebuilt")
    records = []
    with open(fai) as idx:
        for number, line in enumerate(idx, start=1):
            fields = line.rstrip("\n").split("\t")
            try:
                name, length, offset, bases, width = fields[0], *map(int, fields[1:5])
            except ValueError:
                raise GenomeError(stale.format(f"line {number} is not a .fai record")) from None
            records.append((name, length, offset, bases, width))
    if not records:
        raise GenomeError(stale.format("the index is empty"))
    with open(path, "rb") as fh:
        expected = 0  # where the next record's header should start
        for name, length, offset, bases, width in sorted(records, key=lambda r: r[2]):
            header_start = _check_record(fh, size, stale, name, length, offset, bases, width)
            _check_gap(fh, expected, header_start, stale, name)
            expected = _record_end(fh, size, stale, name, length, offset, bases, width)
        _check_gap(fh, expected, size, stale, None)


def _check_record(fh: Any, size: int, stale: str, name: str, length: int, offset: int,
                  bases: int, width: int) -> int:
    """Check a record's header and first line; returns where its header starts."""
    full, rest = divmod(length, bases) if bases else (0, length)
    end = offset + full * width + rest
    if offset < 1 or end > size:
        raise GenomeError(stale.format(f"{name} would end at byte {end:,} of a {size:,} byte "
                                       "file"))
    fh.seek(offset - 1)
    before, first = fh.read(1), fh.read(1)
    if before != b"\n" or (length and first in (b">", b"\n", b"\r")):
        raise GenomeError(stale.format(f"{name} does not start at byte {offset:,}"))
    header = _line_before(fh, offset)
    if not header.startswith(b">") or header[1:].split(maxsplit=1)[:1] != [name.encode()]:
        shown = header[:40].decode(errors="replace")
        raise GenomeError(stale.format(f"{name} starts at byte {offset:,}, after the header "
                                       f"{shown!r}, not '>{name}'"))
    if length > bases:
        fh.seek(offset + bases)
        if fh.read(1) not in (b"\n", b"\r"):
            raise GenomeError(stale.format(f"the lines of {name} are not {bases} bases long"))
    carriage = offset >= 2 and fh.seek(offset - 2) >= 0 and fh.read(1) == b"\r"
    return offset - 1 - int(carriage) - len(header)


def _record_end(fh: Any, size: int, stale: str, name: str, length: int, offset: int,
                bases: int, width: int) -> int:
    """Check that a record's sequence ends where its length says (a base there, then a
    line end or the end of the file); returns the byte after its last line."""
    if not length:
        return offset
    full, rest = divmod(length, bases)
    last = offset + full * width + rest - 1 if rest else offset + (full - 1) * width + bases - 1
    fh.seek(last)
    here, after = fh.read(1), fh.read(2)
    if here in (b"", b"\n", b"\r", b">"):
        raise GenomeError(stale.format(f"{name} holds fewer than the {length:,} bases the "
                                       "index says"))
    if after[:1] not in (b"", b"\n", b"\r"):
        raise GenomeError(stale.format(f"{name} holds more than the {length:,} bases the "
                                       f"index says (its sequence goes on at byte "
                                       f"{last + 1:,})"))
    ending = 2 if after == b"\r\n" else (1 if after[:1] else 0)
    return last + 1 + ending


def _check_gap(fh: Any, start: int, stop: int, stale: str, following: str | None) -> None:
    """Between two records (or after the last) only blank lines may lie: a header
    there is a record the index lacks."""
    if stop < start:
        raise GenomeError(stale.format(f"{following} overlaps the record before it"))
    if stop == start:
        return
    fh.seek(start)
    block = fh.read(min(stop - start, 4096))
    text = block.lstrip(b"\r\n")
    if not text and len(block) == stop - start:
        return
    where = start + len(block) - len(text)
    if text.startswith(b">"):
        header = text.split(b"\n", 1)[0].rstrip(b"\r")[:60].decode(errors="replace")
        raise GenomeError(stale.format(f"it has no record for {header!r} at byte {where:,}"))
    raise GenomeError(stale.format(f"byte {where:,} is not part of any record it lists"))


def _line_before(fh: Any, offset: int) -> bytes:
    """The line that ends just before byte ``offset`` (the header of a sequence that
    starts there), read backwards in blocks."""
    end = offset - 1  # fh[offset - 1] is the newline ending the header
    chunks: list[bytes] = []
    pos = end
    while pos > 0:
        start = max(0, pos - 4096)
        fh.seek(start)
        block = fh.read(pos - start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            chunks.append(block[cut + 1:])
            break
        chunks.append(block)
        pos = start
    return b"".join(reversed(chunks)).rstrip(b"\r")
