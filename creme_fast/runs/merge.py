"""``creme-fast merge``: shard runs of one test combined into one run directory.

Every input must be a finished ``creme-fast run`` directory (it has its
``summary.parquet``) with the same result-deciding settings (the ``identity`` of
its ``settings.json``: test, model, genome, tiles, shuffles, seed, bins, tracks...);
a difference is refused, naming the setting and the directories. Shards of one
``--shard K/N`` split must all be given (each records its ``K/N``): a missing one
is refused, naming it, unless ``allow_partial`` (``--allow-partial``), which merges
those given and records what is missing. The loci of each input are those of its
own table (its summary and ``failed.tsv``, which must agree with the number of
loci its ``settings.json`` records: a summary left by an earlier run of the
directory is refused); a locus in several inputs is taken once, and only if its
rows agree. Everything is read and checked before ``out`` is written. Result parts
are copied as they are (whatever their columns), and the summary is rebuilt from
them with the same code as a run's, so the merged directory reads like one run's
and can be the next step's ``--tss``.
"""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from creme_fast import __version__
from creme_fast.io.runfiles import read_failed, read_part, read_settings, read_summary
from creme_fast.io.store import MARKER, RunStore, check_run_directory
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
    missing_shards: list[str] = field(default_factory=list)


def _settings(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise FileNotFoundError(f"merge: {directory} is not a directory")
    settings = read_settings(directory)
    if not (directory / MARKER).is_file() or settings is None:
        raise ValueError(f"merge: {directory} is not a creme-fast run directory (no "
                         f"{MARKER} or settings.json)")
    if "identity" not in settings:
        raise ValueError(f"merge: {directory / 'settings.json'} has no identity (written by "
                         "another version?)")
    if not (directory / "summary.parquet").is_file():
        raise ValueError(f"merge: {directory} has no summary.parquet: its run has not "
                         "finished (run it to the end first)")
    return settings


def _shard_of(settings: dict[str, Any]) -> tuple[int, int] | None:
    selection = settings.get("selection")
    shard = selection.get("shard") if isinstance(selection, dict) else None
    if shard is None:
        return None
    k, n = (int(v) for v in str(shard).split("/"))
    return k, n


def _check_shards(inputs: list[Path], settings: list[dict[str, Any]],
                  allow_partial: bool) -> list[str]:
    """Shards of one split, each once, all present (unless ``allow_partial``); returns
    the missing ones as ``K/N``."""
    shards = [_shard_of(s) for s in settings]
    if not any(shards):
        return []
    if not all(shards):
        first = next(i for i, shard in enumerate(shards) if shard)
        k, n = shards[first]  # type: ignore[misc]
        raise ValueError(f"merge: {inputs[first]} is shard {k}/{n} of a split but "
                         f"{inputs[shards.index(None)]} is not a shard: merge the shards of "
                         "one split")
    counts = {n for _, n in shards}
    if len(counts) > 1:
        raise ValueError("merge: the inputs are shards of different splits ("
                         + ", ".join(f"{k}/{n} ({p})" for (k, n), p in zip(shards, inputs))
                         + ")")
    selections = [{k: v for k, v in s.get("selection", {}).items() if k != "shard"}
                  for s in settings]
    for path, selection in zip(inputs[1:], selections[1:]):
        if selection != selections[0]:
            raise ValueError(f"merge: {path} was selected with {selection or 'no selection'}"
                             f", {inputs[0]} with {selections[0] or 'no selection'}: shards of "
                             "one split share --query/--top/--by")
    given: dict[int, Path] = {}
    for (k, n), path in zip(shards, inputs):
        if k in given:
            raise ValueError(f"merge: shard {k}/{n} is given twice ({given[k]}, {path})")
        given[k] = path
    n = counts.pop()
    missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in given]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        what = (f"shard {shown} is missing" if len(missing) == 1
                else f"shards {shown} are missing")
        if not allow_partial:
            raise ValueError(f"merge: {what} (given: "
                             f"{', '.join(f'{k}/{n}' for k in sorted(given))}); give every "
                             "shard's run directory, or --allow-partial to merge those given")
        log.warning("merge: %s; merging the %d given (--allow-partial)", what, len(given))
    return missing


def _difference(first: dict[str, Any], other: dict[str, Any]) -> str:
    keys = sorted(k for k in set(first) | set(other) if first.get(k) != other.get(k))
    return "; ".join(f"{k}: {first.get(k)!r} vs {other.get(k)!r}" for k in keys[:5])


def _loci_of(directory: Path, settings: dict[str, Any]) -> tuple[list[str], pd.DataFrame]:
    """Names of the loci a run's table held (summary order) and its failed loci, which
    together must be the ``n_loci`` its settings record."""
    names = list(dict.fromkeys(read_summary(directory / "summary.parquet", ["name"])["name"]))
    failed = read_failed(directory / "failed.tsv")
    expected = settings.get("n_loci")
    found = len(set(names) | set(failed["name"]))
    if isinstance(expected, int) and found != expected:
        raise ValueError(f"merge: {directory / 'summary.parquet'} holds {len(names)} loci and "
                         f"failed.tsv {len(failed)}, but its settings.json says the run had "
                         f"{expected} loci: the summary is not that run's (a rerun stopped "
                         "before its end?); run it to the end first")
    return names, failed


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


def merge_runs(inputs: list[Path], out: Path, allow_partial: bool = False) -> MergeOutcome:
    """Merge the run directories ``inputs`` into ``out``.

    Parameters
    ----------
    inputs : list of Path
        Finished run directories of one test with the same settings.
    out : Path
        The merged run directory (replaced if it holds an earlier merge).
    allow_partial : bool, default=False
        Merge the shards given although others of their split are missing (the
        merged ``settings.json`` lists them in ``missing_shards``).

    Raises
    ------
    ValueError
        An input is not a finished run or holds a file that cannot be read (named),
        the inputs' settings differ (naming the first setting that differs and the
        directories), a shard of the split is missing, a locus appears in two
        inputs with different rows, ``out`` is one of the inputs, or an input is in
        use by a run (:class:`~creme_fast.io.store.RunLocked`). Nothing is written
        to ``out`` then.
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
    check_run_directory(out)
    store = RunStore(out)
    earlier = store.existing_settings()
    if earlier is not None and "merged_from" not in earlier:
        raise ValueError(f"merge: --out {out} holds a creme-fast run, not a merge; choose "
                         "another --out (a merge replaces only an earlier merge)")
    merged = {**{k: v for k, v in settings[0].items() if k not in ("identity", "selection")},
              "creme_fast": __version__, "merged_from": [str(p) for p in resolved],
              "selection": [s.get("selection", {}) for s in settings]}
    with contextlib.ExitStack() as held:
        for path in inputs:  # a shard still (or again) running is refused, naming its run
            held.enter_context(RunStore(path))
        missing = _check_shards(inputs, settings, allow_partial)
        if missing:
            merged["missing_shards"] = missing
        plan = _plan(inputs, settings)  # every file read and checked before out is touched
        outcome = _write(inputs, plan, identity, merged, store)
    outcome.missing_shards = missing
    return outcome


@dataclass
class _Plan:
    """What a merge takes from its inputs."""

    parts: list[tuple[Path, set[str]]]  # each part and the loci taken from it
    order: list[str]
    taken: set[str]
    failed: pd.DataFrame
    duplicates: int


def _plan(inputs: list[Path], settings: list[dict[str, Any]]) -> _Plan:
    """Read every input's summary, failed.tsv and parts (their locus columns): the
    loci to take and from which part; conflicts and unreadable files raise here."""
    loci = [_loci_of(path, s) for path, s in zip(inputs, settings)]
    order = _table_order(settings, [names for names, _ in loci])
    taken: dict[str, dict[str, Any]] = {}
    parts: list[tuple[Path, set[str]]] = []
    duplicates = 0
    for path, (names, _) in zip(inputs, loci):
        wanted = set(names)
        for part in RunStore(path).parts():
            content = read_part(part, CONTENT_COLUMNS)
            content = content[content["name"].isin(wanted)].drop_duplicates("name")
            new = set()
            for row in content.to_dict("records"):
                name = row["name"]
                if name in taken:
                    if taken[name] != row:
                        raise ValueError(f"merge: locus {name!r} is in two inputs with "
                                         f"different rows ({taken[name]} vs {row})")
                    duplicates += 1
                else:
                    taken[name] = row
                    new.add(name)
            if new:
                parts.append((part, new))
            wanted -= set(content["name"])
        if wanted:
            shown = ", ".join(sorted(wanted)[:3])
            raise ValueError(f"merge: {path / 'summary.parquet'} names loci that its results/ "
                             f"does not hold ({shown}{', ...' if len(wanted) > 3 else ''}); "
                             "rerun that directory to the end")
    failed = pd.concat([f for _, f in loci], ignore_index=True)
    failed = failed[~failed["name"].isin(taken)].drop_duplicates("name", ignore_index=True)
    order = [n for n in order if n in taken] + [n for n in failed["name"] if n not in taken]
    return _Plan(parts=parts, order=order, taken=set(taken), failed=failed,
                 duplicates=duplicates)


def _write(inputs: list[Path], plan: _Plan, identity: dict[str, Any], merged: dict[str, Any],
           store: RunStore) -> MergeOutcome:
    test = identity["test"]
    with store:
        store.open(merged, identity, resume=False)
        for index, (part, names) in enumerate(plan.parts):
            frame = read_part(part)
            store.write_part(frame[frame["name"].isin(names)].reset_index(drop=True), index)
        table = pd.DataFrame({"name": plan.order})
        summary, files = write_outputs(
            test, store, table, plan.failed,
            lambda: read_summary(inputs[0] / "summary.parquet").iloc[0:0])
        settings_text = json.dumps({**merged, "n_loci": len(plan.order),
                                    "identity": identity}, indent=2, sort_keys=True)
        atomic_write(store.settings_path, lambda p: p.write_text(settings_text + "\n"))
    if plan.duplicates:
        log.info("merge: %d loci were in more than one input (taken once)", plan.duplicates)
    return MergeOutcome(test=test, n_inputs=len(inputs), loci=len(plan.taken),
                        failed=len(plan.failed), duplicates=plan.duplicates, summary=summary,
                        files=files)
