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

import contextlib
import datetime
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from creme_fast.io.runfiles import read_part, read_settings
from creme_fast.io.tables import atomic_write

__all__ = ["MARKER", "RunLocked", "RunSettingsMismatch", "RunStore", "check_run_directory"]

MARKER = ".creme-fast-run"
OUTPUTS = ("failed.tsv", "summary.parquet", "summary.csv", "summary.png", "summary.pdf",
           "elements.bed", "igv_session.xml")
# outputs named per track (creme_fast.schema.bed.BEDGRAPH_GLOB)
OUTPUT_GLOBS = ("tile_effects.track*.bedGraph",)
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
        self._created: list[Path] = []  # by lock(): removed again if the run is refused
        self._opened = False  # settings written: the directory holds this run
        self._claimed = False  # marker and holder written

    # --- exclusive use of the directory ----------------------------------------
    def lock(self, claim: bool = True) -> None:
        """Take the directory for this process (until :meth:`unlock` or exit).

        Temporary files left by a killed run are removed. ``claim``: mark the
        directory and name this process in the lock file now; otherwise
        :meth:`open` does it once the run is accepted, so a refused command
        leaves the directory untouched.

        Raises
        ------
        RunLocked
            Another process holds it; the message names its pid, host and start.
        """
        check_run_directory(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / ".lock"
        self._created = [] if path.exists() else [path]
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        holder = ""
        deadline = time.monotonic() + 2.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # a holder names itself once its run is accepted (a refused one lets
                # go): wait a moment for either rather than report "unknown"
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                if holder or time.monotonic() > deadline:
                    os.close(fd)
                    raise RunLocked(f"{self.directory} is in use by another creme-fast run "
                                    f"({holder or 'unknown'}); wait for it to finish, or "
                                    "use another --out") from None
                time.sleep(0.02)
        self._lock_fd = fd
        self._remove_leftovers()
        if claim:
            self._claim()

    def _claim(self) -> None:
        """Mark the directory as a run and name this process in the lock file: done
        once the run is accepted, so a refused command leaves both untouched."""
        marker = self.directory / MARKER
        if not marker.exists():
            marker.touch()
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        text = f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode()
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, text, 0)
        self._claimed = True

    def _remove_leftovers(self) -> None:
        """Temporary files of a run that was killed while writing (SIGKILL, SIGTERM):
        nothing reads them, and with the lock held nothing is writing them."""
        patterns = [(self.directory, f".{name}.*.tmp")
                    for name in ("settings.json", *OUTPUTS, *OUTPUT_GLOBS)]
        patterns.append((self.results, ".part-*.tmp"))
        for folder, pattern in patterns:
            for leftover in folder.glob(pattern):
                leftover.unlink(missing_ok=True)

    def unlock(self, refused: bool = False) -> None:
        """Release the directory; ``refused``: nothing was written, so the marker and
        lock file this process created are removed again."""
        if refused and self._lock_fd is not None:
            for path in self._created:
                path.unlink(missing_ok=True)
        if self._lock_fd is not None:
            if self._claimed:
                os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
        self._claimed = self._opened = False

    def __enter__(self) -> RunStore:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    @contextlib.contextmanager
    def session(self) -> Iterator[RunStore]:
        """Hold the directory for a run: locked now, claimed (marker, holder) by
        :meth:`open` once the run is accepted; a run refused before that leaves the
        directory as it was."""
        self.lock(claim=False)
        try:
            yield self
        except BaseException:
            self.unlock(refused=not self._claimed)
            raise
        self.unlock()

    # --- settings ---------------------------------------------------------------
    def existing_settings(self) -> dict[str, Any] | None:
        return read_settings(self.directory)

    def check(self, identity: dict[str, Any], resume: bool) -> bool:
        """Whether :meth:`open` would resume an earlier run; writes nothing.

        Raises
        ------
        RunSettingsMismatch
            The directory holds a run with another ``identity`` (and ``resume``),
            or results parts without settings.
        """
        old = self.existing_settings() if resume else None
        if resume and old is None and self.parts():
            parts = self.parts()
            shown = ", ".join(p.name for p in parts[:3]) + (", ..." if len(parts) > 3 else "")
            raise RunSettingsMismatch(
                f"{self.directory} holds {len(parts)} results part(s) ({shown}) but no "
                "settings.json saying which settings made them; use another --out, or "
                "--no-resume to discard them")
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
        return old is not None

    def open(self, settings: dict[str, Any], identity: dict[str, Any], resume: bool) -> bool:
        """Prepare the directory; returns whether an earlier run is resumed.

        ``identity`` holds the settings that decide the results: a directory
        with a different identity is refused (unless ``resume`` is False, which
        removes what an earlier run wrote, and only that, and starts over). The
        outputs of an earlier run (summary, ``failed.tsv``, ``elements.bed``) are
        removed either way: until this run writes its own, the directory has no
        summary, so nothing reads one that ``settings.json`` does not describe.
        """
        resumed = self.check(identity, resume)
        if not self._claimed:
            self._claim()
        if not resume:
            for part in self.parts():
                part.unlink()
        for name in OUTPUTS:
            (self.directory / name).unlink(missing_ok=True)
        for pattern in OUTPUT_GLOBS:
            for path in self.directory.glob(pattern):
                path.unlink()
        self.results.mkdir(parents=True, exist_ok=True)
        self._opened = True
        text = json.dumps({**settings, "identity": identity}, indent=2, sort_keys=True)
        atomic_write(self.settings_path, lambda p: p.write_text(text + "\n"))
        return resumed

    # --- results ----------------------------------------------------------------
    def parts(self) -> list[Path]:
        return sorted(self.results.glob("part-*.parquet"))

    def done(self) -> set[str]:
        """Names of loci whose results are on disk."""
        names: set[str] = set()
        for part in self.parts():
            names.update(read_part(part, ["name"])["name"])
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
            frame = read_part(part)
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
