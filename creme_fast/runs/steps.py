"""The CREME tests as run steps: tokens of a chunk of loci in, one table out.

A step returns its test's table in the result schema (``name, chrom, tss,
strand`` first, the model's original track indices, genome coordinates: see
:mod:`creme_fast.schema.frames`); shuffles are keyed by each locus's stable key,
so a locus gets the same result whichever chunk it lands in (which is what makes
kill-and-resume exact).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creme_fast import assays
from creme_fast.assays._common import activity, describe, predict_plan
from creme_fast.pipeline import PlanBuilder
from creme_fast.schema.coords import check_loci
from creme_fast.schema.frames import genome_columns, standard_frame

__all__ = ["CRE_TESTS", "MULTI_LOCUS", "STEPS", "SUMMARIES", "StepConfig", "cre_of"]


@dataclass(frozen=True)
class StepConfig:
    """Settings of a step (see ``creme-fast run --help``).

    ``tracks`` and ``track`` are the model's original track indices (an export
    pruned to tracks 4824, 5110 and 5111 is asked for those); ``track`` None
    follows the first track.
    """

    tile_size: int = 5000
    num_shuffles: int = 10
    seed: int = 0
    batch_size: int = 8
    bins: tuple[int, ...] | str | None = None  # None: the model's TSS bins; "all": every bin
    tracks: tuple[int, ...] | None = None
    track: int | None = None
    rounds: int = 2
    optimization: str = "min"
    max_batch_bytes: int | None = None  # None: the machine's available memory
    incremental: bool | str = "auto"

    def engine(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "verbose": False,
                "max_batch_bytes": self.max_batch_bytes, "incremental": self.incremental,
                "bins": self.bins if self.bins is None or isinstance(self.bins, str)
                else list(self.bins),
                "tracks": None if self.tracks is None else list(self.tracks)}

    def shuffles(self) -> dict[str, Any]:
        return {"tile_size": self.tile_size, "num_shuffles": self.num_shuffles,
                "seed": self.seed}


def _activity(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
              cfg: StepConfig) -> pd.DataFrame:
    builder = PlanBuilder(cfg.seed)
    builder.rows_of(tokens)
    engine = cfg.engine()
    act = activity(predict_plan(builder.build(), predictor, engine, "activity"))
    locus, track = np.meshgrid(np.arange(act.shape[0]), np.arange(act.shape[1]), indexing="ij")
    frame = pd.DataFrame({"locus": locus.ravel(), "track": track.ravel(),
                          "activity": act.ravel()})
    settings = describe(predictor, engine, act.shape[1], len(tokens), tokens.shape[1])
    return standard_frame(frame, settings, check_loci(rows, len(tokens)), {})


def _across_loci(assay: Callable[..., Any]) -> Step:
    """A step running a multi-locus assay on the whole chunk in one engine run."""
    def step(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
             cfg: StepConfig) -> pd.DataFrame:
        return assay(predictor, tokens, locus_keys_=keys, loci=rows, **cfg.shuffles(),
                     **cfg.engine()).to_frame()
    return step


def _each_locus(run: Callable[[np.ndarray, int, pd.DataFrame], pd.DataFrame],
                tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame) -> pd.DataFrame:
    """``run(tokens, key, row)`` on each locus of the chunk (``row``: a one-row table)."""
    return pd.concat([run(tokens[i], int(keys[i]), rows.iloc[i:i + 1])
                      for i in range(tokens.shape[0])], ignore_index=True)


def _higher_order(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                  cfg: StepConfig) -> pd.DataFrame:
    def run(seq: np.ndarray, key: int, row: pd.DataFrame) -> pd.DataFrame:
        return assays.higher_order(predictor, seq, num_rounds=cfg.rounds,
                                   optimization=cfg.optimization, track=cfg.track,
                                   locus_key=key, loci=row, **cfg.shuffles(),
                                   **cfg.engine()).to_frame()
    return _each_locus(run, tokens, keys, rows)


# the tests that take a CRE per locus
CRE_TESTS = frozenset({"distance", "multiplicity", "fine-tile"})


def cre_of(row: Any) -> tuple[int, int]:
    """A locus's CRE (window coordinates): ``cre_start``/``cre_end`` columns, else the
    ``top_tile_start``/``top_tile_end`` of a necessity or sufficiency summary."""
    for start, end in (("cre_start", "cre_end"), ("top_tile_start", "top_tile_end")):
        if start in row.index and end in row.index:
            if pd.isna(row[start]) or pd.isna(row[end]):
                raise ValueError(f"locus {row['name']!r} has no CRE ({start}/{end} are empty, "
                                 "e.g. its effects could not be normalised); leave it out, "
                                 "e.g. with --query \"note == ''\"")
            values = []
            for column in (start, end):
                value = row[column]
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                        math.isfinite(value) and value == int(value)):
                    raise ValueError(f"{column} {value!r} is not a whole number (window "
                                     "coordinates are whole bp)")
                values.append(int(value))
            return values[0], values[1]
    raise ValueError("this test needs a CRE per locus: give cre_start and cre_end columns "
                     "(window coordinates), or a necessity/sufficiency run's summary.parquet "
                     "narrowed to one track (its top_tile_start/top_tile_end are used)")


_cre_of = cre_of  # the name the CLI's checks import


def _per_cre(test: Callable[..., Any], predictor: Any, tokens: np.ndarray, keys: np.ndarray,
             rows: pd.DataFrame, cfg: StepConfig, **extra: Any) -> pd.DataFrame:
    """Run a one-locus CRE test on each locus of the chunk."""
    def run(seq: np.ndarray, key: int, row: pd.DataFrame) -> pd.DataFrame:
        return test(predictor, seq, cre_of(row.iloc[0]), locus_key=key, loci=row, **extra,
                    **cfg.shuffles(), **cfg.engine()).to_frame()
    return _each_locus(run, tokens, keys, rows)


def _distance(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
              cfg: StepConfig) -> pd.DataFrame:
    return _per_cre(assays.distance, predictor, tokens, keys, rows, cfg)


def _multiplicity(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                  cfg: StepConfig) -> pd.DataFrame:
    opt = "max" if cfg.optimization == "min" else "min"  # enhancer CREs: add where it helps
    return _per_cre(assays.multiplicity, predictor, tokens, keys, rows, cfg,
                    track=cfg.track, optimization=opt)


def _fine_tile(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
               cfg: StepConfig) -> pd.DataFrame:
    kind = "enhancer" if cfg.optimization == "min" else "silencer"
    return _per_cre(assays.fine_tile_search, predictor, tokens, keys, rows, cfg,
                    track=cfg.track, cre_type=kind)


CRE_COLUMNS = ["cre_start", "cre_end", *genome_columns("cre", primary=False)]


def _present(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c in frame]


def _genome_intervals(frame: pd.DataFrame) -> pd.Series:
    """``chrom:start-end`` of each row's own region (``NA`` off the chromosome)."""
    if "start" not in frame or "chrom" not in frame:
        return pd.Series("", index=frame.index)
    start = frame["start"].astype("string").fillna("NA")
    end = frame["end"].astype("string").fillna("NA")
    return frame["chrom"].astype(str) + ":" + start + "-" + end


NOTHING_KEPT = ("every sub-tile was removed: no part of the CRE carries an effect on this "
                "track (kept_bp 0)")


def _fine_tile_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus: bp of the CRE kept and the kept sub-tiles, in window and genome
    coordinates (NaN, with a note, where the CRE has no effect to prune against; 0,
    with a note, where every sub-tile was removed)."""
    note = frame["note"] if "note" in frame else pd.Series("", index=frame.index)
    keys = _track_keys(frame) + _present(frame, CRE_COLUMNS)
    base = frame.assign(note=note).drop_duplicates("name")[keys + ["note"]]
    kept = frame[frame["kept"]]
    kept = kept.assign(kept_bp=kept["tile_end"] - kept["tile_start"],
                       kept_tiles=kept["tile_start"].astype(str) + "-"
                       + kept["tile_end"].astype(str),
                       kept_genome=_genome_intervals(kept))
    agg = (kept.groupby("name", sort=False)
           .agg(kept_bp=("kept_bp", "sum"), kept_tiles=("kept_tiles", ";".join),
                kept_genome=("kept_genome", ";".join)).reset_index())
    out = base.merge(agg, on="name", how="left")
    noted = out["note"] != ""
    nothing = out["kept_bp"].isna() & ~noted
    out["kept_bp"] = out["kept_bp"].astype("float64").fillna(0.0).where(~noted)
    for col in ("kept_tiles", "kept_genome"):
        out[col] = out[col].fillna("")
        out.loc[noted, col] = ""
    out.loc[nothing, "note"] = NOTHING_KEPT
    explained = _present(frame, FINE_TILE_EXPLAINED)  # absent in runs made before them
    out = out.merge(frame.drop_duplicates("name")[["name"] + explained], on="name", how="left")
    return out[keys + ["kept_bp", "kept_tiles", "kept_genome"] + explained + ["note"]]


# what the kept sub-tiles explain (constant per locus in the results)
FINE_TILE_EXPLAINED = ["tss_only_activity", "cre_activity", "kept_activity", "cre_effect",
                       "effect_retained"]


def _at_best(frame: pd.DataFrame, picks: dict[str, str],
             spans: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Per locus, track and CRE: the row of the highest ``activity`` (its columns
    ``picks``, renamed) and, per ``spans`` entry ``out: (column, how)``, an aggregate
    over the locus's rows."""
    keys = _track_keys(frame) + _present(frame, CRE_COLUMNS)
    groups = frame.groupby(keys, sort=False, dropna=False)
    extra = {out: groups[col].transform(how) for out, (col, how) in spans.items()}
    frame = frame.assign(**extra)
    best = frame["activity"] == groups["activity"].transform("max")
    rows = frame[best.to_numpy()].drop_duplicates(keys)
    return rows[keys + ["activity", *picks, *spans]].rename(columns=picks).reset_index(drop=True)


def _distance_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus, track and CRE: the highest activity over positions, the distance
    that gives it and the lowest fold change (how much distance costs)."""
    return _at_best(frame, {"distance_bp": "best_distance_bp"},
                    {"min_fold_change": ("fold_change", "min")})


def _multiplicity_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus: the highest activity over copy numbers (saturation), the copies
    that give it, its fold over the TSS tile alone, and one copy's fold."""
    one = frame["fold_over_tss_only"].where(frame["copies"] == 1)
    return _at_best(frame.assign(_one=one),
                    {"copies": "best_copies", "fold_over_tss_only": "saturation_fold"},
                    {"one_copy_fold": ("_one", "max")})


NOT_NORMALISED = "wild-type activity is 0: effects cannot be normalised (NaN)"


def _track_keys(frame: pd.DataFrame) -> list[str]:
    return ["name"] + _present(frame, ["track", "track_name"])


def _context_summary(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(note=np.where(frame["effect"].isna(), NOT_NORMALISED, ""))


# a tile's window and genome columns, as named in a results table
TILE_COLUMNS = ["tile_start", "tile_end", *genome_columns("tile", primary=True)]


def _tile_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus and track: enhancer/silencer tile counts and the strongest tiles,
    in window and genome coordinates (NaN, with a note, where the effects cannot
    be normalised)."""
    keys = _track_keys(frame)
    cols = _present(frame, TILE_COLUMNS) + ["effect"]
    counts = frame.groupby(keys, sort=False)["effect"].agg(
        enhancer_tiles=lambda e: int((e > 0.3).sum()),
        silencer_tiles=lambda e: int((e < -0.3).sum())).reset_index()
    valid = frame[frame["effect"].notna()]
    grouped = valid.groupby(keys, sort=False)["effect"]
    out = counts
    for pick, label in ((grouped.idxmax, "top"), (grouped.idxmin, "bottom")):
        best = valid.loc[pick(), keys + cols] if len(valid) else pd.DataFrame(columns=keys + cols)
        names = dict(zip(TILE_COLUMNS, [f"{label}_tile_start", f"{label}_tile_end",
                                        *genome_columns(f"{label}_tile", primary=False)]))
        names["effect"] = f"{label}_effect"
        out = out.merge(best.rename(columns=names), on=keys, how="left")
    out["note"] = np.where(out["top_effect"].isna(), NOT_NORMALISED, "")
    return out


def _higher_order_summary(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, rows_of in frame.groupby(_track_keys(frame), sort=False):
        rows_of = rows_of.sort_values("round")
        first = rows_of.iloc[0]
        rows.append({**{k: first[k] for k in _track_keys(frame)}, "wt": first["wt"],
                     "tiles": ";".join(f"{a}-{b}" for a, b in zip(rows_of["tile_start"],
                                                                   rows_of["tile_end"])),
                     "tiles_genome": ";".join(_genome_intervals(rows_of)),
                     "final_observed": rows_of["observed"].iloc[-1],
                     "final_additive": rows_of["additive"].iloc[-1],
                     "final_multiplicative": rows_of["multiplicative"].iloc[-1],
                     "classification": rows_of["classification"].iloc[-1],
                     "note": NOT_NORMALISED if first["wt"] == 0 else ""})
    return pd.DataFrame(rows)


Step = Callable[[Any, np.ndarray, np.ndarray, pd.DataFrame, StepConfig], pd.DataFrame]
STEPS: dict[str, Step] = {
    "activity": _activity,
    "context": _across_loci(assays.context_dependence),
    "necessity": _across_loci(assays.necessity),
    "sufficiency": _across_loci(assays.sufficiency),
    "higher-order": _higher_order,
    "distance": _distance,
    "multiplicity": _multiplicity,
    "fine-tile": _fine_tile,
}
# tests whose batches mix loci (the others run one locus after another)
MULTI_LOCUS = {"activity", "context", "necessity", "sufficiency"}
SUMMARIES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "activity": lambda f: f,
    "context": _context_summary,
    "necessity": _tile_summary,
    "sufficiency": _tile_summary,
    "higher-order": _higher_order_summary,
    "distance": _distance_summary,
    "multiplicity": _multiplicity_summary,
    "fine-tile": _fine_tile_summary,
}
