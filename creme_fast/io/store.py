"""A run directory: settings that identify the run, and results that survive crashes.

Layout::

    DIR/settings.json          everything needed to reproduce the run
    DIR/results/part-*.parquet one file per finished chunk of loci, each written to a
                               dot-file and renamed, so a reader (and a resumed run)
                               only ever sees whole loci
    DIR/failed.tsv             loci that could not be run, with the reason
    DIR/summary.{parquet,csv}  one row per locus (and track), written at the end
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from creme_fast.io.tables import atomic_write

__all__ = ["RunSettingsMismatch", "RunStore"]


class RunSettingsMismatch(ValueError):
    """DIR holds a run with different settings."""


class RunStore:
    """Results of one run in ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.results = self.directory / "results"
        self.settings_path = self.directory / "settings.json"

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
        clears it and starts over).
        """
        old = self.existing_settings()
        if old is not None and resume:
            before = old.get("identity", {})
            changed = sorted(k for k in set(before) | set(identity)
                             if before.get(k) != identity.get(k))
            if changed:
                detail = "; ".join(f"{k}: {before.get(k)!r} -> {identity.get(k)!r}"
                                   for k in changed[:5])
                raise RunSettingsMismatch(
                    f"{self.directory} holds a run with other settings ({detail}); use "
                    "another --out, or --no-resume to discard it")
        resumed = old is not None and resume
        if old is not None and not resume:
            shutil.rmtree(self.results, ignore_errors=True)
            for name in ("failed.tsv", "summary.parquet", "summary.csv"):
                (self.directory / name).unlink(missing_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)
        text = json.dumps({**settings, "identity": identity}, indent=2, sort_keys=True)
        atomic_write(self.settings_path, lambda p: p.write_text(text + "\n"))
        return resumed

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

    def read(self) -> pd.DataFrame:
        """Every finished locus's rows."""
        parts = self.parts()
        if not parts:
            return pd.DataFrame()
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
