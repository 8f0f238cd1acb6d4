"""The CREME tests as run steps: tokens of a chunk of loci in, one table out.

A step returns rows tagged with ``locus`` (the index inside the chunk); shuffles
are keyed by each locus's stable key, so a locus gets the same result whichever
chunk it lands in (which is what makes kill-and-resume exact).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creme_fast import assays
from creme_fast.assays._common import activity, predict_plan
from creme_fast.pipeline import PlanBuilder

__all__ = ["CRE_TESTS", "MULTI_LOCUS", "STEPS", "SUMMARIES", "StepConfig", "cre_of"]


@dataclass(frozen=True)
class StepConfig:
    """Settings of a step (see ``creme-fast run --help``)."""

    tile_size: int = 5000
    num_shuffles: int = 10
    seed: int = 0
    batch_size: int = 8
    bins: tuple[int, ...] | None = None
    tracks: tuple[int, ...] | None = None
    track: int = 0
    rounds: int = 2
    optimization: str = "min"
    max_batch_bytes: int | None = None  # None: the machine's available memory
    incremental: bool | str = "auto"

    def track_position(self) -> int:
        """``track`` (the model's index) as a position among the kept ``tracks``."""
        return self.track if self.tracks is None else self.tracks.index(self.track)

    def engine(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "verbose": False,
                "max_batch_bytes": self.max_batch_bytes, "incremental": self.incremental,
                "bins": None if self.bins is None else list(self.bins),
                "tracks": None if self.tracks is None else list(self.tracks)}

    def shuffles(self) -> dict[str, Any]:
        return {"tile_size": self.tile_size, "num_shuffles": self.num_shuffles,
                "seed": self.seed}


def _activity(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
              cfg: StepConfig) -> pd.DataFrame:
    builder = PlanBuilder(cfg.seed)
    builder.rows_of(tokens)
    act = activity(predict_plan(builder.build(), predictor, cfg.engine(), "activity"))
    locus, track = np.meshgrid(np.arange(act.shape[0]), np.arange(act.shape[1]), indexing="ij")
    return pd.DataFrame({"locus": locus.ravel(), "track": track.ravel(),
                         "activity": act.ravel()})


def _across_loci(assay: Callable[..., Any]) -> Step:
    """A step running a multi-locus assay on the whole chunk in one engine run."""
    def step(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
             cfg: StepConfig) -> pd.DataFrame:
        return assay(predictor, tokens, locus_keys_=keys, **cfg.shuffles(),
                     **cfg.engine()).to_frame()
    return step


def _each_locus(run: Callable[[np.ndarray, int, Any], pd.DataFrame], tokens: np.ndarray,
                keys: np.ndarray, rows: pd.DataFrame) -> pd.DataFrame:
    """``run(tokens, key, row)`` on each locus of the chunk, rows tagged by locus."""
    return pd.concat([run(tokens[i], int(keys[i]), rows.iloc[i]).assign(locus=i)
                      for i in range(tokens.shape[0])], ignore_index=True)


def _higher_order(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                  cfg: StepConfig) -> pd.DataFrame:
    def run(seq: np.ndarray, key: int, row: Any) -> pd.DataFrame:
        res = assays.higher_order(predictor, seq, num_rounds=cfg.rounds,
                                  optimization=cfg.optimization, track=cfg.track_position(),
                                  locus_key=key, **cfg.shuffles(), **cfg.engine())
        return res.to_frame().assign(wt=res.wt)
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
            return int(row[start]), int(row[end])
    raise ValueError("this test needs a CRE per locus: give cre_start and cre_end columns "
                     "(window coordinates), or a necessity/sufficiency run's summary.parquet "
                     "narrowed to one track (its top_tile_start/top_tile_end are used)")


_cre_of = cre_of  # the name the CLI's checks import


def _per_cre(test: Callable[..., Any], predictor: Any, tokens: np.ndarray, keys: np.ndarray,
             rows: pd.DataFrame, cfg: StepConfig, **extra: Any) -> pd.DataFrame:
    """Run a one-locus CRE test on each locus of the chunk."""
    def run(seq: np.ndarray, key: int, row: Any) -> pd.DataFrame:
        cre = cre_of(row)
        res = test(predictor, seq, cre, locus_key=key, **extra, **cfg.shuffles(),
                   **cfg.engine())
        return res.to_frame().assign(cre_start=cre[0], cre_end=cre[1])
    return _each_locus(run, tokens, keys, rows)


def _distance(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
              cfg: StepConfig) -> pd.DataFrame:
    return _per_cre(assays.distance, predictor, tokens, keys, rows, cfg)


def _multiplicity(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
                  cfg: StepConfig) -> pd.DataFrame:
    opt = "max" if cfg.optimization == "min" else "min"  # enhancer CREs: add where it helps
    return _per_cre(assays.multiplicity, predictor, tokens, keys, rows, cfg,
                    track=cfg.track_position(), optimization=opt)


def _fine_tile(predictor: Any, tokens: np.ndarray, keys: np.ndarray, rows: pd.DataFrame,
               cfg: StepConfig) -> pd.DataFrame:
    kind = "enhancer" if cfg.optimization == "min" else "silencer"
    return _per_cre(assays.fine_tile_search, predictor, tokens, keys, rows, cfg,
                    track=cfg.track_position(), cre_type=kind)


def _fine_tile_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus: bp of the CRE kept and the kept sub-tiles (NaN, with a note, where
    the CRE has no effect to prune against)."""
    note = frame["note"] if "note" in frame else pd.Series("", index=frame.index)
    kept = frame[frame["kept"]]
    out = (kept.assign(kept_bp=kept["end"] - kept["start"],
                       kept_tiles=kept["start"].astype(str) + "-" + kept["end"].astype(str))
           .groupby(["name", "cre_start", "cre_end"], sort=False)
           .agg(kept_bp=("kept_bp", "sum"), kept_tiles=("kept_tiles", ";".join))
           .reset_index())
    notes = frame.assign(note=note).groupby("name", sort=False)["note"].first()
    out = notes.reset_index().merge(out, on="name", how="left")
    noted = out["note"] != ""
    out["kept_bp"] = out["kept_bp"].astype("float64").where(~noted)
    out.loc[noted, "kept_tiles"] = ""
    return out[["name", "cre_start", "cre_end", "kept_bp", "kept_tiles", "note"]]


def _by_cre_summary(value: str, how: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def summary(frame: pd.DataFrame) -> pd.DataFrame:
        keys = ["name", "cre_start", "cre_end"] + (["track"] if "track" in frame else [])
        return frame.groupby(keys, sort=False)[value].agg(how).reset_index()
    return summary


NOT_NORMALISED = "wild-type activity is 0: effects cannot be normalised (NaN)"


def _track_keys(frame: pd.DataFrame) -> list[str]:
    return ["name", "track"] + (["track_name"] if "track_name" in frame else [])


def _context_summary(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(note=np.where(frame["effect"].isna(), NOT_NORMALISED, ""))


def _tile_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus and track: enhancer/silencer tile counts and the strongest tiles
    (NaN, with a note, where the effects cannot be normalised)."""
    keys = _track_keys(frame)
    cols = ["tile_start", "tile_end", "effect"]
    counts = frame.groupby(keys, sort=False)["effect"].agg(
        enhancer_tiles=lambda e: int((e > 0.3).sum()),
        silencer_tiles=lambda e: int((e < -0.3).sum())).reset_index()
    valid = frame[frame["effect"].notna()]
    grouped = valid.groupby(keys, sort=False)["effect"]
    out = counts
    for pick, label in ((grouped.idxmax, "top"), (grouped.idxmin, "bottom")):
        best = valid.loc[pick(), keys + cols] if len(valid) else pd.DataFrame(columns=keys + cols)
        out = out.merge(best.rename(columns={"tile_start": f"{label}_tile_start",
                                             "tile_end": f"{label}_tile_end",
                                             "effect": f"{label}_effect"}), on=keys, how="left")
    out["note"] = np.where(out["top_effect"].isna(), NOT_NORMALISED, "")
    return out


def _higher_order_summary(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, rows_of in frame.groupby("name", sort=False):
        rows_of = rows_of.sort_values("round")
        rows.append({"name": name, "wt": rows_of["wt"].iloc[0],
                     "tiles": ";".join(f"{a}-{b}" for a, b in zip(rows_of["tile_start"],
                                                                   rows_of["tile_end"])),
                     "final_observed": rows_of["observed"].iloc[-1],
                     "final_additive": rows_of["additive"].iloc[-1],
                     "classification": rows_of["classification"].iloc[-1],
                     "note": NOT_NORMALISED if rows_of["wt"].iloc[0] == 0 else ""})
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
    "distance": _by_cre_summary("activity", "max"),
    "multiplicity": _by_cre_summary("activity", "max"),
    "fine-tile": _fine_tile_summary,
}
