"""Run one CREME test over every TSS of a table, resumably."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creme_fast import __version__
from creme_fast.io.genome import Genome, GenomeError
from creme_fast.io.store import RunStore
from creme_fast.io.tables import atomic_write, write_table
from creme_fast.pipeline.plan import name_key
from creme_fast.progress import DEFAULT_INTERVAL
from creme_fast.runs.executor import ChunkTask, Executor, LocalExecutor
from creme_fast.runs.progress import RunProgress, expected_mutants
from creme_fast.runs.resume import done_loci
from creme_fast.runs.schema import empty_tables, output_shape, with_locus_columns
from creme_fast.runs.steps import MULTI_LOCUS, STEPS, SUMMARIES, StepConfig
from creme_fast.plots.summary import summary_figure
from creme_fast.runtime.checksum import file_sha256
from creme_fast.schema.bed import (
    BED_COLUMNS,
    BEDGRAPH_GLOB,
    bedgraph_name,
    elements_bed,
    igv_session,
    tile_effect_bedgraphs,
    write_bed,
    write_bedgraph,
)

__all__ = ["RunOutcome", "RunRequest", "locus_key", "output_names", "run_over_genome"]

log = logging.getLogger(__name__)


locus_key = name_key  # a locus's shuffles depend on its name, not on its chunk or run


@dataclass
class RunRequest:
    """Everything a run needs besides the model, table and genome objects."""

    test: str
    out: Path
    config: StepConfig
    model: str
    model_id: str
    fasta: Path
    tss: Path
    selection: dict[str, Any] = field(default_factory=dict)
    resume: bool = True
    chunk_loci: int = 8
    progress: bool = True
    progress_interval: float = DEFAULT_INTERVAL
    progress_bar: bool = True


@dataclass
class RunOutcome:
    """What a run did."""

    resumed: bool
    skipped: int
    ran: int
    failed: pd.DataFrame
    summary: pd.DataFrame
    files: list[Path]


# settings that do not change the results (a resume may change them)
RESULT_NEUTRAL = {"batch_size", "max_batch_bytes", "incremental"}


def run_identity(test: str, config: StepConfig, model_id: str, fasta_id: str,
                 length: int) -> dict[str, Any]:
    """The settings that decide the results (a resumed run, and every shard merged
    into one run, must match them): the model file and the FASTA by their content,
    the test and the config. The TSS table is not part of it: each finished locus
    is checked by its own rows (:func:`creme_fast.runs.resume.done_loci`)."""
    return {"test": test, "model": model_id, "seq_length": length, "fasta": fasta_id,
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()
               if k not in RESULT_NEUTRAL}}


def _identity(req: RunRequest, length: int) -> dict[str, Any]:
    return run_identity(req.test, req.config, req.model_id, file_sha256(req.fasta), length)


def _windows(genome: Genome, rows: pd.DataFrame, length: int) -> tuple[np.ndarray, list[int],
                                                                       list[tuple[str, str]]]:
    """Tokens of the loci that can be read; the others with their reason."""
    tokens, ok, failed = [], [], []
    for i, row in enumerate(rows.itertuples(index=False)):
        try:
            tokens.append(genome.window(row.chrom, int(row.tss), row.strand, length))
            ok.append(i)
        except GenomeError as exc:
            log.error("%s: %s", row.name, exc)
            failed.append((row.name, str(exc)))
    arr = np.stack(tokens) if tokens else np.zeros((0, length), dtype=np.uint8)
    return arr, ok, failed


def _paths(req: RunRequest) -> dict[str, str]:
    """The model, FASTA and TSS table as given and as resolved absolute paths
    (``synthetic``, the built-in model, has no path of its own)."""
    out = {}
    for key, given in (("model", req.model), ("fasta", req.fasta), ("tss", req.tss)):
        out[key] = str(given)
        path = Path(given)
        out[f"{key}_path"] = str(path.resolve()) if path.exists() else None
    return out


def run_over_genome(req: RunRequest, predictor: Any, genome: Genome,
                    table: pd.DataFrame, executor: Executor | None = None) -> RunOutcome:
    """Run ``req.test`` on every locus of ``table`` not already finished in ``req.out``.

    Loci go through the engine in chunks of ``req.chunk_loci`` (one batch stream
    spans a chunk's loci); each finished chunk is appended atomically as one
    parquet part, so a run killed at any moment loses at most the chunk in
    flight, and never leaves a partial locus on disk. The directory is locked
    for the run (a second run on it raises :class:`~creme_fast.io.store.RunLocked`);
    a locus whose predictions are not finite, or whose window cannot be read,
    is listed in ``failed.tsv`` and the run goes on.

    ``executor`` computes the chunks (default: :class:`LocalExecutor` on
    ``predictor``); this process reads the genome and writes every file.
    """
    if req.test not in STEPS:
        raise ValueError(f"unknown test {req.test!r}; choose from {', '.join(STEPS)}")
    length = int(predictor.seq_length)
    store = RunStore(req.out)
    settings = {"creme_fast": __version__, "test": req.test, **_paths(req),
                "config": asdict(req.config), "selection": req.selection,
                "chunk_loci": req.chunk_loci, "n_loci": len(table)}
    identity = _identity(req, length)
    with store.session():  # exclusive: a second run on DIR is refused, naming this one
        # every check before the first write: a refused resume leaves DIR as it was
        done = done_loci(store, table, req.test) if store.check(identity, req.resume) \
            else set()
        resumed = store.open(settings, identity, req.resume)
        pending = table[~table["name"].isin(done)].reset_index(drop=True)
        progress = RunProgress(len(pending), expected_mutants(req.test, req.config, length),
                               req.test, req.progress, req.progress_interval,
                               req.progress_bar)
        with progress:
            failed = _run_pending(req, store, genome, pending, length, progress,
                                  executor if executor is not None
                                  else LocalExecutor(predictor, progress.batch))
        failed_frame = pd.DataFrame(failed, columns=["name", "error"])
        summary, files = write_outputs(req.test, store, table, failed_frame,
                                       lambda: empty_tables(req.test, req.config, predictor,
                                                            *output_shape(predictor))[1])
    return RunOutcome(resumed=resumed, skipped=len(table) - len(pending), ran=len(pending),
                      failed=failed_frame, summary=summary, files=files)


def write_outputs(test: str, store: RunStore, table: pd.DataFrame, failed: pd.DataFrame,
                  empty: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, list[Path]]:
    """Write ``failed.tsv`` (a header alone when nothing failed),
    ``summary.{parquet,csv,png,pdf}`` of the finished loci of ``table`` and, for the
    tests that call elements, ``elements.bed``. With no finished locus the summary is
    ``empty()``: zero rows with the full schema (no figure). Returns the summary and
    the files written."""
    files = [atomic_write(store.directory / "failed.tsv",
                          lambda p: failed.to_csv(p, sep="\t", index=False))]
    summary = _summarise(test, store, table)
    if not len(summary):
        summary = empty()
    files += write_table(summary, store.directory, "summary")
    if len(summary):
        files += summary_figure(test, summary, store.directory / "summary")
    else:
        for suffix in (".png", ".pdf"):
            (store.directory / "summary").with_suffix(suffix).unlink(missing_ok=True)
    if test in ELEMENT_TESTS:
        files += _write_tracks(test, store, table)
    return summary, files


def _run_pending(req: RunRequest, store: RunStore, genome: Genome, pending: pd.DataFrame,
                 length: int, progress: RunProgress,
                 executor: Executor) -> list[tuple[str, str]]:
    """Run the pending loci chunk by chunk; returns the failed ones with their reason."""
    chunk = req.chunk_loci if req.test in MULTI_LOCUS else 1
    failed: list[tuple[str, str]] = []
    part_index = len(store.parts())

    def tasks() -> Any:
        for index, start in enumerate(range(0, len(pending), chunk)):
            rows = pending.iloc[start:start + chunk]
            tokens, ok, bad = _windows(genome, rows, length)
            failed.extend(bad)
            progress.skipped(len(bad))
            if ok:
                good = rows.iloc[ok].reset_index(drop=True)
                good["chrom_size"] = [genome.lengths[c] for c in good["chrom"]]
                progress.started(list(good["name"]))
                keys = np.array([locus_key(n) for n in good["name"]], dtype=np.int64)
                yield ChunkTask(index=index, tokens=tokens, keys=keys, rows=good)

    for result in executor.run(req.test, req.config, tasks()):
        failed.extend(result.failed)
        if len(result.frame):
            store.write_part(result.frame, part_index)
            part_index += 1
        progress.loci_done(len(result.task.rows), result.mutants)
    return failed


def _summarise(test: str, store: RunStore, table: pd.DataFrame) -> pd.DataFrame:
    """The summary of every finished locus of ``table``, each counted once, built
    part by part (a locus's rows are all in one part), so a run's results are never
    all in memory at once."""
    wanted = set(table["name"])
    pieces = []
    for rows in store.loci():
        rows = rows[rows["name"].isin(wanted)]
        if not len(rows):
            continue
        pieces.append(with_locus_columns(SUMMARIES[test](rows), rows))
    if not pieces:
        return pd.DataFrame()
    order = {n: i for i, n in enumerate(table["name"])}
    return pd.concat(pieces, ignore_index=True).sort_values(
        "name", key=lambda s: s.map(order), kind="stable", ignore_index=True)


# tests whose tiles are called enhancing/silencing at the paper's thresholds
ELEMENT_TESTS = {"necessity", "sufficiency"}


def output_names(test: str) -> list[str]:
    """The files every finished run (or merge) of ``test`` writes in its directory,
    whatever its loci (a workflow declares them); ``summary.png``/``.pdf`` are drawn
    only when the summary has rows, and ``tile_effects.track<N>.bedGraph`` (one per
    track) only when it has tiles."""
    return ["summary.parquet", "summary.csv", "failed.tsv",
            *(["elements.bed", "igv_session.xml"] if test in ELEMENT_TESTS else [])]


def _write_tracks(test: str, store: RunStore, table: pd.DataFrame) -> list[Path]:
    """``DIR/elements.bed`` (BED9: the enhancing and silencing tiles of every finished
    locus, one row per gene, tile and track), ``DIR/tile_effects.track<N>.bedGraph``
    (every tile's effect, per track) and ``DIR/igv_session.xml`` (both on the run's
    FASTA); see :mod:`creme_fast.schema.bed`. The rows are read one results part at
    a time; only the tracks' tables are held together."""
    wanted = set(table["name"])
    beds, graphs = [], []
    for rows in store.loci():
        rows = rows[rows["name"].isin(wanted)]
        beds.append(elements_bed(rows))
        graphs.append(rows[[c for c in ("name", "chrom", "start", "end", "strand", "track",
                                        "track_name", "effect") if c in rows]])
    bed = (pd.concat(beds, ignore_index=True) if beds else pd.DataFrame(columns=BED_COLUMNS))
    bed = bed.sort_values(["chrom", "start", "end", "name"], kind="stable", ignore_index=True)
    directory = store.directory
    files = [atomic_write(directory / "elements.bed", lambda p: write_bed(bed, p))]
    for old in directory.glob(BEDGRAPH_GLOB):
        old.unlink()  # tracks of an earlier write (a resume rewrites every track)
    effects = pd.concat(graphs, ignore_index=True) if graphs else None
    tracks = {"elements.bed": f"{test} elements (|effect| > 0.3)"}
    if effects is not None and len(effects):
        names = (effects.drop_duplicates("track").set_index("track")["track_name"]
                 if "track_name" in effects else {})
        for track, graph in tile_effect_bedgraphs(effects).items():
            label = f"{test} effect, track {track}" + (f" {names[track]}" if track in names
                                                         and isinstance(names[track], str)
                                                         else "")
            files.append(atomic_write(directory / bedgraph_name(track),
                                      lambda p, g=graph, n=label: write_bedgraph(g, p, n)))
            tracks[bedgraph_name(track)] = label
    settings = store.existing_settings() or {}
    locus = None
    if len(bed):
        first = bed.iloc[0]
        locus = f"{first['chrom']}:{int(first['start']) + 1}-{int(first['end'])}"
    text = igv_session(settings.get("fasta_path") or settings.get("fasta"), tracks, locus)
    files.append(atomic_write(directory / "igv_session.xml", lambda p: p.write_text(text)))
    return files
