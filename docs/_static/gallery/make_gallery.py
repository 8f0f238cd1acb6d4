"""Make the figure gallery (``docs/gallery.md``): the demo's figures and the figures of
``creme-fast run`` + ``creme-fast plot`` on the demo's loci, as PNGs in this folder.

    python docs/_static/gallery/make_gallery.py            # paper settings (minutes)
    python docs/_static/gallery/make_gallery.py --out DIR --fast   # quick, coarse

The runs read the demo's ``loci.fa`` (each demo locus is one chromosome, its TSS at
the centre) with its TSS table, plus one more chromosome, ``enhancing_cut``: the
``enhancing`` locus without its first 30 kb, so the window of its gene,
``enhancing_edge``, is N-padded upstream.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from creme_fast.cli import main as cli
from creme_fast.demo.run import DemoResult, DemoSettings, run_demo
from creme_fast.plots import plot_run
from creme_fast.sequence.tokens import decode

log = logging.getLogger("make_gallery")

HERE = Path(__file__).resolve().parent
# the demo's figures: file written by the demo -> gallery name
DEMO = {"context": "demo_context", "necessity_sufficiency": "demo_necessity_sufficiency",
        "distance": "demo_distance", "higher_order": "demo_higher_order",
        "multiplicity": "demo_multiplicity", "fine_tile": "demo_fine_tile"}
# the run figures: file written by `creme-fast plot` -> gallery name
RUNS = {
    "context": "run_context",  # the same figure as context.summary.png
    "activity.summary": "run_activity_summary",
    "enhancing_edge.necessity_sufficiency": "run_edge_necessity_sufficiency",
    "necessity.summary": "run_necessity_summary",
    "sufficiency.summary": "run_sufficiency_summary",
    "distance": "run_distance", "enhancing.distance": "run_enhancing_distance",
    "distance.summary": "run_distance_summary",
    "multiplicity": "run_multiplicity", "multiplicity.summary": "run_multiplicity_summary",
    "enhancing.fine-tile": "run_enhancing_fine_tile", "fine-tile.summary": "run_fine_tile_summary",
    "cooperative.higher-order": "run_cooperative_higher_order",
    "higher-order.summary": "run_higher_order_summary",
}
CUT = 30_000  # bp taken off the start of the enhancing locus for enhancing_cut


def _genome(demo: DemoResult, work: Path) -> tuple[Path, Path]:
    """The demo's loci as a genome, plus ``enhancing_cut``, and its TSS table."""
    fasta = work / "genome.fa"
    shutil.copyfile(work / "demo" / "loci.fa", fasta)
    tokens = demo.loci.tokens[demo.loci.locus("enhancing")][CUT:]
    text = decode(tokens)
    with open(fasta, "a") as fh:
        fh.write(">enhancing_cut\n")
        fh.writelines(text[i:i + 80] + "\n" for i in range(0, len(text), 80))
    tss = pd.read_csv(work / "demo" / "loci_tss.tsv", sep="\t")
    edge = {"name": "enhancing_edge", "chrom": "enhancing_cut",
            "tss": int(tss.loc[tss["name"] == "enhancing", "tss"].iloc[0]) - CUT, "strand": "+"}
    genes = work / "genes.tsv"
    pd.concat([tss, pd.DataFrame([edge])], ignore_index=True).to_csv(genes, sep="\t",
                                                                     index=False)
    return fasta, genes


def _runs(fasta: Path, genes: Path, work: Path, tile: int, shuffles: int) -> list[Path]:
    """Every test of ``creme-fast run`` on the demo's loci, chained as the paper's
    workflow (CREs from the necessity run's strongest tile on track 2)."""
    base = ["-q", "run", "--model", "synthetic", "--fasta", str(fasta),
            "--tile-size", str(tile), "--shuffles", str(shuffles)]
    dirs = {}
    for test in ("activity", "context", "necessity", "sufficiency"):
        dirs[test] = work / test
        if cli([*base[:2], test, *base[2:], "--tss", str(genes), "--out", str(dirs[test])]):
            raise RuntimeError(f"creme-fast run {test} failed")
    cres = str(dirs["necessity"] / "summary.parquet")
    for test in ("distance", "multiplicity", "fine-tile", "higher-order"):
        dirs[test] = work / test
        source = ["--tss", str(genes)] if test == "higher-order" else [
            "--tss", cres, "--query", "track == 2 and note == '' and name != 'neutral'"]
        if cli([*base[:2], test, *base[2:], *source, "--track", "2",
                "--out", str(dirs[test])]):
            raise RuntimeError(f"creme-fast run {test} failed")
    return list(dirs.values())


def make_gallery(out: Path, fast: bool = False) -> list[Path]:
    """Write the gallery's PNGs into ``out``; returns them."""
    tile, shuffles = (20000, 2) if fast else (5000, 10)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = run_demo(work / "demo", DemoSettings(num_shuffles=2 if fast else 10,
                                                     verbose=False))
        for name, target in DEMO.items():
            written.append(Path(shutil.copyfile(work / "demo" / f"{name}.png",
                                                out / f"{target}.png")))
        dirs = _runs(*_genome(demo, work), work, tile, shuffles)
        plot_run(dirs, work / "figs", formats=("png",))
        for name, target in RUNS.items():
            written.append(Path(shutil.copyfile(work / "figs" / f"{name}.png",
                                                out / f"{target}.png")))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="default: this folder")
    parser.add_argument("--fast", action="store_true",
                        help="20 kb tiles and 2 shuffles in the runs (for the tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatter
    files = make_gallery(args.out, args.fast)
    log.info("wrote %d figures to %s", len(files), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
