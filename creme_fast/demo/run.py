"""``creme-fast demo``: the eight CREME tests on the synthetic model, checked against
the planted truth."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creme_fast import assays
from creme_fast.demo.recovery import distance_expected, recovery_table
from creme_fast.plots import (
    context_figure,
    distance_figure,
    fine_tile_figure,
    higher_order_figure,
    multiplicity_figure,
    tile_profile_figure,
)
from creme_fast.plots.style import save, track_label
from creme_fast.io.tables import atomic_write, write_table
from creme_fast.pipeline import DEFAULT_BATCH_SIZE
from creme_fast.synthetic import DEFAULT_GRAMMAR, Grammar, SyntheticLoci, generate_loci
from creme_fast.synthetic.model import load_synthetic

__all__ = ["DemoResult", "DemoSettings", "run_demo"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    """Settings of the demo; the defaults are the paper's (5 kb tiles, 10 shuffles).

    Attributes
    ----------
    tile_size, num_shuffles, seed, batch_size : int
    greedy_rounds : int
        Rounds of the higher-order greedy search per pair locus.
    num_copies : int
        Copies inserted by the multiplicity test.
    fine_scales, fine_batches : tuple of int
        Sub-tile widths and removals per iteration of the fine-tile search.
    track : int
        Track read by the single-track tests (distance, multiplicity, fine tile).
    verbose : bool
        Progress (a bar per model run on a terminal, log lines elsewhere).
    threads : int, optional
        ONNX Runtime threads for the synthetic model (default: ONNX Runtime's, one
        per physical core).
    """

    tile_size: int = 5000
    num_shuffles: int = 10
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    greedy_rounds: int = 3
    num_copies: int = 5
    fine_scales: tuple[int, ...] = (500, 50)
    fine_batches: tuple[int, ...] = (2, 2)
    track: int = 2
    verbose: bool = True
    threads: int | None = None


@dataclass
class DemoResult:
    """Everything the demo computed, plus the files it wrote."""

    loci: SyntheticLoci
    results: dict[str, Any]
    recovery: pd.DataFrame
    files: list[Path] = field(default_factory=list)

    @property
    def all_recovered(self) -> bool:
        return bool(self.recovery["ok"].all())


def _element_tile(loci: SyntheticLoci, name: str) -> tuple[int, int]:
    row = loci.element(name)
    return int(row["tile_start"]), int(row["tile_end"])


#: the demo's eight tests, in the order it runs them (progress says "3/8 tests")
DEMO_TESTS = ("context dependence", "context swap", "necessity", "sufficiency", "distance",
              "higher-order", "multiplicity", "fine-tile")


def run_tests(loci: SyntheticLoci, predictor: Any, settings: DemoSettings,
              grammar: Grammar = DEFAULT_GRAMMAR) -> dict[str, Any]:
    """All eight CREME tests on the demo loci; returns the result objects by name.

    Each locus's shuffles are keyed by its name, as ``creme-fast run`` keys them, so
    a run on the ``loci.fa`` and ``loci_tss.tsv`` the demo writes gives the same
    results; progress names the test (``necessity: 3/8 tests``) and the loci.
    """
    opts = dict(batch_size=settings.batch_size, bins=list(grammar.tss_bins),
                verbose=settings.verbose)
    common = dict(tile_size=settings.tile_size, num_shuffles=settings.num_shuffles,
                  seed=settings.seed)
    names = list(loci.names)
    enh_name = names[loci.locus("enhancing")]
    enh = loci.tokens[loci.locus("enhancing")]
    cre = _element_tile(loci, "U_enhancer")
    single = dict(track=settings.track, **common, **opts)

    def starting(test: str, where: str) -> None:
        log.info("demo: %s: %d/%d tests, on %s", test, DEMO_TESTS.index(test) + 1,
                 len(DEMO_TESTS), where)

    every = f"{len(names)} loci ({', '.join(names)})"
    out: dict[str, Any] = {}
    starting("context dependence", every)
    out["context_dependence"] = assays.context_dependence(predictor, loci.tokens, names=names,
                                                          **common, **opts)
    starting("context swap", every)
    out["context_swap"] = assays.context_swap(predictor, loci.tokens, names=names,
                                              tile_size=settings.tile_size, **opts)
    starting("necessity", every)
    out["necessity"] = assays.necessity(predictor, loci.tokens, names=names, **common, **opts)
    starting("sufficiency", every)
    out["sufficiency"] = assays.sufficiency(predictor, loci.tokens, names=names, **common,
                                            **opts)
    starting("distance", f"gene {enh_name}")
    out["distance"] = assays.distance(predictor, enh, cre, name=enh_name, **common, **opts)
    starting("higher-order", "genes cooperative, redundant")
    for name in ("cooperative", "redundant"):
        i = loci.locus(name)
        out[f"higher_order_{name}"] = assays.higher_order(
            predictor, loci.tokens[i], num_rounds=settings.greedy_rounds, optimization="min",
            name=names[i], **single)
    starting("multiplicity", f"gene {enh_name}")
    out["multiplicity"] = assays.multiplicity(predictor, enh, cre, num_copies=settings.num_copies,
                                              name=enh_name, **single)
    starting("fine-tile", f"gene {enh_name}")
    out["fine_tile"] = assays.fine_tile_search(
        predictor, enh, cre, scales=settings.fine_scales,
        thresholds=(0.8,) * len(settings.fine_scales), n_batches=settings.fine_batches,
        name=enh_name, **single)
    return out


def locus_table(loci: SyntheticLoci) -> pd.DataFrame:
    """The demo loci as the loci of a genome: each is a chromosome of ``loci.fa``
    (written beside the results) with its TSS at the centre, on ``+``."""
    length = loci.tokens.shape[1]
    return pd.DataFrame({"name": loci.names, "chrom": loci.names, "tss": length // 2,
                         "strand": "+", "chrom_size": length})


def _frames(loci: SyntheticLoci, results: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """One table per result in the result schema (the runs' columns: gene name,
    original track index and name, window and genome coordinates)."""
    table = locus_table(loci)
    enhancing = table.iloc[[loci.locus("enhancing")]]
    frames = {}
    for key, result in results.items():
        if key == "context_swap":
            frames[key] = result.to_frame()
            continue
        if key.startswith("higher_order_"):
            rows = table.iloc[[loci.locus(key.removeprefix("higher_order_"))]]
        else:
            rows = table if result.settings.get("n_loci", 1) > 1 else enhancing
        frames[key] = result.with_loci(rows).to_frame()
    frames["higher_order"] = pd.concat(
        [frames.pop(f"higher_order_{n}") for n in ("cooperative", "redundant")],
        ignore_index=True)
    return frames


def draw_figures(loci: SyntheticLoci, frames: dict[str, pd.DataFrame], results: dict[str, Any],
                 grammar: Grammar, track: int, out: Path) -> list[Path]:
    """The paper's figures for the demo, drawn by :mod:`creme_fast.plots` from the
    demo's tables, with the planted truth overlaid."""
    centre = loci.tokens.shape[1] // 2
    marks = {name: list((rows["tile_start"] + rows["tile_end"]) / 2 / 1000 - centre / 1000)
             for name, rows in loci.elements.groupby("locus")}
    enh = loci.names[loci.locus("enhancing")]
    copies = loci.motifs[loci.motifs["element"] == "U_enhancer"]
    motifs = {enh: [((s - centre) / 1000, (e - centre) / 1000)
                    for s, e in zip(copies["start"], copies["end"])]}
    distance = results["distance"]
    curve = distance_expected(loci, grammar, distance, "U_enhancer")
    expected = {"distance_kb": np.sort(distance.distance_bp) / 1000,
                "activity": curve[np.argsort(distance.distance_bp), track],
                "label": f"grammar ({track_label(track, grammar.tracks[track])})"}
    files: list[Path] = []
    files += save(context_figure(frames["context_dependence"]), out / "context")
    files += save(tile_profile_figure({"necessity": frames["necessity"],
                                       "sufficiency": frames["sufficiency"]}, marks=marks),
                  out / "necessity_sufficiency")
    files += save(distance_figure(frames["distance"][frames["distance"]["track"] == track],
                                  expected), out / "distance")
    files += save(higher_order_figure(frames["higher_order"]), out / "higher_order")
    files += save(multiplicity_figure(frames["multiplicity"], ceiling=grammar.ceiling),
                  out / "multiplicity")
    files += save(fine_tile_figure(frames["fine_tile"], marks=motifs), out / "fine_tile")
    return files


def _write_fasta(loci: SyntheticLoci, directory: Path) -> list[Path]:
    """The loci as a FASTA (one record each) and a TSS table, for ``creme-fast run``."""
    from creme_fast.sequence.tokens import decode

    def fasta(path: Path) -> None:
        with open(path, "w") as fh:
            for name, tokens in zip(loci.names, loci.tokens):
                seq = decode(tokens)
                fh.write(f">{name}\n")
                fh.writelines(seq[i:i + 80] + "\n" for i in range(0, len(seq), 80))

    length = loci.tokens.shape[1]
    tss = locus_table(loci)[["chrom", "tss", "strand", "name"]]
    return [atomic_write(directory / "loci.fa", fasta),
            atomic_write(directory / "loci_tss.tsv",
                         lambda p: tss.to_csv(p, sep="\t", index=False))]


def run_demo(out: str | Path, settings: DemoSettings = DemoSettings(),
             predictor: Any = None) -> DemoResult:
    """Generate the loci, run the eight tests, write tables, plots and the recovery table.

    Parameters
    ----------
    out : str or Path
        Output directory (created).
    settings : DemoSettings
    predictor : Predictor, optional
        Default: the shipped synthetic model on ONNX Runtime.

    Returns
    -------
    DemoResult
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    predictor = (load_synthetic(threads=settings.threads) if predictor is None
                 else predictor)
    loci = generate_loci(DEFAULT_GRAMMAR, seed=settings.seed, tile_size=settings.tile_size)
    log.info("generated %d loci of %d bp with %d planted elements", len(loci.names),
             loci.tokens.shape[1], len(loci.elements))
    results = run_tests(loci, predictor, settings)
    recovery = recovery_table(loci, results, DEFAULT_GRAMMAR, settings.track)
    files = _write_fasta(loci, out)
    frames = _frames(loci, results)
    for name, frame in frames.items():
        files += write_table(frame, out, name)
    for name, frame in (("elements", loci.elements), ("motifs", loci.motifs),
                        ("truth", loci.truth), ("recovery", recovery)):
        files += write_table(frame, out, name)
    files += draw_figures(loci, frames, results, DEFAULT_GRAMMAR, settings.track, out)
    return DemoResult(loci=loci, results=results, recovery=recovery, files=files)
