"""Run integrity (issue 11): no silent wrong results, no poisoned runs, clear early errors.

Each test reproduces one numbered observation of the issue; together they extend the
bad-input corpus of ``test_run.py``.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from genome_fixtures import GENES, make_genome, write_tss

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.io.genome import Genome
from creme_fast.io.store import RunStore
from creme_fast.io.tss import TssTableError, read_tss
from creme_fast.runs.executor import ChunkTask, run_chunk
from creme_fast.runs.steps import StepConfig
from creme_fast.runtime import CallablePredictor
from creme_fast.sequence.tiles import tile_layout
from creme_fast.synthetic import load_synthetic

L = 196_608
FAST = ["--tile-size", "20000", "--shuffles", "2"]
SILENT = ("silent", "chr2", 160_000, "+")  # no promoter planted: zero wild-type activity


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("genome")
    path, seqs = make_genome(directory)
    return path, seqs, write_tss(directory)


def _args(genome, out: Path, test: str = "activity", tss: Path | None = None,
          fasta: Path | None = None, model: str = "synthetic") -> list[str]:
    path, _, good = genome
    return ["run", test, "--model", model, "--fasta", str(fasta or path), "--tss",
            str(tss or good), "--out", str(out), *FAST]


def _results(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet"))],
                     ignore_index=True)


# --- 1. one run per directory; a locus is never counted twice --------------------

HOLD_LOCK = """
import sys, time
from creme_fast.io.genome import Genome
from creme_fast.io.store import RunStore
store = RunStore(sys.argv[1])
store.lock()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_run_on_a_directory_in_use_is_refused_naming_the_holder(tmp_path, genome,
                                                                         caplog):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(_args(genome, out)) == 2
        assert f"in use by another creme-fast run (pid {holder.pid} on " in caplog.text
        assert "started 20" in caplog.text
        assert not (out / "results").exists() and not (out / "settings.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(_args(genome, out)) == 0  # the lock dies with its holder


def test_two_runs_started_at_once_never_duplicate_a_locus(tmp_path, genome):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "creme_fast", *_args(genome, out, "necessity"),
           "--chunk-loci", "1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    codes, errs = zip(*[(p.wait(timeout=300), p.stderr.read()) for p in procs])
    assert 0 in codes and set(codes) <= {0, 2}, errs
    for code, err in zip(codes, errs):
        assert code == 0 or "in use by another creme-fast run (pid " in err
    rows = _results(out)
    per_locus = rows.groupby("name").size()
    tiles = len(tile_layout(L, 20000).tiles)
    assert len(per_locus) == len(GENES) and (per_locus == tiles * 3).all()  # no locus twice
    assert len(pd.read_parquet(out / "summary.parquet")) == len(GENES) * 3


def test_the_summary_never_counts_a_locus_twice(tmp_path, genome):
    out = tmp_path / "nec"
    assert main(["-q", *_args(genome, out, "necessity")]) == 0
    first = pd.read_parquet(out / "summary.parquet")
    part = sorted((out / "results").glob("*.parquet"))[0]
    shutil.copy(part, out / "results" / "part-9999999.parquet")  # as two racing runs left
    assert main(["-q", *_args(genome, out, "necessity")]) == 0  # resume: nothing to run
    again = pd.read_parquet(out / "summary.parquet")
    assert len(again) == len(first) == len(GENES) * 3
    pd.testing.assert_frame_equal(again, first)


# --- 2. tables keep their types: --top/--by and --query on CSV, TSV and parquet ----

@pytest.mark.parametrize("kind", ["csv", "tsv", "parquet"])
def test_top_by_ranks_numbers_on_every_table_format(tmp_path, genome, kind):
    frame = pd.DataFrame([("low", "chr1", 120_000, "+", 9.2),
                          ("high", "chr2", 100_000, "+", 10.5),
                          ("none", "chr1", 150_000, "-", None)],
                         columns=["name", "chrom", "tss", "strand", "score"])
    tss = tmp_path / f"t.{kind}"
    if kind == "parquet":
        frame.to_parquet(tss)
    else:
        frame.to_csv(tss, sep="\t" if kind == "tsv" else ",", index=False)
    out = tmp_path / "top"
    assert main(["-q", *_args(genome, out, tss=tss), "--top", "1", "--by", "score"]) == 0
    assert set(_results(out)["name"]) == {"high"}


def test_a_summary_csv_is_queried_with_its_types(tmp_path, genome):
    out = tmp_path / "act"
    assert main(["-q", *_args(genome, out, "context")]) == 0
    for name in ("summary.csv", "summary.parquet"):
        table = read_tss(out / name, query="track == 2 and effect > -100")
        assert len(table) == len(GENES), name
        assert table["activity" if "activity" in table else "wt"].dtype.kind == "f"


# --- 3. tracks keep the model's own indices and names ------------------------------

def _count_model(path: Path) -> Path:
    """Output (B, 1, 4): the count of A, C, G and T in the window (tracks that differ)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)], "counts",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", L, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, 4])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_tracks_keep_the_models_indices_and_names(tmp_path, genome):
    model = str(_count_model(tmp_path / "counts.onnx"))
    whole, two = tmp_path / "all", tmp_path / "two"
    assert main(["-q", *_args(genome, whole, model=model)]) == 0
    assert main(["-q", *_args(genome, two, model=model), "--tracks", "2,0"]) == 0
    every = _results(whole).set_index(["name", "track"])
    kept = _results(two).set_index(["name", "track"])
    assert set(kept.index.get_level_values("track")) == {0, 2}
    assert every["activity"].nunique() == len(every)  # every locus and track differ
    pd.testing.assert_series_equal(kept["activity"].sort_index(),
                                   every.loc[kept.index, "activity"].sort_index())
    summary = pd.read_csv(two / "summary.csv")
    assert set(summary["track"]) == {0, 2}
    assert len(read_tss(two / "summary.csv", query="track == 2")) == len(GENES)
    named = tmp_path / "named"  # the synthetic model records its tracks' names
    assert main(["-q", *_args(genome, named), "--tracks", "2"]) == 0
    names = load_synthetic().metadata.extra["track_names"]
    for frame in (_results(named), pd.read_csv(named / "summary.csv")):
        assert set(frame["track"]) == {2} and set(frame["track_name"]) == {names[2]}


# --- 4. a resume must see the same FASTA and the same model -----------------------

def test_resume_refuses_another_genome_with_the_same_lengths(tmp_path, genome, caplog):
    _, _, tss = genome
    other = tmp_path / "other"
    other.mkdir()
    fasta, _ = make_genome(other, seed=1)  # same chromosomes and lengths, other bases
    path = genome[0]
    copy = tmp_path / "g.fa"
    shutil.copy(path, copy)
    shutil.copy(f"{path}.fai", f"{copy}.fai")
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out, fasta=copy)]) == 0
    Genome(fasta).close()  # index it: the same index as the first genome's
    assert Path(f"{fasta}.fai").read_bytes() == Path(f"{copy}.fai").read_bytes()
    shutil.copy(fasta, copy)  # the same file name and .fai, another sequence
    assert main(["-q", *_args(genome, out, fasta=copy)]) == 2
    assert "other settings (fasta:" in caplog.text


def _edited_synthetic(path: Path, scale: float) -> Path:
    """The synthetic graph (no initializers) with one constant scaled and its checksum
    recorded again: another export of the same shape, not an altered file."""
    import onnx
    from onnx import numpy_helper

    from creme_fast.runtime.checksum import weights_sha256
    from creme_fast.runtime.metadata import METADATA_KEY

    model = onnx.load(str(load_synthetic().path))
    assert not model.graph.initializer
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = numpy_helper.to_array(node.attribute[0].t)
            if value.dtype.kind == "f" and value.size > 1:
                node.attribute[0].t.CopyFrom(numpy_helper.from_array(value * scale))
                break
    prop = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    prop.value = json.dumps({**json.loads(prop.value), "checksum": weights_sha256(model)})
    onnx.save(model, str(path))
    return path


def test_resume_refuses_a_changed_graph_without_weights(tmp_path, genome, caplog):
    model = _edited_synthetic(tmp_path / "m.onnx", 1.0)
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out, model=str(model))]) == 0
    _edited_synthetic(model, 2.0)
    assert main(["-q", *_args(genome, out, model=str(model))]) == 2
    assert "other settings (model:" in caplog.text


# --- 5. a locus whose predictions are not finite fails alone ----------------------

def _nan_model(path: Path, threshold: float) -> Path:
    """sqrt(non-N bases - threshold): NaN for windows mostly past a chromosome end."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0),
         helper.make_node("Sub", ["total", "threshold"], ["margin"]),
         helper.make_node("Sqrt", ["margin"], ["root"]),
         helper.make_node("Reshape", ["root", "shape"], ["y"])],
        "nan_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", L, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, 1])],
        [helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2]),
         helper.make_tensor("threshold", TensorProto.FLOAT, [], [threshold]),
         helper.make_tensor("shape", TensorProto.INT64, [3], [-1, 1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("chunk", ["1", "4"])
def test_a_nan_locus_is_listed_and_the_run_goes_on(tmp_path, genome, caplog, chunk):
    model = _nan_model(tmp_path / "nan.onnx", 80_000.0)  # geneG: a 60 kb chromosome
    out = tmp_path / "run"
    args = [*_args(genome, out, "context", model=str(model)), "--chunk-loci", chunk]
    assert main(args) == 1
    failed = pd.read_csv(out / "failed.tsv", sep="\t")
    assert list(failed["name"]) == ["geneG"] and "NaN or infinity" in failed["error"][0]
    done = set(_results(out)["name"])
    assert done == {g[0] for g in GENES} - {"geneG"}
    assert main(args) == 1  # a resume retries it, and still finishes
    assert list(pd.read_csv(out / "failed.tsv", sep="\t")["name"]) == ["geneG"]


def test_a_nan_output_is_not_called_bad_input(tmp_path, genome):
    model = _nan_model(tmp_path / "nan.onnx", 1e9)  # NaN everywhere
    assert main(["-q", *_args(genome, tmp_path / "run", model=str(model))]) == 1


# --- 6. effects that cannot be normalised: NaN and a note, no crash -----------------

@pytest.mark.parametrize("test", ["necessity", "sufficiency", "context"])
def test_zero_wild_type_activity_gives_nan_and_a_note(tmp_path, genome, caplog, test):
    tss = write_tss(tmp_path, [GENES[0], SILENT])
    out = tmp_path / test
    assert main(["-q", *_args(genome, out, test, tss=tss), "--tracks", "2"]) == 0
    summary = pd.read_parquet(out / "summary.parquet").set_index("name")
    assert "wild-type activity is 0" in summary.loc["silent", "note"]
    assert summary.loc["geneA", "note"] == ""
    value = "top_effect" if test != "context" else "effect"
    assert np.isnan(summary.loc["silent", value]) and np.isfinite(summary.loc["geneA", value])
    if test == "necessity":  # a chained CRE test names the locus that has no CRE
        code = main([*_args(genome, tmp_path / "ft", "fine-tile", tss=out / "summary.csv")])
        assert code == 2 and "line 3: locus 'silent' has no CRE" in caplog.text
        assert not (tmp_path / "ft").exists()


def test_fine_tile_of_a_cre_without_effect_does_not_crash(tmp_path, genome):
    rows = pd.DataFrame([SILENT], columns=["name", "chrom", "tss", "strand"]).assign(
        cre_start=120_000, cre_end=125_000)
    tss = tmp_path / "cre.tsv"
    rows.to_csv(tss, sep="\t", index=False)
    out = tmp_path / "ft"
    assert main(["-q", *_args(genome, out, "fine-tile", tss=tss)]) == 0
    summary = pd.read_parquet(out / "summary.parquet")
    assert "cannot be normalised" in summary["note"][0] and np.isnan(summary["kept_bp"][0])


# --- 7, 8, 12. every option checked against the model before anything is written ---

@pytest.mark.parametrize("extra, message", [
    (["--bins", "896"], "--bins 896 is out of range: the model has 896 output bins"),
    (["--tracks", "3"], "--tracks 3 is out of range: the model has 3 tracks"),
    (["--tracks", "0,0"], "--tracks lists track 0 more than once"),
    (["--track", "5"], "--track 5 is out of range"),
    (["--track", "-1"], "--track -1 is out of range"),
    (["--tracks", "0,1", "--track", "2"], "--track 2 is not among --tracks 0,1"),
    (["--tile-size", "300000"], "--tile-size 300000: tile_size 300000 is longer"),
    (["--batch-size", "100000", "--max-batch-memory", "4G"],  # the shipped export's figures
     "--batch-size 100000 needs 1054.8 GiB of batch buffers and model working memory "
     "(10.8 MiB per sequence at 196,608 bp, 10.2 MiB of it the model's as measured at "
     "export + 8.2 MiB shared), over --max-batch-memory 4G; the largest batch that fits "
     "is 378"),
    (["--max-batch-memory", "lots"], "--max-batch-memory: not a size: 'lots'"),
])
def test_bad_options_exit_2_and_write_nothing(tmp_path, genome, caplog, extra, message):
    out = tmp_path / "out"
    assert main([*_args(genome, out, "higher-order"), *extra]) == 2
    assert message in caplog.text
    assert not out.exists()


def test_a_refused_option_leaves_an_existing_run_as_it_was(tmp_path, genome):
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out)]) == 0
    settings = (out / "settings.json").read_bytes()
    assert main(["-q", *_args(genome, out), "--tile-size", "300000"]) == 2
    assert (out / "settings.json").read_bytes() == settings
    assert main(["-q", *_args(genome, out)]) == 0  # the corrected command resumes


def test_the_chosen_batch_says_what_it_costs(tmp_path, genome, caplog):
    caplog.set_level("INFO", logger="creme_fast")
    assert main(["--log-level", "INFO", *_args(genome, tmp_path / "r"), "--batch-size", "16",
                 "--max-batch-memory", "1G"]) == 0
    assert "batches of 16: 9.0 MiB of engine buffers (budget 1.0 GiB)" in caplog.text


# --- 9, 10. paths: a file as --out, a full disk, a stale index, a foreign directory ---

def test_out_that_is_a_file(tmp_path, genome, caplog):
    out = tmp_path / "file"
    out.write_text("mine\n")
    assert main(_args(genome, out)) == 2
    assert "is a file, not a directory" in caplog.text and out.read_text() == "mine\n"


def test_a_full_disk_is_named(tmp_path, genome, caplog, monkeypatch):
    def full(self, path, **kwargs):
        raise OSError("IOError: No space left on device. Detail: [errno 28]")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    out = tmp_path / "run"
    assert main(_args(genome, out)) == 1
    assert "cannot write" in caplog.text and str(out / "results") in caplog.text
    assert "free some space or choose another --out" in caplog.text
    assert "Traceback" not in caplog.text
    assert not list((out / "results").glob(".*"))  # no temporary file left


def test_a_stale_fasta_index_is_refused(tmp_path, genome, caplog):
    src = genome[0]
    fa = tmp_path / "g.fa"
    lines = Path(src).read_text().splitlines()
    fa.write_text("\n".join(lines) + "\n")
    fai = Path(f"{fa}.fai")
    fai.write_bytes(Path(f"{src}.fai").read_bytes())
    # rewrap to 80 columns: the old index (60) is now newer than the FASTA and wrong
    text = "".join(line + "\n" if line.startswith(">") else line for line in lines)
    records = text.split(">")[1:]
    with open(fa, "w") as fh:
        for record in records:
            header, seq = record.split("\n", 1)
            fh.write(f">{header}\n" + "".join(seq[i:i + 80] + "\n"
                                                for i in range(0, len(seq), 80)))
    os.utime(fai, (time.time() + 10, time.time() + 10))
    out = tmp_path / "run"
    assert main(_args(genome, out, fasta=fa)) == 2
    assert f"{fai}: this index does not match g.fa" in caplog.text
    assert "delete it and it is rebuilt" in caplog.text and not out.exists()
    fai.unlink()
    assert main(["-q", *_args(genome, out, fasta=fa)]) == 0


def test_no_resume_never_deletes_what_creme_fast_did_not_write(tmp_path, genome, caplog):
    out = tmp_path / "project"
    (out / "results").mkdir(parents=True)
    (out / "settings.json").write_text('{"theme": "dark"}\n')
    (out / "results" / "notes.txt").write_text("precious\n")
    assert main([*_args(genome, out), "--no-resume"]) == 2
    assert "that creme-fast did not write" in caplog.text
    assert (out / "results" / "notes.txt").read_text() == "precious\n"
    run = tmp_path / "run"  # in a run directory, --no-resume removes only its own files
    assert main(["-q", *_args(genome, run)]) == 0
    (run / "results" / "mine.txt").write_text("keep\n")
    assert main(["-q", *_args(genome, run), "--no-resume"]) == 0
    assert (run / "results" / "mine.txt").read_text() == "keep\n"


# --- 11. smaller messages ------------------------------------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("empty.tsv", b"", "empty.tsv: the TSS table is empty"),
    ("binary.tsv", bytes(range(256)) * 4, "binary.tsv: a binary file, not a TSS table"),
    ("genes.tsv", gzip.compress(b"chrom\ttss\tstrand\tname\n"),
     "genes.tsv: gzip-compressed, but the name does not end in .gz"),
])
def test_unreadable_tables_are_named(tmp_path, genome, caplog, name, content, message):
    tss = tmp_path / name
    tss.write_bytes(content)
    assert main(_args(genome, tmp_path / "out", tss=tss)) == 2
    assert message in caplog.text and not (tmp_path / "out").exists()


def test_plain_gzip_fasta_says_what_to_do(tmp_path, genome, caplog):
    fa = tmp_path / "g.fa.gz"
    fa.write_bytes(gzip.compress(Path(genome[0]).read_bytes()))
    assert main(_args(genome, tmp_path / "out", fasta=fa)) == 2
    assert "compressed with plain gzip" in caplog.text and "bgzip" in caplog.text


GTF_LNC = ('chr1\tx\ttranscript\t101\t900\t.\t+\t.\tgene_id "g1"; transcript_id "t1"; '
           'gene_type "lncRNA";\n')
GFF3 = ("##gff-version 3\n"
        "chr1\tensembl\tgene\t120001\t130000\t.\t+\t.\tID=gene:G1;Name=ONE;"
        "biotype=protein_coding;gene_id=G1\n"
        "chr1\tensembl\tmRNA\t120001\t130000\t.\t+\t.\tID=transcript:T1;Parent=gene:G1;"
        "biotype=protein_coding;transcript_id=T1\n"
        "chr1\tensembl\tlnc_RNA\t120001\t125000\t.\t+\t.\tID=transcript:T2;Parent=gene:G1;"
        "biotype=lncRNA;transcript_id=T2\n"
        "chr1\tensembl\tmRNA\t140001\t150001\t.\t-\t.\tID=transcript:T3;Parent=gene:G1;"
        "biotype=protein_coding;transcript_id=T3\n")


def test_annotation_hints(tmp_path):
    gtf = tmp_path / "lnc.gtf"
    gtf.write_text(GTF_LNC)
    with pytest.raises(TssTableError, match="none of the 1 transcript records is protein-coding"
                       ".*--all-biotypes"):
        read_tss(gtf)
    assert list(read_tss(gtf, protein_coding=False)["name"]) == ["t1"]
    gff = tmp_path / "ensembl.gff3"
    gff.write_text(GFF3)
    table = read_tss(gff)  # Ensembl's mRNA features and biotype= need no flags
    # two transcripts of gene ONE (named on its gene record): GENE|transcript id
    assert list(table["name"]) == ["ONE|T1", "ONE|T3"]
    assert list(table["tss"]) == [120_000, 150_000]
    assert list(table["transcript_id"]) == ["T1", "T3"] and list(table["gene_id"]) == ["G1"] * 2
    genes = read_tss(gff, gtf_feature="gene")
    assert list(genes["name"]) == ["ONE"] and list(genes["gene_id"]) == ["G1"]


def _wait_for_import(pid: int, library: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if library in Path(f"/proc/{pid}/maps").read_text():
                return
        except OSError:
            return
        time.sleep(0.005)


def test_ctrl_c_while_starting_prints_no_traceback(tmp_path, genome):
    proc = subprocess.Popen([sys.executable, "-m", "creme_fast", *_args(genome, tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_import(proc.pid, "numpy")  # inside the CLI's imports, before any work
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err


# --- 13. progress in mutants across the run ---------------------------------------

@pytest.mark.parametrize("test", ["activity", "context", "necessity", "sufficiency"])
def test_progress_counts_the_models_passes(genome, test):
    from creme_fast.runs.progress import expected_mutants

    path, _, _ = genome
    config = StepConfig(tile_size=40_000, num_shuffles=2, bins=(447, 448))
    rows = pd.DataFrame([GENES[0], GENES[4]], columns=["name", "chrom", "tss", "strand"])
    with Genome(path) as g:
        tokens = np.stack([g.window(c, t, s, L) for _, c, t, s in rows.itertuples(index=False)])
    task = ChunkTask(index=0, tokens=tokens, keys=np.arange(2), rows=rows)
    result = run_chunk(load_synthetic(), test, task, config)
    assert result.mutants == 2 * expected_mutants(test, config, L)


def test_the_bar_shows_mutants_rate_and_loci(tmp_path, genome, capsys):
    from creme_fast.runs.progress import expected_mutants

    tss = write_tss(tmp_path, GENES[:2])
    assert main([*_args(genome, tmp_path / "run", "necessity", tss=tss)]) == 0
    err = capsys.readouterr().err
    total = 2 * expected_mutants("necessity", StepConfig(tile_size=20000, num_shuffles=2), L)
    assert f"{total}/{total}" in err and "mutant/s" in err and "2 loci done, 0 left" in err


# --- 14. unknown engine options are errors ------------------------------------------

def test_unknown_engine_options_are_a_type_error():
    predictor = CallablePredictor(lambda x: np.ones((len(x), 2, 1)), seq_length=100)
    seq = np.zeros(100, dtype=np.uint8)
    with pytest.raises(TypeError, match=r"unknown option 'batchsize' \(did you mean "
                                        r"'batch_size'\?\); the engine options are batch_size"):
        assays.necessity(predictor, seq, tiles=[(10, 20)], num_shuffles=1, batchsize=64)
    with pytest.raises(TypeError, match="unknown option 'from_the_future'"):
        assays.context_dependence(predictor, seq, tss_tile=(40, 60), num_shuffles=1,
                                  verbose=False, from_the_future=True)


# --- the run directory's lock, on its own --------------------------------------------

def test_the_lock_is_released_and_names_its_holder(tmp_path):
    store = RunStore(tmp_path / "d")
    with store:
        text = (tmp_path / "d" / ".lock").read_text()
        assert text.startswith(f"pid {os.getpid()} on ")
        with pytest.raises(ValueError, match=f"pid {os.getpid()}"):
            RunStore(tmp_path / "d").lock()
    RunStore(tmp_path / "d").lock()  # released


def test_settings_mismatch_names_the_differing_hashes_briefly(tmp_path):
    store = RunStore(tmp_path / "d")
    with store:
        store.open({}, {"fasta": "a" * 64}, True)
    with RunStore(tmp_path / "d") as again, pytest.raises(ValueError) as info:
        again.open({}, {"fasta": "b" * 64}, True)
    assert "fasta: 'aaaaaaaaaaaaaaaaaaaa... -> 'bbbbbbbbbbbbbbbbbbbb..." in str(info.value)
    assert json.loads((tmp_path / "d" / "settings.json").read_text())["identity"] == {
        "fasta": "a" * 64}


# --- 13. an export says which stage it is in, and how long each took ----------------

def test_export_logs_its_stages_with_times(tmp_path, caplog):
    torch = pytest.importorskip("torch")
    from creme_fast.export import export_module

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv1d(4, 2, 5, padding=2)

        def forward(self, x):
            return self.conv(x.transpose(1, 2)).transpose(1, 2)

    caplog.set_level("INFO", logger="creme_fast")
    export_module(Tiny().eval(), tmp_path / "tiny.onnx", seq_length=64)
    text = caplog.text
    stages = ["stage 1/4: PyTorch reference", "stage 2/4: tracing", "stage 3/4: verifying",
              "stage 4/4: writing"]
    assert [text.index(s) for s in stages] == sorted(text.index(s) for s in stages)
    for done in ("reference done in", "tracing (", "verification done in", "writing done in"):
        assert done in text


# --- 12. the Python API bounds a batch's buffers too ---------------------------------

def test_the_api_refuses_a_batch_over_its_byte_budget():
    predictor = CallablePredictor(lambda x: np.ones((len(x), 2, 1)), seq_length=1000,
                                  tss_bins=[0, 1])
    seq = np.zeros(1000, dtype=np.uint8)
    # a batch of 4096 on 1 + 3 mutants holds 4 sequences: 3 slots x (1000 + 16000) bytes each
    with pytest.raises(ValueError, match=r"batch_size 4 needs 199.2 KiB of batch buffers "
                                         r"\(49.8 KiB per sequence at 1,000 bp\), over "
                                         r"max_batch_bytes 100.0 KiB; the largest batch that "
                                         r"fits is 2"):
        assays.context_dependence(predictor, seq, tss_tile=(400, 600), num_shuffles=3,
                                  verbose=False, batch_size=4096, max_batch_bytes=100 * 1024)
    result = assays.context_dependence(predictor, seq, tss_tile=(400, 600), num_shuffles=3,
                                       verbose=False, batch_size=2, max_batch_bytes=100 * 1024)
    assert result.mut.shape[1] == 3
