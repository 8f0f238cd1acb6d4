"""The columns and types of a test's results and summary, without running the model.

A run whose selection matches no locus (or whose every locus failed) still writes
``summary.{parquet,csv}`` with the full schema, so the next step of a pipeline can
read it. The schema is taken from the test itself: its design runs on one random
locus with a constant model of the real model's output shape (no model pass), and
the rows are dropped. Whatever columns a test's result or summary gains, the empty
tables gain them too.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creme_fast.assays.registry import TESTS
from creme_fast.assays.spec import StepConfig
from creme_fast.runs.executor import LOCUS_COLUMNS, ChunkTask, run_chunk
from creme_fast.sequence.tiles import tile_layout

__all__ = ["ConstantPredictor", "empty_tables", "with_locus_columns"]


class ConstantPredictor:
    """A model of ``predictor``'s geometry that predicts ones (its metadata kept, so
    track names are labelled as the real model labels them)."""

    def __init__(self, predictor: Any, n_bins: int, n_tracks: int) -> None:
        self.seq_length = int(predictor.seq_length)
        self.input_kind = predictor.input_kind
        self.input_dtype = np.dtype(getattr(predictor, "input_dtype", np.float32))
        self.metadata = getattr(predictor, "metadata", None)
        self.shape = (int(n_bins), int(n_tracks))
        self.incremental = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.ones((batch.shape[0], *self.shape), dtype=np.float32)


def empty_tables(test: str, config: StepConfig, predictor: Any, n_bins: int,
                 n_tracks: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Zero result rows and zero summary rows of ``test``, with every column and type
    a real run has.

    Parameters
    ----------
    test : str
    config : StepConfig
    predictor : Predictor
        Only its geometry and metadata are read; the model is never called.
    n_bins, n_tracks : int
        The model's output shape.
    """
    length = int(predictor.seq_length)
    tokens = np.random.default_rng(0).integers(0, 4, (1, length)).astype(np.uint8)
    rows = pd.DataFrame({"name": ["schema"], "chrom": ["chrN"], "tss": [0], "strand": ["+"]})
    if TESTS[test].takes_cre:
        cre = tile_layout(length, config.tile_size).tiles[0]
        rows = rows.assign(cre_start=int(cre[0]), cre_end=int(cre[1]))
    task = ChunkTask(index=0, tokens=tokens, keys=np.zeros(1, np.int64), rows=rows)
    frame = run_chunk(ConstantPredictor(predictor, n_bins, n_tracks), test, task,
                      config).frame
    summary = with_locus_columns(TESTS[test].summary(frame), frame)
    return (frame.iloc[0:0].reset_index(drop=True), summary.iloc[0:0].reset_index(drop=True))


def with_locus_columns(summary: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """A summary with ``name, chrom, tss, strand`` first (taken from the result rows
    where the summary lacks them)."""
    if any(c not in summary.columns for c in LOCUS_COLUMNS[1:]):
        summary = summary.merge(rows[LOCUS_COLUMNS].drop_duplicates("name"), on="name")
    return summary[LOCUS_COLUMNS + [c for c in summary.columns if c not in LOCUS_COLUMNS]]
