"""Planted versus recovered: every CREME test's answer checked against the truth."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creme_fast.synthetic.grammar import Grammar
from creme_fast.synthetic.loci import SyntheticLoci, flag

__all__ = ["distance_expected", "kept_overlaps", "recovery_table"]

COLUMNS = ["test", "locus", "element", "track", "expected", "found", "ok"]
_FLAG_NAMES = {1: "> 0.3", -1: "< -0.3", 0: "|x| <= 0.3"}


def distance_expected(loci: SyntheticLoci, grammar: Grammar, result: Any,
                      element: str) -> np.ndarray:
    """Activity the grammar predicts with the element's copies moved to each position
    of a distance result, on a background that keeps only the promoter:
    ``(n_positions, n_tracks)``."""
    row = loci.element(element)
    copies = loci.motifs[(loci.motifs["locus"] == row["locus"])
                         & (loci.motifs["element"] == element)]
    offsets = copies["start"].to_numpy() - int(row["tile_start"])
    starts = result.positions[:, None] + offsets[None, :]
    counts = np.zeros((len(result.positions), len(grammar.motifs)))
    counts[:, grammar.index(row["motif"])] = grammar.kernel(
        grammar.motif_center_offset(starts)).sum(axis=1)
    promoter = float(grammar.promoter_kernel(grammar.motif_center_offset(
        grammar.promoter_start)))
    return grammar.activity(counts, np.full(len(result.positions), promoter))


def kept_overlaps(kept: np.ndarray, motifs: pd.DataFrame) -> tuple[bool, bool]:
    """(every motif copy lies inside kept sub-tiles, every kept sub-tile holds a motif)."""
    kept = np.asarray(kept).reshape(-1, 2)
    starts, ends = motifs["start"].to_numpy(), motifs["end"].to_numpy()
    covered = all(np.any((kept[:, 0] <= s) & (kept[:, 1] >= e)) for s, e in zip(starts, ends))
    useful = all(np.any((starts < b) & (ends > a)) for a, b in kept)
    return covered, useful


def recovery_table(loci: SyntheticLoci, results: dict[str, Any], grammar: Grammar,
                   track: int) -> pd.DataFrame:
    """One row per check: what the truth says, what the test found, whether they agree.

    Parameters
    ----------
    loci : SyntheticLoci
    results : dict
        :func:`creme_fast.demo.run.run_tests` output.
    grammar : Grammar
    track : int
        Track of the single-track tests.
    """
    rows: list[tuple[Any, ...]] = []
    tracks = grammar.tracks
    context = results["context_dependence"]
    for i, name in enumerate(loci.names):
        found = context.category[i]
        for k, t in enumerate(tracks):
            expected = loci.context[(loci.context["locus"] == name)
                                    & (loci.context["track"] == t)]["category"].iloc[0]
            rows.append(("context", name, "", t, expected, found[k], expected == found[k]))
    for test in ("necessity", "sufficiency"):
        measured = flag(results[test].effect)  # (loci, tiles, tracks)
        planted = np.zeros_like(measured)
        for _, tr in loci.truth.iterrows():
            el = loci.element(tr["element"])
            i, k = loci.locus(tr["locus"]), tracks.index(tr["track"])
            value = results[test].effect[i, el["tile"], k]
            want = int(tr["necessary" if test == "necessity" else "sufficient"])
            planted[i, el["tile"], k] = want
            rows.append((test, tr["locus"], tr["element"], tr["track"],
                         f"{_FLAG_NAMES[want]} ({tr[f'{test}_expected']:.2f})",
                         f"{value:.2f}", int(flag(value)) == want))
        for i, name in enumerate(loci.names):
            for k, t in enumerate(tracks):
                extra = np.nonzero((measured[i, :, k] != 0) & (planted[i, :, k] == 0))[0]
                rows.append((test, name, "(other tiles)", t, "none flagged",
                             ", ".join(map(str, extra)) or "none", extra.size == 0))
    for name, want in (("cooperative", "super-additive"), ("redundant", "sub-additive")):
        res = results[f"higher_order_{name}"]
        pair = set(loci.elements[loci.elements["locus"] == name]["tile"])
        chosen = set(res.selected[:2].tolist())
        rows.append(("higher_order", name, "pair found first", tracks[res.track],
                     str(sorted(pair)), str(sorted(chosen)), chosen == pair))
        found = res.classification()[1]
        rows.append(("higher_order", name, "pair class", tracks[res.track], want, found,
                     found == want))
    mult = results["multiplicity"]
    act = np.concatenate([[mult.tss_only], mult.activity_by_copies])
    steps = np.diff(act)
    saturates = bool(np.all(act <= grammar.ceiling * 1.001) and act[-1] > 0.9 * grammar.ceiling
                     and steps[-1] < steps[0] / 3)
    rows.append(("multiplicity", "enhancing", "U_enhancer", tracks[track],
                 f"saturates at {grammar.ceiling:g}",
                 " ".join(f"{a:.1f}" for a in act), saturates))
    dist = results["distance"]
    expected = distance_expected(loci, grammar, dist, "U_enhancer")[:, track]
    measured = dist.activity[:, track]
    rel = np.max(np.abs(measured - expected) / expected)
    rows.append(("distance", "enhancing", "U_enhancer", tracks[track],
                 "kernel exp(-|d|/40 kb)", f"max rel. error {rel:.3f}", rel < 0.05))
    fine = results["fine_tile"]
    copies = loci.motifs[loci.motifs["element"] == "U_enhancer"]
    covered, useful = kept_overlaps(fine.kept, copies)
    rows.append(("fine_tile", "enhancing", "U_enhancer", tracks[fine.track],
                 "kept = sub-tiles over the motifs",
                 ", ".join(f"{a}-{b}" for a, b in fine.kept), covered and useful))
    return pd.DataFrame(rows, columns=COLUMNS)
