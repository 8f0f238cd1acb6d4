"""What a resumed run may keep: finished loci, identified by their content.

A run is identified by its settings (test, model, genome, tiles, shuffles, seed, ...),
not by the TSS file: each finished locus carries the rows that decided its result
(``name, chrom, tss, strand`` and, for the CRE tests, its CRE). Rerun on a table
with genes added, removed or reordered, the finished loci are kept and the others
run; a locus whose position (or CRE) changed under the same name is refused,
naming it, since its old result no longer answers the new table.
"""
from __future__ import annotations

import logging

import pandas as pd

from creme_fast.io.runfiles import read_part
from creme_fast.io.store import RunSettingsMismatch, RunStore
from creme_fast.runs.executor import LOCUS_COLUMNS
from creme_fast.runs.steps import CRE_TESTS, cre_of

__all__ = ["CONTENT_COLUMNS", "done_loci", "locus_content"]

log = logging.getLogger(__name__)

CRE_COLUMNS = ["cre_start", "cre_end"]
CONTENT_COLUMNS = LOCUS_COLUMNS + CRE_COLUMNS


def locus_content(table: pd.DataFrame, test: str) -> pd.DataFrame:
    """The rows that decide each locus's result: ``name, chrom, tss, strand`` and, for
    the CRE tests, ``cre_start, cre_end`` (as the step reads them)."""
    content = table[LOCUS_COLUMNS].copy()
    if test in CRE_TESTS and len(table):
        cres = [cre_of(row) for _, row in table.iterrows()]
        content["cre_start"] = [c[0] for c in cres]
        content["cre_end"] = [c[1] for c in cres]
    return content.reset_index(drop=True)


def _stored_content(store: RunStore) -> pd.DataFrame:
    frames = []
    for part in store.parts():  # each part checked and named by the reader
        frames.append(read_part(part, CONTENT_COLUMNS).drop_duplicates("name"))
    if not frames:
        return pd.DataFrame(columns=LOCUS_COLUMNS)
    return pd.concat(frames, ignore_index=True).drop_duplicates("name", ignore_index=True)


def done_loci(store: RunStore, table: pd.DataFrame, test: str) -> set[str]:
    """Names of the loci of ``table`` already finished in ``store``.

    Raises
    ------
    RunSettingsMismatch
        A finished locus has the same name as a row of ``table`` but another
        position or CRE (the message names up to three and what changed).
    """
    stored = _stored_content(store)
    if not len(stored):
        return set()
    wanted = locus_content(table, test)
    both = wanted.merge(stored, on="name", how="inner", suffixes=("", "_done"))
    changed: list[str] = []
    for column in CONTENT_COLUMNS[1:]:
        if column not in wanted or f"{column}_done" not in both:
            continue
        now, done = both[column], both[f"{column}_done"]
        if pd.api.types.is_numeric_dtype(now) and pd.api.types.is_numeric_dtype(done):
            differs = ~((now == done) | (now.isna() & done.isna()))  # 40 == 40.0
        else:
            differs = now.astype(str) != done.astype(str)
        for _, row in both[differs].iterrows():
            changed.append(f"{row['name']}: {column} {row[f'{column}_done']} -> {row[column]}")
    if changed:
        raise RunSettingsMismatch(
            f"{store.directory} holds finished loci whose rows changed in the TSS table "
            f"({'; '.join(changed[:3])}{'; ...' if len(changed) > 3 else ''}); use another "
            "--out, or --no-resume to discard the run")
    done = set(both["name"])
    gone = len(set(stored["name"]) - set(wanted["name"]))
    log.info("resume: %d of %d loci of the table already done, %d to run%s", len(done),
             len(wanted), len(wanted) - len(done),
             f"; {gone} finished loci are not in this table (kept on disk, left out of the "
             "summary)" if gone else "")
    return done
