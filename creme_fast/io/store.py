"""A run directory: settings that identify the run, and results that survive crashes.

Layout::

    DIR/.creme-fast-run        marker: this directory is a creme-fast run (only such a
                               directory is ever cleared by --no-resume)
    DIR/.lock                  held (fcntl) by the run working in DIR; names its holder
    DIR/settings.json          everything needed to reproduce the run
    DIR/results/part-*.parquet one file per finished chunk of loci, each written to a
                               dot-file and renamed, so a reader (and a resumed run)
                               only ever sees whole loci
    DIR/failed.tsv             loci that could not be run, with the reason (always
                               written; a header alone when none failed)
    DIR/summary.{parquet,csv}  one row per locus (and track), written at the end (no
                               rows, every column, when no locus finished)
"""
from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from creme_fast.io.tables import atomic_write

__all__ = ["MARKER", "RunLocked", "RunSettingsMismatch", "RunStore", "check_run_directory"]

MARKER = ".creme-fast-run"
OUTPUTS = ("failed.tsv", "summary.parquet", "summary.csv", "summary.png")
# identity keys of earlier versions that no longer decide a resume (the TSS table is
# now identified locus by locus: creme_fast.runs.resume)
RETIRED_IDENTITY = ("tss", "selection")


class RunSettingsMismatch(ValueError):
    """DIR holds a run with different settings."""


class RunLocked(ValueError):
    """Another process is running in DIR."""


def check_run_directory(directory: str | Path) -> None:
    """Refuse, before anything is written, a ``--out`` that cannot hold a run.

    Raises
    ------
    ValueError
        ``directory`` is a file, lies under a file, or holds a ``settings.json``
        (or ``results/``) that creme-fast did not write.
    """
    directory = Path(directory)
    for parent in [directory, *directory.parents]:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--out {directory}: {parent} is a file, not a directory; "
                             "give a directory path")
        if parent.exists():
            break
    if directory.is_dir() and not (directory / MARKER).is_file() and not _legacy(directory):
        foreign = [n for n in ("settings.json", "results") if (directory / n).exists()]
        if foreign:
            raise ValueError(f"--out {directory}: holds {', '.join(foreign)} that creme-fast "
                             f"did not write (no {MARKER} marker); choose another --out")


class RunStore:
    """Results of one run in ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.results = self.directory / "results"
        self.settings_path = self.directory / "settings.json"
        self._lock_fd: int | None = None

    # --- exclusive use of the directory ----------------------------------------
    def lock(self) -> None:
        """Take the directory for this process (until :meth:`unlock` or exit).

        Raises
        ------
        RunLocked
            Another process holds it; the message names its pid, host and start.
        """
        check_run_directory(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / MARKER).touch()
        path = self.directory / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(f"{self.directory} is in use by another creme-fast run "
                            f"({holder}); wait for it to finish, or use another --out") from None
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        text = f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunStore:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    # --- settings ---------------------------------------------------------------
    def existing_settings(self) -> dict[str, Any] | None:
        if not self.settings_path.is_file():
            return None
        try:
            return json.loads(self.settings_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.settings_path}: not valid JSON ({exc}); move the "
                             "directory away or pass --no-resume") from None

    def open(self, settings: dict[str, Any], identity: dict[str, Any], resume: bool) -> bool:
        """Prepare the directory; returns whether an earlier run is resumed.

        ``identity`` holds the settings that decide the results: a directory
        with a different identity is refused (unless ``resume`` is False, which
        removes what an earlier run wrote, and only that, and starts over).
        """
        old = self.existing_settings() if resume else None
        if old is not None:
            before = {k: v for k, v in old.get("identity", {}).items()
                      if k in identity or k not in RETIRED_IDENTITY}
            changed = sorted(k for k in set(before) | set(identity)
                             if before.get(k) != identity.get(k))
            if changed:
                detail = "; ".join(f"{k}: {_short(before.get(k))} -> {_short(identity.get(k))}"
                                   for k in changed[:5])
                raise RunSettingsMismatch(
                    f"{self.directory} holds a run with other settings ({detail}); use "
                    "another --out, or --no-resume to discard it")
        if not resume:
            for part in self.parts():
                part.unlink()
            for name in OUTPUTS:
                (self.directory / name).unlink(missing_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)
        text = json.dumps({**settings, "identity": identity}, indent=2, sort_keys=True)
        atomic_write(self.settings_path, lambda p: p.write_text(text + "\n"))
        return old is not None

    # --- results ----------------------------------------------------------------
    def parts(self) -> list[Path]:
        return sorted(self.results.glob("part-*.parquet"))

    def done(self) -> set[str]:
        """Names of loci whose results are on disk."""
        names: set[str] = set()
        for part in self.parts():
            names.update(pq.read_table(part, columns=["name"]).column("name").to_pylist())
        return names

    def write_part(self, frame: pd.DataFrame, index: int) -> Path:
        """Write the rows of whole loci as one part, atomically."""
        path = self.results / f"part-{index:07d}.parquet"
        n = 0
        while path.exists():  # a resumed run never overwrites finished work
            n += 1
            path = self.results / f"part-{index:07d}-{n}.parquet"
        return atomic_write(path, lambda p: frame.to_parquet(p, index=False))

    def loci(self) -> Iterator[pd.DataFrame]:
        """The rows of each part in turn, each locus once (from the first part that
        holds it, should two parts ever hold the same locus); one part in memory at
        a time."""
        seen: set[str] = set()
        for part in self.parts():
            frame = pd.read_parquet(part)
            new = ~frame["name"].isin(seen).to_numpy()
            seen.update(frame["name"].unique())
            if new.any():
                yield frame[new].reset_index(drop=True)

    def read(self) -> pd.DataFrame:
        """Every finished locus's rows, each locus once."""
        frames = list(self.loci())
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _legacy(directory: Path) -> bool:
    """A run written before the marker existed: its settings.json has our keys."""
    try:
        settings = json.loads((directory / "settings.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(settings, dict) and {"creme_fast", "identity"} <= set(settings)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."
