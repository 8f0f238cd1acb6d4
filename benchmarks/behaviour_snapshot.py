"""Behaviour snapshot: every CREME test through the Python API, the CLI and compat.

    python benchmarks/behaviour_snapshot.py [--out DIR] [--work DIR] [--check]

Runs, on fixed seeds and an input-sensitive model:

* the Python API: the eight tests and the context swap (``creme_fast.assays``),
  on a small Enformer export whose outputs depend on the input (pruned head,
  incremental pieces, so both engine paths run), with ``bins=`` and ``tracks=``
  given, and the default readout (``bins`` left out: the export's recorded TSS
  bins; ``bins="all"``; the refusal of a model that records none);
* the CLI: ``creme-fast run`` of every test (and ``activity``) on a FASTA and a
  TSS table written here (genes on both strands, one near a chromosome end),
  ``--bins``/``--tracks`` given, then without ``--bins`` and with ``--bins all``;
* compat: creme-nn's eight functions (and ``generate_tile_shuffles``) on a numpy
  convolution model, with ``rng=RandomState(seed)``.

It writes ``DIR/digest.json`` (the sha256 of every result table and array) and
the tables themselves (``DIR/tables/*.csv``). A refactor that keeps behaviour
keeps the digest byte for byte; ``--check`` compares with the digest already in
``DIR`` and exits 1 naming what differs. Before any comparison the script asserts
that the model's outputs depend on its input (else an equality could not fail).

The model export is written to ``--work`` (a temporary folder by default); the
checksum of its graph goes to ``DIR/model.json``, outside the digest, so a change
in the export code is told apart from a change in the tests.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("behaviour_snapshot")

L = 4096                      # window of the export
TILE = 512                    # tile size everywhere: 6 tiles beside the TSS tile
KEPT_TRACKS = (1, 3, 5, 8, 13)  # the export's head is pruned to these (original indices)
TRACKS = [3, 8, 13]           # asked for explicitly everywhere
TRACK = 8                     # the greedy tests follow it
BINS = [2, 3, 4, 5]           # asked for explicitly everywhere (of the export's 8)
SEED = 7
CHROMS = {"chr1": 24_000, "chr2": 15_000}
GENES = [  # name, chrom, tss, strand
    ("geneA", "chr1", 6_000, "+"),
    ("geneB", "chr1", 15_000, "-"),
    ("geneC", "chr2", 14_200, "+"),   # its window runs past the end of chr2
    ("geneD", "chr2", 5_000, "-"),
]
CRE = (2304, 2816)            # the first tile right of the TSS tile, window coordinates


# --- the model -------------------------------------------------------------------

def small_enformer(seed: int = 0, noise: float = 0.07) -> Any:
    """A small Enformer whose outputs depend on its input (random weights plus noise;
    the same recipe as ``tests/enformer_fixtures.py``)."""
    import torch
    from enformer_pytorch import Enformer

    torch.manual_seed(seed)
    model = Enformer.from_hparams(dim=96, depth=1, heads=2,
                                  output_heads=dict(human=16, mouse=4), target_length=8,
                                  attn_dim_key=16, num_downsamples=7,
                                  dim_divisible_by=16).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * noise)
        model.heads["human"][0].bias.add_(torch.linspace(-2, 2, 16))
    return model


def export_model(work: Path) -> Path:
    from creme_fast.export import export_enformer

    path = work / "small.onnx"
    if not path.is_file():
        export_enformer(small_enformer(), path, seq_length=L, tracks=list(KEPT_TRACKS))
    return path


class ConvModel:
    """A creme-nn-style model (``predict`` on one-hot, ``seq_length``): random filters,
    ReLU, pooling to 16 bins, 3 tracks. Row-independent and float64, so batching
    cannot change a prediction; non-linear, so every base can matter."""

    def __init__(self, seq_length: int = L, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.seq_length = seq_length
        self.filters = rng.normal(size=(8, 4, 6))
        self.mix = rng.normal(size=(6, 3)) * 0.5

    def predict(self, x: np.ndarray) -> np.ndarray:
        from numpy.lib.stride_tricks import sliding_window_view

        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            x = x[None]
        windows = sliding_window_view(x, 8, axis=1)
        act = np.maximum(np.einsum("blcw,wcf->blf", windows, self.filters), 0.0)
        act = np.pad(act, ((0, 0), (0, x.shape[1] - act.shape[1]), (0, 0)))
        pooled = act.reshape(x.shape[0], 16, -1, 6).mean(axis=2)
        return np.log1p(np.exp(pooled @ self.mix)) + 0.1


# --- inputs ----------------------------------------------------------------------

def write_inputs(work: Path) -> tuple[Path, Path]:
    """A FASTA (random sequence, a soft-masked stretch, an N run) and a TSS table with
    CRE columns."""
    rng = np.random.default_rng(SEED)
    fasta = work / "genome.fa"
    with open(fasta, "w") as fh:
        for chrom, size in CHROMS.items():
            seq = "".join(rng.choice(list("ACGT"), size))
            seq = seq[:3000] + seq[3000:3500].lower() + seq[3500:9000] + "N" * 40 + seq[9040:]
            fh.write(f">{chrom}\n")
            fh.writelines(seq[i:i + 60] + "\n" for i in range(0, size, 60))
    table = pd.DataFrame(GENES, columns=["name", "chrom", "tss", "strand"])
    table["cre_start"], table["cre_end"] = CRE
    tss = work / "genes.tsv"
    table.to_csv(tss, sep="\t", index=False)
    return fasta, tss


def windows(fasta: Path) -> tuple[np.ndarray, pd.DataFrame]:
    from creme_fast.io.genome import Genome

    rows = pd.DataFrame(GENES, columns=["name", "chrom", "tss", "strand"])
    with Genome(fasta) as genome:
        tokens = np.stack([genome.window(c, t, s, L) for _, c, t, s in
                           rows.itertuples(index=False)])
        rows["chrom_size"] = [genome.lengths[c] for c in rows["chrom"]]
    return tokens, rows


# --- digests ---------------------------------------------------------------------

class Digest:
    """sha256 of tables and arrays by name, tables also written as CSV."""

    def __init__(self, tables: Path) -> None:
        self.tables = tables
        self.entries: dict[str, str] = {}

    def table(self, name: str, frame: pd.DataFrame) -> None:
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, lineterminator="\n")
        text = buffer.getvalue()
        (self.tables / f"{name}.csv").write_text(text)
        self.entries[f"{name}.csv"] = hashlib.sha256(text.encode()).hexdigest()

    def value(self, name: str, value: Any) -> None:
        """Arrays, numbers, strings, and lists/tuples/dicts of them, flattened."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.value(f"{name}.{key}", item)
        elif isinstance(value, (list, tuple)) and any(
                isinstance(v, (np.ndarray, dict, list, tuple)) for v in value):
            for i, item in enumerate(value):
                self.value(f"{name}[{i}]", item)
        else:
            self.entries[name] = _sha(value)

    def result(self, name: str, result: Any) -> None:
        """An assay result: its table and every array field, plus its settings."""
        import dataclasses

        self.table(name, result.to_frame())
        for f in dataclasses.fields(result):
            value = getattr(result, f.name)
            if f.name == "settings":
                self.entries[f"{name}.settings"] = _sha(json.dumps(value, sort_keys=True,
                                                                   default=str))
            elif f.name != "loci":
                self.value(f"{name}.{f.name}", value)


def _sha(value: Any) -> str:
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        if arr.dtype == object:
            data = repr(arr.tolist()).encode()
        else:
            data = f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()
    elif isinstance(value, np.generic):
        data = f"{value.dtype.str}".encode() + value.tobytes()
    else:
        data = f"{type(value).__name__}:{value!r}".encode()
    return hashlib.sha256(data).hexdigest()


# --- the three surfaces ------------------------------------------------------------

def python_api(digest: Digest, model: Path, tokens: np.ndarray, rows: pd.DataFrame) -> None:
    from creme_fast import assays
    from creme_fast.runtime import CallablePredictor, load_predictor

    predictor = load_predictor(model, threads=1)
    names = list(rows["name"])
    engine = dict(bins=BINS, tracks=TRACKS, batch_size=4, verbose=False)
    wt = assays.context_dependence(predictor, tokens[:2], tile_size=TILE, num_shuffles=1,
                                   seed=SEED, **engine).wt
    spread = float(np.max(np.abs(wt[0] - wt[1]) / np.maximum(np.abs(wt[1]), 1e-12)))
    if spread < 1e-3:
        raise AssertionError(f"the model's outputs hardly depend on the input (largest "
                             f"relative difference between two loci {spread:.2e})")
    log.info("input spread between two loci: %.3f", spread)

    digest.result("api.context", assays.context_dependence(
        predictor, tokens, tile_size=TILE, num_shuffles=3, seed=SEED, names=names,
        loci=rows, **engine))
    digest.result("api.context_uniform", assays.context_dependence(
        predictor, tokens[:2], tile_size=TILE, num_shuffles=2, seed=SEED, shuffle="uniform",
        **engine))
    digest.result("api.context_creme", assays.context_dependence(
        predictor, tokens[:2], tile_size=TILE, num_shuffles=2, shuffle="creme",
        rng=np.random.RandomState(SEED), **engine))
    digest.result("api.context_swap", assays.context_swap(
        predictor, tokens[:3], tile_size=TILE, names=names[:3], **engine))
    necessity = assays.necessity(predictor, tokens[:2], tile_size=TILE, num_shuffles=2,
                                 seed=SEED, names=names[:2], loci=rows.iloc[:2], **engine)
    effect = necessity.effect
    if not np.isfinite(effect).all() or np.ptp(effect) < 1e-3:
        raise AssertionError("necessity effects do not vary over tiles: the model does not "
                             "read the tiles")
    digest.result("api.necessity", necessity)
    digest.result("api.necessity_full_path", assays.necessity(
        predictor, tokens[:2], tile_size=TILE, num_shuffles=2, seed=SEED, names=names[:2],
        incremental=False, **engine))
    digest.result("api.necessity_creme", assays.necessity(
        predictor, tokens[0], tile_size=TILE, num_shuffles=2, shuffle="creme",
        rng=np.random.RandomState(SEED), **engine))
    digest.result("api.sufficiency", assays.sufficiency(
        predictor, tokens[:2], tile_size=TILE, num_shuffles=2, seed=SEED, names=names[:2],
        **engine))
    digest.result("api.sufficiency_fresh", assays.sufficiency(
        predictor, tokens[:2], tile_size=TILE, num_shuffles=2, seed=SEED,
        shared_backgrounds=False, **engine))
    digest.result("api.distance", assays.distance(
        predictor, tokens[0], CRE, tile_size=TILE, num_shuffles=2, seed=SEED, name=names[0],
        loci=rows.iloc[:1], **engine))
    digest.result("api.distance_fresh", assays.distance(
        predictor, tokens[1], CRE, tile_size=TILE, num_shuffles=2, seed=SEED,
        shared_backgrounds=False, shuffle="creme", rng=np.random.RandomState(SEED),
        **engine))
    digest.result("api.higher_order", assays.higher_order(
        predictor, tokens[0], tile_size=TILE, num_shuffles=2, num_rounds=3, track=TRACK,
        seed=SEED, name=names[0], **engine))
    digest.result("api.higher_order_max", assays.higher_order(
        predictor, tokens[3], tile_size=TILE, num_shuffles=2, num_rounds=2, track=TRACK,
        optimization="max", seed=SEED, shuffle="creme", rng=np.random.RandomState(SEED),
        **engine))
    digest.result("api.multiplicity", assays.multiplicity(
        predictor, tokens[1], CRE, tile_size=TILE, num_shuffles=2, num_copies=3, track=TRACK,
        seed=SEED, name=names[1], **engine))
    # the CRE's effect is small: thresholds near 1 (and a locus and track each) make the
    # search stop part way, so its path depends on the predictions
    for cre_type, locus, track, thresholds in (("enhancer", 2, 3, (0.9999, 0.9999)),
                                               ("silencer", 0, 13, (1.0001, 1.0001))):
        digest.result(f"api.fine_tile_{cre_type}", assays.fine_tile_search(
            predictor, tokens[locus], CRE, scales=(128, 32), thresholds=thresholds,
            n_batches=(1, 3), cre_type=cre_type, tile_size=TILE, num_shuffles=2, track=track,
            seed=SEED, **engine))

    # the default readout (issue 28): ``bins`` left out reads the TSS bins the export
    # records; "all" averages every bin; a model that records none is refused
    readout = dict(tracks=TRACKS, batch_size=4, verbose=False)
    digest.result("api.necessity_default_bins", assays.necessity(
        predictor, tokens[:2], tile_size=TILE, num_shuffles=2, seed=SEED, names=names[:2],
        **readout))
    digest.result("api.higher_order_all_bins", assays.higher_order(
        predictor, tokens[2], tile_size=TILE, num_shuffles=2, num_rounds=2, track=TRACK,
        seed=SEED, name=names[2], bins="all", **readout))
    try:
        assays.necessity(CallablePredictor(ConvModel(), seq_length=L), tokens[0],
                         tile_size=TILE, num_shuffles=1, verbose=False)
    except ValueError as exc:
        digest.value("api.no_recorded_bins.message", str(exc))
    else:
        raise AssertionError("a model that records no TSS bins ran without bins=")


def cli(digest: Digest, model: Path, fasta: Path, tss: Path, work: Path) -> None:
    from creme_fast.cli import main
    from creme_fast.io.store import RunStore

    tests = ["activity", "context", "necessity", "sufficiency", "higher-order", "distance",
             "multiplicity", "fine-tile"]
    bins = ["--bins", ",".join(map(str, BINS))]
    # (name, test, --bins): the default readout (no --bins: the export's TSS bins) and
    # --bins all after the eight with --bins given
    runs = [(test, test, bins) for test in tests] + [
        ("necessity_default_bins", "necessity", []), ("context_all_bins", "context",
                                                      ["--bins", "all"])]
    for name, test, bins_args in runs:
        out = work / "runs" / name
        argv = ["run", test, "--model", str(model), "--fasta", str(fasta), "--tss", str(tss),
                "--out", str(out), "--tile-size", str(TILE), "--shuffles", "2", "--seed",
                str(SEED), *bins_args, "--tracks", ",".join(map(str, TRACKS)), "--track",
                str(TRACK), "--batch-size", "4", "--chunk-loci", "2", "--threads", "1",
                "--no-progress", "-q", "--no-resume"]
        code = main(argv)
        if code != 0:
            raise AssertionError(f"creme-fast {' '.join(argv)} exited {code}")
        results = pd.concat(list(RunStore(out).loci()), ignore_index=True)
        digest.table(f"cli.{name}.results", results)
        digest.table(f"cli.{name}.summary", pd.read_parquet(out / "summary.parquet"))
        bed = out / "elements.bed"
        if bed.is_file():
            digest.entries[f"cli.{name}.elements.bed"] = hashlib.sha256(
                bed.read_bytes()).hexdigest()
        digest.entries[f"cli.{name}.failed.tsv"] = hashlib.sha256(
            (out / "failed.tsv").read_bytes()).hexdigest()


def compat(digest: Digest, tokens: np.ndarray) -> None:
    import creme_fast.compat as creme
    from creme_fast.sequence import one_hot

    model = ConvModel()
    x = one_hot(tokens[0]).astype(np.float64)
    x2 = one_hot(tokens[1]).astype(np.float64)
    centre, tiles = creme.set_tile_range(L, TILE)
    wt = model.predict(x[None])
    other = model.predict(x2[None])
    if np.max(np.abs(wt - other)) < 1e-3:
        raise AssertionError("the compat model's outputs hardly depend on the input")

    def rng() -> np.random.RandomState:
        return np.random.RandomState(SEED)

    opts = dict(batch_size=4, verbose=False)
    digest.value("compat.context", creme.context_dependence_test(
        model, x, centre, 3, rng=rng(), **opts))
    digest.value("compat.context_raw", creme.context_dependence_test(
        model, x, centre, 2, mean=False, rng=rng(), **opts))
    digest.value("compat.context_swap", creme.context_swap_test(
        model, np.stack([x, x2]), np.stack([x2, x]), centre, **opts))
    digest.value("compat.tile_shuffles", creme.generate_tile_shuffles(
        x, tiles[:2], 2, rng=rng()))
    digest.value("compat.necessity", creme.necessity_test(
        model, x, tiles, 2, rng=rng(), **opts))
    digest.value("compat.necessity_raw", creme.necessity_test(
        model, x, tiles[:3], 2, mean=False, return_seqs=True, rng=rng(), **opts))
    digest.value("compat.sufficiency", creme.sufficiency_test(
        model, x, centre, tiles, 2, rng=rng(), **opts))
    digest.value("compat.sufficiency_raw", creme.sufficiency_test(
        model, x, centre, tiles[:3], 2, tile_seq=x2[tiles[0][0]:tiles[0][1]], mean=False,
        return_seqs=True, rng=rng(), **opts))
    test_positions = [int(t[0]) for t in tiles]
    digest.value("compat.distance", creme.distance_test(
        model, x, centre, list(CRE), test_positions, 2, rng=rng(), **opts))
    digest.value("compat.distance_seeded", creme.distance_test(
        model, x, centre, list(CRE), test_positions, 2, mean=False, seed=True, **opts))
    digest.value("compat.higher_order", creme.higher_order_interaction_test(
        model, x, [list(t) for t in tiles], np.argmin, 2, 3, rng=rng(), **opts))
    digest.value("compat.multiplicity", creme.multiplicity_test(
        model, x, centre, list(CRE), x[CRE[0]:CRE[1]], [[int(a), int(b)] for a, b in tiles
                                                         if (a, b) != CRE],
        2, 3, np.argmax, rng=rng(), **opts))
    controls = creme.generate_tile_shuffles(x, [[0, L]], 2, rng=rng())
    controls[:, centre[0]:centre[1]] = x[centre[0]:centre[1]]
    with_cre = controls.copy()
    with_cre[:, CRE[0]:CRE[1]] = x[CRE[0]:CRE[1]]
    mut = float(model.predict(with_cre).mean())
    for cre_type, thresholds in (("enhancer", [0.9995, 0.999]), ("silencer", [1.0005, 1.001])):
        digest.value(f"compat.prune_{cre_type}", creme.prune_sequence(
            model, x, controls, mut, CRE[0], CRE[1], [128, 32], thresholds, 1.0, [1, 3],
            cre_type=cre_type, **opts))


def graph_checksum(model: Path) -> str:
    """The export's checksum of its graph (every tensor and node), as its metadata
    records it: the file's own sha256 also covers the working memory measured at
    export, which differs from one export to the next."""
    from creme_fast.runtime import load_predictor

    return str(load_predictor(model, threads=1).metadata.checksum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).with_name("behaviour_snapshot"))
    parser.add_argument("--work", type=Path, help="where the export and runs go "
                        "(default: a temporary folder)")
    parser.add_argument("--check", action="store_true",
                        help="compare with DIR/digest.json instead of writing it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        target = Path(tmp) / "snapshot" if args.check else args.out
        (target / "tables").mkdir(parents=True, exist_ok=True)
        digest = Digest(target / "tables")
        model = export_model(work)
        fasta, tss = write_inputs(work)
        tokens, rows = windows(fasta)
        python_api(digest, model, tokens, rows)
        cli(digest, model, fasta, tss, work)
        compat(digest, tokens)
        text = json.dumps(dict(sorted(digest.entries.items())), indent=1) + "\n"
        model_info = json.dumps({"graph_checksum": graph_checksum(model)}, indent=1) + "\n"
        if not args.check:
            (args.out / "digest.json").write_text(text)
            (args.out / "model.json").write_text(model_info)
            log.info("%d entries written to %s", len(digest.entries), args.out / "digest.json")
            return 0
        stored = json.loads((args.out / "digest.json").read_text())
        now = dict(sorted(digest.entries.items()))
        differ = sorted(k for k in stored.keys() | now.keys() if stored.get(k) != now.get(k))
        if json.loads((args.out / "model.json").read_text()) != json.loads(model_info):
            log.warning("the export's bytes differ from the snapshot's model (export code "
                        "changed?): differences below may come from the model")
        if differ:
            for key in differ:
                log.error("differs: %s", key)
            return 1
        log.info("all %d entries identical to %s", len(now), args.out / "digest.json")
        return 0


if __name__ == "__main__":
    sys.exit(main())
