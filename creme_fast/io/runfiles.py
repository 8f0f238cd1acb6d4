"""The files of a run directory, read with errors that name the file.

``creme-fast run`` (resuming), ``merge`` and ``plot`` read a run's
``settings.json``, its ``results/part-*.parquet``, its ``summary.parquet`` and its
``failed.tsv`` through these readers: an empty, damaged or foreign file is refused
with its path and what is wrong with it, never with pyarrow's or pandas' message
alone.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FAILED_COLUMNS", "RunFileError", "part_columns", "read_failed", "read_part",
           "read_settings", "read_summary"]

FAILED_COLUMNS = ["name", "error"]


class RunFileError(ValueError):
    """A file of a run directory that cannot be read (the message names it)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _parquet_schema(path: Path, what: str) -> pa.Schema:
    if not path.is_file():
        raise RunFileError(f"{path}: missing")
    if path.stat().st_size == 0:
        raise RunFileError(f"{path}: not a {what} (the file is empty: a write was cut "
                           "short?)")
    try:
        return pq.read_schema(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise RunFileError(f"{path}: not a {what} (not a readable parquet file: "
                           f"{_reason(exc)})") from None


def part_columns(part: str | Path) -> list[str]:
    """The columns of a results part (it must have ``name``).

    Raises
    ------
    RunFileError
        An empty, unreadable or foreign part, named.
    """
    part = Path(part)
    names = _parquet_schema(part, "creme-fast results part").names
    if "name" not in names:
        raise RunFileError(f"{part}: not a creme-fast results part (it has no 'name' "
                           f"column); its columns: {', '.join(names) or 'none'}")
    return list(names)


def read_part(part: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A results part (``columns`` of it), checked as :func:`part_columns` does."""
    part = Path(part)
    present = part_columns(part)
    if columns is not None:
        columns = [c for c in columns if c in present]
    try:
        return pq.read_table(part, columns=columns).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise RunFileError(f"{part}: not a creme-fast results part (its data cannot be "
                           f"read: {_reason(exc)})") from None


def read_summary(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A run's ``summary.parquet`` (it must have ``name``)."""
    path = Path(path)
    names = _parquet_schema(path, "creme-fast summary").names
    if "name" not in names:
        raise RunFileError(f"{path}: not a creme-fast summary (no 'name' column)")
    try:
        return pq.read_table(path, columns=None if columns is None else list(columns)
                             ).to_pandas()
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise RunFileError(f"{path}: not a creme-fast summary ({_reason(exc)})") from None


def read_failed(path: str | Path) -> pd.DataFrame:
    """A run's ``failed.tsv``: a header ``name<TAB>error`` and one row per failed locus.

    Raises
    ------
    RunFileError
        A missing or empty file, another header, or a line that is not two fields
        (naming the line).
    """
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path}: missing (every finished run writes it)")
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise RunFileError(f"{path}: empty; a run writes at least the header "
                           f"{chr(9).join(FAILED_COLUMNS)!r}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=True)
    try:
        for row in reader:
            if reader.line_num == 1 and row != FAILED_COLUMNS:
                raise RunFileError(f"{path}: line 1: the header is {row!r}, not "
                                   f"{FAILED_COLUMNS!r}")
            if len(row) != len(FAILED_COLUMNS):
                raise RunFileError(f"{path}: line {reader.line_num}: {len(row)} field(s), "
                                   "not 2 (name, error)")
    except csv.Error as exc:
        raise RunFileError(f"{path}: line {reader.line_num}: {exc}") from None
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise RunFileError(f"{path}: {_reason(exc)}") from None


def read_settings(directory: str | Path) -> dict[str, Any] | None:
    """A run directory's ``settings.json`` (None when it has none).

    Raises
    ------
    RunFileError
        Not JSON, or not a JSON object.
    """
    path = Path(directory) / "settings.json"
    if not path.is_file():
        return None
    try:
        settings = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{path}: not valid JSON ({exc}); move the directory away or "
                           "pass --no-resume") from None
    if not isinstance(settings, dict):
        raise RunFileError(f"{path}: not a JSON object")
    return settings
