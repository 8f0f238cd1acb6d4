"""``creme-fast merge``: shard runs of one test combined into one run directory.

Every input must be a finished ``creme-fast run`` directory (it has its
``summary.parquet``) with the same result-deciding settings (the ``identity`` of
its ``settings.json``: test, model, genome, tiles, shuffles, seed, bins, tracks...);
a difference is refused, naming the setting and the directories. The loci of each
input are those of its own table (its summary and ``failed.tsv``); a locus in
several inputs is taken once, and only if its rows agree. Result parts are copied
as they are (whatever their columns), and the summary is rebuilt from them with
the same code as a run's, so the merged directory reads like one run's and can be
the next step's ``--tss``.
"""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from creme_fast import __version__
from creme_fast.io.store import MARKER, RunStore
from creme_fast.io.tables import atomic_write
from creme_fast.runs.resume import CONTENT_COLUMNS
from creme_fast.runs.runner import write_outputs

__all__ = ["MergeOutcome", "merge_runs"]

log = logging.getLogger(__name__)


@dataclass
class MergeOutcome:
    """What a merge wrote."""

    test: str
    n_inputs: int
    loci: int
    failed: int
    duplicates: int
    summary: pd.DataFrame
    files: list[Path]


def _settings(directory: Path) -> dict[str, Any]:
    path = directory / "settings.json"
    if not directory.is_dir():
        raise FileNotFoundError(f"merge: {directory} is not a directory")
    if not (directory / MARKER).is_file() or not path.is_file():
        raise ValueError(f"merge: {directory} is not a creme-fast run directory (no "
                         f"{MARKER} or settings.json)")
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"merge: {path}: not valid JSON ({exc})") from None
    if "identity" not in settings:
        raise ValueError(f"merge: {path} has no identity (written by another version?)")
    if not (directory / "summary.parquet").is_file():
        raise ValueError(f"merge: {directory} has no summary.parquet: its run has not "
                         "finished (run it to the end first)")
    return settings


def _difference(first: dict[str, Any], other: dict[str, Any]) -> str:
    keys = sorted(k for k in set(first) | set(other) if first.get(k) != other.get(k))
    return "; ".join(f"{k}: {first.get(k)!r} vs {other.get(k)!r}" for k in keys[:5])


def _loci_of(directory: Path) -> tuple[list[str], pd.DataFrame]:
    """Names of the loci a run's table held (summary order) and its failed loci."""
    names = pd.read_parquet(directory / "summary.parquet", columns=["name"])["name"]
    failed_path = directory / "failed.tsv"
    failed = (pd.read_csv(failed_path, sep="\t", dtype=str, keep_default_na=False)
              if failed_path.is_file() and failed_path.stat().st_size
              else pd.DataFrame(columns=["name", "error"]))
    return list(dict.fromkeys(names)), failed


def _table_order(settings: list[dict[str, Any]], names: list[list[str]]) -> list[str]:
    """The loci in the order of the table they were dealt from: the shards 1..N of
    one ``--shard K/N`` split are interleaved back (shard k held rows k, k + N, ...);
    other inputs follow one another as given. Each locus once."""
    shards = [s.get("selection", {}).get("shard") if isinstance(s.get("selection"), dict)
              else None for s in settings]
    order: list[str] = []
    if all(shards) and len({s.split("/")[1] for s in shards}) == 1:
        by_k = sorted(zip((int(s.split("/")[0]) for s in shards), names))
        longest = max(len(n) for _, n in by_k)
        for i in range(longest):
            order += [n[i] for _, n in by_k if i < len(n)]
    else:
        order = [n for group in names for n in group]
    return list(dict.fromkeys(order))


def merge_runs(inputs: list[Path], out: Path) -> MergeOutcome:
    """Merge the run directories ``inputs`` into ``out``.

    Raises
    ------
    ValueError
        An input is not a finished run, the inputs' settings differ (naming the
        first setting that differs and the directories), a locus appears in two
        inputs with different rows, ``out`` is one of the inputs, or an input is
        in use by a run (:class:`~creme_fast.io.store.RunLocked`).
    """
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise ValueError("merge: give at least one run directory")
    resolved = [p.resolve() for p in inputs]
    if Path(out).resolve() in resolved:
        raise ValueError(f"merge: --out {out} is one of the inputs")
    if len(set(resolved)) < len(resolved):
        raise ValueError("merge: a directory is given twice")
    settings = [_settings(p) for p in inputs]
    identity = settings[0]["identity"]
    for path, other in zip(inputs[1:], settings[1:]):
        if other["identity"] != identity:
            raise ValueError(f"merge: {path} was run with other settings than {inputs[0]} "
                             f"({_difference(identity, other['identity'])}); only shards of "
                             "one run (same test and settings) can be merged")
    store = RunStore(out)
    earlier = store.existing_settings() if store.settings_path.is_file() else None
    if earlier is not None and "merged_from" not in earlier:
        raise ValueError(f"merge: --out {out} holds a creme-fast run, not a merge; choose "
                         "another --out (a merge replaces only an earlier merge)")
    merged = {**{k: v for k, v in settings[0].items() if k not in ("identity", "selection")},
              "creme_fast": __version__, "merged_from": [str(p) for p in resolved],
              "selection": [s.get("selection", {}) for s in settings]}
    with contextlib.ExitStack() as held:
        for path in inputs:  # a shard still (or again) running is refused, naming its run
            held.enter_context(RunStore(path))
        return _merge(inputs, settings, identity, merged, store)


def _merge(inputs: list[Path], settings: list[dict[str, Any]], identity: dict[str, Any],
           merged: dict[str, Any], store: RunStore) -> MergeOutcome:
    test = identity["test"]
    failed_frames = []
    taken: dict[str, dict[str, Any]] = {}
    duplicates = 0
    loci = [_loci_of(path) for path in inputs]
    order = _table_order(settings, [names for names, _ in loci])
    with store:
        store.open(merged, identity, resume=False)
        part_index = 0
        for path, (names, failed) in zip(inputs, loci):
            wanted = set(names)
            failed_frames.append(failed)
            for part in RunStore(path).parts():
                frame = pd.read_parquet(part)
                frame = frame[frame["name"].isin(wanted)]
                if not len(frame):
                    continue
                content_cols = [c for c in CONTENT_COLUMNS if c in frame]
                content = frame[content_cols].drop_duplicates("name")
                new = []
                for row in content.to_dict("records"):
                    name = row["name"]
                    if name in taken:
                        if taken[name] != row:
                            raise ValueError(f"merge: locus {name!r} is in two inputs with "
                                             f"different rows ({taken[name]} vs {row})")
                        duplicates += 1
                    else:
                        taken[name] = row
                        new.append(name)
                keep = frame[frame["name"].isin(new)]
                if len(keep):
                    store.write_part(keep.reset_index(drop=True), part_index)
                    part_index += 1
                wanted -= set(content["name"])
        failed = pd.concat(failed_frames, ignore_index=True)
        failed = failed[~failed["name"].isin(taken)].drop_duplicates("name", ignore_index=True)
        order = [n for n in order if n in taken] + [n for n in failed["name"]
                                                     if n not in taken]
        table = pd.DataFrame({"name": order})
        summary, files = write_outputs(
            test, store, table, failed,
            lambda: pd.read_parquet(inputs[0] / "summary.parquet").iloc[0:0])
        settings_text = json.dumps({**merged, "n_loci": len(order), "identity": identity},
                                   indent=2, sort_keys=True)
        atomic_write(store.settings_path, lambda p: p.write_text(settings_text + "\n"))
    if duplicates:
        log.info("merge: %d loci were in more than one input (taken once)", duplicates)
    return MergeOutcome(test=test, n_inputs=len(inputs), loci=len(taken),
                        failed=len(failed), duplicates=duplicates, summary=summary,
                        files=files)
