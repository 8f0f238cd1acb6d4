"""Run integrity, second round (issue 18): a changed model never runs, every impossible
setting is refused up front, the API fails as clearly as the CLI.

Each test reproduces one numbered observation of the issue (the number is in its
section title); each failed on the code before the fix.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from genome_fixtures import GENES
from test_run_integrity import _args, genome  # noqa: F401  (the first round's run helpers)
from test_run_integrity import _edited_synthetic

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.io.genome import Genome, GenomeError
from creme_fast.runtime import OnnxPredictor
from creme_fast.sequence.tokens import decode
from creme_fast.synthetic import load_synthetic
from creme_fast.synthetic.model import synthetic_model_path

L = 196_608


def _results(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet"))],
                     ignore_index=True).sort_values(["name", "track"], ignore_index=True)


# --- 1. a corrupted export never runs, with or without --incremental ---------------

SMALL_L = 2048


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """A small Enformer export with its incremental pieces, and a copy of it whose
    main graph has 1,000 weights altered (exponent bits flipped), pieces untouched."""
    import onnx
    from enformer_fixtures import make_small_enformer
    from onnx import numpy_helper

    from creme_fast.export import export_enformer

    directory = tmp_path_factory.mktemp("export")
    good = directory / "small.onnx"
    export_enformer(make_small_enformer(), good, seq_length=SMALL_L, tracks=[1, 5],
                    input_kind="tokens")
    model = onnx.load(str(good))
    init = max(model.graph.initializer, key=lambda i: int(np.prod(i.dims)))
    values = numpy_helper.to_array(init).copy()
    bits = values.reshape(-1)[:1000].view(np.uint32)
    bits ^= np.uint32(1 << 23)  # the lowest exponent bit: each weight x2 or /2
    init.CopyFrom(numpy_helper.from_array(values, init.name))
    altered = directory / "altered.onnx"
    onnx.save(model, str(altered))
    for piece in ("trunk", "tower"):  # the pieces the metadata names sit beside it
        assert (directory / f"small.{piece}.onnx").is_file()
    return good, altered


def test_a_corrupted_export_is_refused_on_every_load(small_export, genome, tmp_path, caplog):
    good, altered = small_export
    tokens = np.random.default_rng(0).integers(0, 4, (2, SMALL_L), dtype=np.uint8)
    original = OnnxPredictor(good).predict(tokens)
    assert np.ptp(original) > 0  # the outputs depend on the weights and input
    with pytest.raises(ValueError, match=f"{altered}: weights checksum MISMATCH"):
        OnnxPredictor(altered)
    assert main(["info", str(altered)]) == 1  # as `info` says
    for flag in ("--incremental", "--no-incremental"):
        out = tmp_path / flag
        code = main(["run", "necessity", "--model", str(altered), "--fasta", str(genome[0]),
                     "--tss", str(genome[2]), "--out", str(out), "--tile-size", "500",
                     "--shuffles", "1", flag])
        assert code == 2, flag  # the flag no longer changes the answer: both refuse
        assert f"{altered}: weights checksum MISMATCH" in caplog.text
        assert not out.exists()
    assert main(["bench", "--model", str(altered), "--test", "necessity", "--tile-size",
                 "500", "--shuffles", "1", "--batch-sizes", "2", "--repeats", "1"]) == 2


def test_the_byte_reader_gives_the_onnx_checksum(small_export):
    """The checksum a load takes from the bytes equals the export's (onnx-parsed) one."""
    import onnx

    from creme_fast.runtime.checksum import weights_sha256, weights_sha256_of_bytes

    good, altered = small_export
    for path in (good, altered, good.with_suffix(".trunk.onnx"), synthetic_model_path()):
        data = Path(path).read_bytes()
        assert weights_sha256_of_bytes(data) == weights_sha256(onnx.load_from_string(data))
    assert weights_sha256_of_bytes(good.read_bytes()) != weights_sha256_of_bytes(
        altered.read_bytes())


# --- 2. with --ray the bytes sent are the bytes hashed -------------------------------

def test_ray_sends_the_model_it_hashed(genome, tmp_path, monkeypatch):
    import ray

    from creme_fast.runs.distributed import RayExecutor

    model = tmp_path / "m.onnx"
    shutil.copy(synthetic_model_path(), model)
    want = hashlib.sha256(model.read_bytes()).hexdigest()
    single = tmp_path / "single"
    assert main(["-q", *_args(genome, single, model=str(model))]) == 0
    start = RayExecutor.start

    def replace_then_start(self):  # the file changes after the driver read it
        _edited_synthetic(model, 2.0)
        start(self)

    monkeypatch.setattr(RayExecutor, "start", replace_then_start)
    out = tmp_path / "ray"
    try:
        code = main(["-q", *_args(genome, out, model=str(model)), "--ray",
                     "--threads-per-worker", "1"])
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert code == 0
    assert hashlib.sha256(model.read_bytes()).hexdigest() != want  # it was replaced
    settings = json.loads((out / "settings.json").read_text())
    assert settings["identity"]["model"] == want
    pd.testing.assert_frame_equal(_results(out), _results(single))
    assert _results(single)["activity"].abs().max() > 0


# --- 3. a stale .fai with swapped names; an empty .fai ------------------------------

def test_a_fai_with_swapped_names_is_stale(tmp_path):
    rng = np.random.default_rng(1)
    fa = tmp_path / "h.fa"
    with open(fa, "w") as fh:
        for name in ("chr1", "chr2"):  # the same length and header length
            text = decode(rng.integers(0, 4, 1000).astype(np.uint8))
            fh.write(f">{name} x\n" + "".join(text[i:i + 60] + "\n"
                                               for i in range(0, len(text), 60)))
    Genome(fa).close()
    fai = Path(f"{fa}.fai")
    lines = fai.read_text().splitlines()
    swapped = [lines[1].split("\t")[0] + "\t" + lines[0].split("\t", 1)[1],
               lines[0].split("\t")[0] + "\t" + lines[1].split("\t", 1)[1]]
    fai.write_text("\n".join(swapped) + "\n")
    with pytest.raises(GenomeError, match=r"h.fa.fai: this index does not match h.fa "
                       r"\(chr2 starts at byte 8, after the header '>chr1 x', not '>chr2'\)"):
        Genome(fa)
    fai.write_text("")
    with pytest.raises(GenomeError, match=r"h.fa.fai: this index does not match h.fa "
                       r"\(the index is empty\)"):
        Genome(fa)
    fai.unlink()
    with Genome(fa) as g:  # rebuilt
        assert set(g.lengths) == {"chr1", "chr2"}


# --- 4. parts without settings are not resumed ---------------------------------------

def test_parts_without_settings_are_refused(tmp_path, genome, caplog):
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out)]) == 0
    parts = sorted((out / "results").glob("part-*.parquet"))
    (out / "settings.json").unlink()
    code = main([*_args(genome, out), "--tile-size", "10000"])
    assert code == 2
    assert f"holds {len(parts)} results part(s) ({parts[0].name}" in caplog.text
    assert "but no settings.json" in caplog.text and "--no-resume" in caplog.text
    assert not (out / "settings.json").exists()
    assert main(["-q", *_args(genome, out), "--tile-size", "10000", "--no-resume"]) == 0


# --- 5. a tile size that leaves no tile beside the TSS tile -------------------------

@pytest.mark.parametrize("test", ["necessity", "sufficiency", "higher-order", "distance"])
def test_a_tile_size_without_tiles_is_refused_up_front(tmp_path, genome, caplog, test):
    out = tmp_path / "out"
    args = _args(genome, out, test)
    args[args.index("--tile-size") + 1] = "98304"
    if test == "distance":
        cres = tmp_path / "cres.tsv"
        pd.DataFrame([GENES[0]], columns=["name", "chrom", "tss", "strand"]).assign(
            cre_start=110_000, cre_end=111_000).to_csv(cres, sep="\t", index=False)
        args[args.index("--tss") + 1] = str(cres)
    assert main(args) == 2
    assert "--tile-size 98304 leaves no tile beside the TSS tile" in caplog.text
    assert not out.exists()


def test_the_api_refuses_a_tile_size_without_tiles():
    with pytest.raises(ValueError, match="tile_size 98304 leaves no tile beside the TSS"):
        assays.necessity(_NoPass(), np.zeros(L, np.uint8), tile_size=98304)


# --- 6. fine-tile: a CRE whose every sub-tile is removed ----------------------------

def test_fine_tile_summary_of_a_cre_without_effect(tmp_path, genome):
    from creme_fast.runs.steps import NOTHING_KEPT

    # geneA: an active promoter; [20 kb, 21 kb) of its window holds no motif
    rows = pd.DataFrame([GENES[0]], columns=["name", "chrom", "tss", "strand"]).assign(
        cre_start=20_000, cre_end=21_000)
    tss = tmp_path / "cre.tsv"
    rows.to_csv(tss, sep="\t", index=False)
    out = tmp_path / "ft"
    assert main(["-q", *_args(genome, out, "fine-tile", tss=tss)]) == 0
    parts = pd.read_parquet(next((out / "results").glob("*.parquet")))
    assert not parts["kept"].any()  # every sub-tile was removed
    summary = pd.read_parquet(out / "summary.parquet")
    row = summary.iloc[0]
    assert (row["cre_start"], row["cre_end"]) == (20_000, 21_000)
    assert row["kept_bp"] == 0 and row["kept_tiles"] == "" and row["note"] == NOTHING_KEPT


# --- 7, 11, 12. the API checks its arguments before any model pass ------------------

class _NoPass:
    """The synthetic model's interface (and metadata), failing if it is ever run."""

    def __init__(self) -> None:
        inner = load_synthetic()
        self.seq_length, self.input_kind = inner.seq_length, inner.input_kind
        self.input_dtype, self.metadata = inner.input_dtype, inner.metadata

    def predict(self, batch):
        raise AssertionError("a model pass ran before the arguments were checked")


SEQ = np.random.default_rng(0).integers(0, 4, L, dtype=np.uint8)
ONE = {"tiles": [[0, 1000]], "num_shuffles": 1}
CRE = (100_000, 101_000)


@pytest.mark.parametrize("call, message", [
    # 7
    (lambda p: assays.necessity(p, SEQ, tiles=[[0, 1000]], num_shuffles=0),
     "num_shuffles must be a whole number >= 1, got 0"),
    (lambda p: assays.necessity(p, SEQ, tiles=[[0, 1000]], num_shuffles=-1),
     "num_shuffles must be a whole number >= 1, got -1"),
    (lambda p: assays.necessity(p, SEQ, **ONE, bins=[-1]), "bins -1 is out of range"),
    (lambda p: assays.necessity(p, SEQ, **ONE, tracks=[-1]), "tracks -1 is out of range"),
    (lambda p: assays.higher_order(p, SEQ, **ONE, track=-1), "track -1 is out of range"),
    (lambda p: assays.necessity(p, SEQ, **ONE, bins=[]), "bins is empty"),
    (lambda p: assays.necessity(p, SEQ, **ONE, tracks=[0, 0]),
     "tracks lists track 0 more than once"),
    (lambda p: assays.necessity(p, SEQ, tiles=[[0.5, 1000.7]], num_shuffles=1),
     r"tiles\[0\] must be whole numbers"),
    (lambda p: assays.necessity(p, SEQ, tiles=[], num_shuffles=1), "tiles is empty"),
    (lambda p: assays.context_dependence(p, SEQ, num_shuffles=0), "num_shuffles"),
    (lambda p: assays.distance(p, SEQ, CRE, num_shuffles=0), "num_shuffles"),
    (lambda p: assays.multiplicity(p, SEQ, CRE, num_copies=0), "num_copies"),
    # 11
    (lambda p: assays.fine_tile_search(p, SEQ, CRE, scales=(0, 50)),
     r"scales\[0\] must be a whole number >= 1, got 0"),
    (lambda p: assays.fine_tile_search(p, SEQ, CRE, frac=0), r"frac must be a number in \(0, 1\]"),
    (lambda p: assays.fine_tile_search(p, SEQ, CRE, frac=-1), "frac must be a number"),
    # 12
    (lambda p: assays.necessity(p, SEQ, **ONE, bins=[896]),
     r"bins 896 is out of range: the model has 896 output bins \(0..895\)"),
    (lambda p: assays.necessity(p, SEQ, **ONE, tracks=[3]), "tracks 3 is out of range"),
    (lambda p: assays.higher_order(p, SEQ, **ONE, track=3), "track 3 is out of range"),
    (lambda p: assays.higher_order(p, SEQ, **ONE, tracks=[0, 1], track=2),
     "track 2 is out of range: the engine keeps 2 track"),
    (lambda p: assays.multiplicity(p, SEQ, CRE, track=5), "track 5 is out of range"),
    (lambda p: assays.fine_tile_search(p, SEQ, CRE, track=5), "track 5 is out of range"),
    (lambda p: assays.necessity(p, SEQ, tiles=[[0, 2**70]], num_shuffles=1),
     r"tiles\[0\] \[0, 1180591620717411303424\) is not inside"),
    (lambda p: assays.necessity(p, SEQ, **ONE, shuffle="creme", rng=42),
     "rng must be a numpy.random.RandomState"),
    (lambda p: assays.necessity(p, SEQ, **ONE, stats=5), "stats must be a"),
    (lambda p: assays.necessity(p, SEQ, **ONE, seed=-1), "seed must be >= 0"),
])
def test_bad_api_arguments_are_value_errors_before_any_pass(call, message):
    with pytest.raises(ValueError, match=message):
        call(_NoPass())


def test_a_huge_batch_size_allocates_only_what_the_plan_holds():
    predictor = load_synthetic()
    res = assays.necessity(predictor, SEQ, **ONE, batch_size=10**12, verbose=False)
    want = assays.necessity(predictor, SEQ, **ONE, batch_size=1, verbose=False)
    np.testing.assert_array_equal(res.mut, want.mut)


# --- 8. a bad seed is a usage error ------------------------------------------------

@pytest.mark.parametrize("value", ["-1", "18446744073709551616"])
def test_a_bad_seed_writes_nothing(tmp_path, genome, capsys, value):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main([*_args(genome, out), "--seed", value])
    assert exit_.value.code == 2 and "--seed: must be in 0..18446744073709551615" in (
        capsys.readouterr().err)
    assert not out.exists()
    assert main(["-q", *_args(genome, out), "--seed", "18446744073709551615"]) == 0


# --- 9. a CRE too long to move to every tile start ---------------------------------

@pytest.mark.parametrize("test", ["distance", "multiplicity"])
def test_a_cre_that_cannot_move_is_refused_with_its_line(tmp_path, genome, caplog, test):
    rows = pd.DataFrame(GENES[:2], columns=["name", "chrom", "tss", "strand"]).assign(
        cre_start=[100_000, 20_000], cre_end=[101_000, 170_000])
    tss = tmp_path / "cres.tsv"
    rows.to_csv(tss, sep="\t", index=False)
    out = tmp_path / "out"
    assert main([*_args(genome, out, test, tss=tss)]) == 2
    assert f"{tss}: line 3: CRE [20000, 170000) is 150,000 bp: {test} moves it" in caplog.text
    assert not out.exists()


# --- 10. a null in a parquet table --------------------------------------------------

@pytest.mark.parametrize("column", ["name", "chrom", "strand"])
def test_a_null_cell_in_a_parquet_table_is_named(tmp_path, genome, caplog, column):
    table = pd.DataFrame(GENES[:3], columns=["name", "chrom", "tss", "strand"])
    table[column] = table[column].astype(object)
    table.loc[1, column] = None
    tss = tmp_path / "genes.parquet"
    table.to_parquet(tss)
    out = tmp_path / "out"
    assert main(_args(genome, out, tss=tss)) == 2
    assert f"{tss}: line 2: empty {column}" in caplog.text and "Traceback" not in caplog.text
    assert not out.exists()


# --- 13. messages name the file and line ---------------------------------------------

@pytest.mark.parametrize("value, message", [
    ("99999999999999999999", "tss '99999999999999999999' is too large for a position"),
    ("1e30", "tss '1e30' is too large for a position"),
    (str(2**63 + 5), f"tss '{2**63 + 5}' is too large for a position"),
    ("inf", "tss 'inf' is not an integer"),
])
def test_impossible_positions_are_named(tmp_path, genome, caplog, value, message):
    tss = tmp_path / "genes.tsv"
    tss.write_text(f"chrom\ttss\tstrand\tname\nchr1\t1000\t+\ta\nchr1\t{value}\t+\tb\n")
    assert main(_args(genome, tmp_path / "out", tss=tss)) == 2
    assert f"{tss}: line 3: {message}" in caplog.text and "negative" not in caplog.text


def test_a_short_gtf_record_is_named(tmp_path, genome, caplog):
    gtf = tmp_path / "genes.gtf"
    gtf.write_text('chr1\tx\ttranscript\t1000\t2000\t.\t+\t.\tgene_type "protein_coding"; '
                   'transcript_id "t1";\nchr1\tx\ttranscript\t5000\t6000\t.\t+\n')
    assert main(_args(genome, tmp_path / "out", tss=gtf)) == 2
    assert f"{gtf}: line 2: a GTF/GFF record needs 9 tab-separated columns" in caplog.text


def test_a_foreign_results_part_is_named(tmp_path, genome, caplog):
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out)]) == 0
    foreign = out / "results" / "part-0000099.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(foreign)
    assert main(_args(genome, out)) == 2
    assert f"{foreign}: not a creme-fast results part (it has no 'name' column)" in caplog.text
    assert "schema" not in caplog.text


def test_a_fractional_cre_is_refused_like_a_fractional_tss(tmp_path, genome, caplog):
    rows = pd.DataFrame([GENES[0]], columns=["name", "chrom", "tss", "strand"]).assign(
        cre_start=100_000, cre_end=100_999.5)
    tss = tmp_path / "cres.tsv"
    rows.to_csv(tss, sep="\t", index=False)
    assert main(_args(genome, tmp_path / "out", "fine-tile", tss=tss)) == 2
    assert f"{tss}: line 2: cre_end 100999.5 is not a whole number" in caplog.text


# --- 14. leftovers -----------------------------------------------------------------

def test_a_refused_command_touches_nothing(tmp_path, genome):
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out)]) == 0
    names = [".creme-fast-run", ".lock", "settings.json"]
    before = {n: ((out / n).stat().st_mtime_ns, (out / n).read_bytes()) for n in names}
    time.sleep(0.05)
    assert main(["-q", *_args(genome, out), "--tile-size", "10000"]) == 2  # other settings
    assert {n: ((out / n).stat().st_mtime_ns, (out / n).read_bytes()) for n in names} == before


def test_temporary_files_of_a_killed_run_are_removed_on_the_next_start(tmp_path, genome):
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out)]) == 0
    leftovers = [out / "results" / ".part-0000003.parquet.k2j4.tmp",
                 out / ".settings.json.x81b.tmp", out / ".summary.parquet.q1.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    mine = out / "results" / ".notes.tmp"  # not a name creme-fast writes: kept
    mine.write_text("keep\n")
    assert main(["-q", *_args(genome, out)]) == 0  # resumes: nothing to do
    assert not any(p.exists() for p in leftovers) and mine.read_text() == "keep\n"


def test_the_docs_say_how_to_stop_orphaned_ray_processes():
    page = (Path(__file__).parents[1] / "docs" / "howto" / "ray.md").read_text()
    assert "`ray stop --force`" in page
