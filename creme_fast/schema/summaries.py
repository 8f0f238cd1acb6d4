"""Per-test summaries of result tables: one row per locus (and track), the paper's
numbers first.

Each function takes the result rows of finished loci (the result schema,
:mod:`creme_fast.schema.frames`) and returns the summary ``creme-fast run``
writes as ``summary.{parquet,csv}``; a test's spec names its summary
(:data:`creme_fast.assays.registry.TESTS`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from creme_fast.schema.frames import genome_columns

__all__ = ["NOTHING_KEPT", "NOT_NORMALISED", "context_summary", "distance_summary",
           "fine_tile_summary", "higher_order_summary", "multiplicity_summary", "tile_summary"]


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


def fine_tile_summary(frame: pd.DataFrame) -> pd.DataFrame:
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


def distance_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus, track and CRE: the highest activity over positions, the distance
    that gives it and the lowest fold change (how much distance costs)."""
    return _at_best(frame, {"distance_bp": "best_distance_bp"},
                    {"min_fold_change": ("fold_change", "min")})


def multiplicity_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus: the highest activity over copy numbers (saturation), the copies
    that give it, its fold over the TSS tile alone, and one copy's fold."""
    one = frame["fold_over_tss_only"].where(frame["copies"] == 1)
    return _at_best(frame.assign(_one=one),
                    {"copies": "best_copies", "fold_over_tss_only": "saturation_fold"},
                    {"one_copy_fold": ("_one", "max")})


NOT_NORMALISED = "wild-type activity is 0: effects cannot be normalised (NaN)"


def _track_keys(frame: pd.DataFrame) -> list[str]:
    return ["name"] + _present(frame, ["track", "track_name"])


def context_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The result rows, with a note where the effect cannot be normalised."""
    return frame.assign(note=np.where(frame["effect"].isna(), NOT_NORMALISED, ""))


# a tile's window and genome columns, as named in a results table
TILE_COLUMNS = ["tile_start", "tile_end", *genome_columns("tile", primary=True)]


def tile_summary(frame: pd.DataFrame) -> pd.DataFrame:
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


def higher_order_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per locus and track: the greedy tile set, the last round's observed, additive
    and multiplicative activity, and its classification."""
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
