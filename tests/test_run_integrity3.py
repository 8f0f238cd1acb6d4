"""Run integrity, third round (issue 27): stale indexes, unchecked constants, quoted GTF
values, incomplete merges, poisoned settings, unclear errors.

Each test reproduces one numbered observation of the issue (the number is in its
section title); each failed on the code before the fix.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from genome_fixtures import GENES
from test_run_integrity import FAST, _args, genome  # noqa: F401  (the first round's helpers)

from creme_fast.cli import main
from creme_fast.io.genome import Genome
from creme_fast.io.tss import TssTableError, read_tss
from creme_fast.runtime import OnnxPredictor
from creme_fast.synthetic.model import synthetic_model_path

SMALL_L = 2048


def _fasta_copy(genome, directory: Path) -> Path:
    """A copy of the test genome with its own, freshly built .fai."""
    fa = directory / "genome.fa"
    shutil.copy(genome[0], fa)
    Genome(fa).close()
    return fa


def _edit_fai(fa: Path, row: int, length_delta: int = 0, drop: bool = False) -> None:
    fai = Path(f"{fa}.fai")
    lines = fai.read_text().splitlines()
    if drop:
        del lines[row]
    else:
        fields = lines[row].split("\t")
        fields[1] = str(int(fields[1]) + length_delta)
        lines[row] = "\t".join(fields)
    fai.write_text("\n".join(lines) + "\n")


# --- 1. a stale .fai whose last record was shortened ---------------------------------

@pytest.mark.parametrize("row, chrom", [(2, "chr3"), (0, "chr1")])
def test_a_fai_with_a_shortened_record_is_stale(tmp_path, genome, caplog, row, chrom):
    fa = _fasta_copy(genome, tmp_path)
    tss = tmp_path / "one.tsv"
    gene = next(g for g in GENES if g[1] == chrom)
    pd.DataFrame([gene], columns=["name", "chrom", "tss", "strand"]).to_csv(
        tss, sep="\t", index=False)
    out = tmp_path / "out"
    assert main(["-q", *_args(genome, out, tss=tss, fasta=fa)]) == 0  # the good index
    wild_type = pd.read_parquet(out / "summary.parquet")["activity"].to_numpy()
    _edit_fai(fa, row, -1000)  # pyfaidx would pad the last 1,000 bp with N
    stale = tmp_path / "stale"
    assert main(["-q", *_args(genome, stale, tss=tss, fasta=fa)]) == 2
    assert f"genome.fa.fai: this index does not match genome.fa ({chrom} " in caplog.text
    assert "stale" in caplog.text and not stale.exists()
    _edit_fai(fa, row, +1000)  # restored: the same activity as before
    assert main(["-q", *_args(genome, tmp_path / "again", tss=tss, fasta=fa)]) == 0
    np.testing.assert_array_equal(
        pd.read_parquet(tmp_path / "again" / "summary.parquet")["activity"], wild_type)


# --- 2. the weights checksum covers every tensor the graph holds ---------------------

@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """A small Enformer export (no pieces) and the name of its largest float Constant."""
    import onnx
    from enformer_fixtures import make_small_enformer
    from onnx import numpy_helper

    from creme_fast.export import export_enformer

    directory = tmp_path_factory.mktemp("export")
    good = directory / "small.onnx"
    export_enformer(make_small_enformer(), good, seq_length=SMALL_L, tracks=[1, 5],
                    input_kind="tokens", incremental=False)
    model = onnx.load(str(good))
    constants = [(numpy_helper.to_array(n.attribute[0].t).size, n.output[0])
                 for n in model.graph.node if n.op_type == "Constant"
                 and n.attribute[0].type == onnx.AttributeProto.TENSOR
                 and numpy_helper.to_array(n.attribute[0].t).dtype == np.float32]
    return good, max(constants)[1]


def _flip_constant(source: Path, target: Path, output: str) -> Path:
    """``source`` with the exponent bits of the Constant node ``output`` flipped (its
    metadata, and so its recorded checksum, kept)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    node = next(n for n in model.graph.node if n.output[0] == output)
    values = numpy_helper.to_array(node.attribute[0].t).copy()
    values.reshape(-1).view(np.uint32)[:] ^= np.uint32(1 << 23)
    node.attribute[0].t.CopyFrom(numpy_helper.from_array(values, node.attribute[0].t.name))
    onnx.save(model, str(target))
    return target


def test_an_altered_constant_is_refused(small_export, tmp_path, genome, caplog, capsys):
    good, constant = small_export
    assert "to_rel_k" in constant  # the positional features, as in the issue
    altered = _flip_constant(good, tmp_path / "altered.onnx", constant)
    tokens = np.random.default_rng(0).integers(0, 4, (2, SMALL_L), dtype=np.uint8)
    import onnxruntime as ort  # the constant changes the outputs: checked without creme-fast

    def raw(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: tokens})[0]

    assert np.abs(raw(altered) - raw(good)).max() > 1e-4
    with pytest.raises(ValueError, match=f"{altered}: weights checksum MISMATCH"):
        OnnxPredictor(altered)
    assert main(["info", str(altered)]) == 1
    assert "weights checksum   MISMATCH" in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["run", "activity", "--model", str(altered), "--fasta", str(genome[0]),
                 "--tss", str(genome[2]), "--out", str(out)]) == 2
    assert "weights checksum MISMATCH" in caplog.text and not out.exists()
    OnnxPredictor(good)  # the untouched export loads


def test_the_synthetic_model_is_checksummed(tmp_path):
    import onnx
    from onnx import numpy_helper

    from creme_fast.runtime.checksum import weights_sha256, weights_sha256_of_bytes

    model = onnx.load(str(synthetic_model_path()))
    assert not model.graph.initializer  # its weights are Constant nodes
    node = next(n for n in model.graph.node if n.op_type == "Constant"
                and numpy_helper.to_array(n.attribute[0].t).dtype.kind == "f"
                and numpy_helper.to_array(n.attribute[0].t).size > 1)
    altered = _flip_constant(synthetic_model_path(), tmp_path / "s.onnx", node.output[0])
    with pytest.raises(ValueError, match="weights checksum MISMATCH"):
        OnnxPredictor(altered)
    for path in (synthetic_model_path(), altered):
        data = Path(path).read_bytes()
        assert weights_sha256_of_bytes(data) == weights_sha256(onnx.load_from_string(data))
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert OnnxPredictor(synthetic_model_path()).metadata.checksum != empty


def test_an_export_from_before_the_constants_were_covered_loads_with_a_warning(
        small_export, tmp_path, caplog):
    """An export whose metadata predates checksum version 2 recorded the initializers
    only: it is checked on those, and the load says what is not covered."""
    import onnx

    from creme_fast.runtime.checksum import weights_sha256
    from creme_fast.runtime.metadata import METADATA_KEY

    good, constant = small_export
    model = onnx.load(str(good))
    prop = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(prop.value)
    meta.pop("checksum_version")
    meta["format_version"] = 1
    meta["checksum"] = weights_sha256(model, version=1)
    prop.value = json.dumps(meta)
    old = tmp_path / "old.onnx"
    onnx.save(model, str(old))
    with caplog.at_level(logging.WARNING):
        OnnxPredictor(old)
    assert "covers its initializers only" in caplog.text and "re-export" in caplog.text
    assert main(["info", str(old)]) == 0


# --- 3. GTF/GFF attribute values are data, quoted or %-encoded ------------------------

GTF_HASH = (
    '#!genome-build test\n'
    'chr1\tsrc\ttranscript\t1001\t2000\t.\t+\t.\tgene_id "G1"; transcript_id "ENST01#alt"; '
    'gene_name "B#2"; gene_type "protein_coding"; # a trailing comment\n'
    'chr1\tsrc\ttranscript\t3001\t4000\t.\t-\t.\tgene_id "G2"; transcript_id "ENST02"; '
    'gene_name "C; D"; gene_type "protein_coding";\n')


def test_quoted_gtf_values_are_kept_whole(tmp_path):
    gtf = tmp_path / "a.gtf"
    gtf.write_text(GTF_HASH)
    table = read_tss(gtf)
    assert list(table["name"]) == ["B#2", "C; D"]
    assert list(table["transcript_id"]) == ["ENST01#alt", "ENST02"]
    assert list(table["gene_id"]) == ["G1", "G2"] and list(table["tss"]) == [1000, 3999]
    gff = tmp_path / "a.gff3"
    gff.write_text("##gff-version 3\n"
                   "chr1\tsrc\tmRNA\t101\t200\t.\t+\t.\tID=T%3B1;gene_name=A%2CB#1;"
                   "biotype=protein_coding\n")
    table = read_tss(gff)
    assert list(table["name"]) == ["A,B#1"] and list(table["transcript_id"]) == ["T;1"]


# --- 4. merge refuses an incomplete set of shards ------------------------------------

@pytest.fixture(scope="module")
def shards(genome, tmp_path_factory):
    directory = tmp_path_factory.mktemp("shards")
    for k in (1, 2, 3):
        assert main(["-q", *_args(genome, directory / f"s{k}"), "--shard", f"{k}/3"]) == 0
    return directory


def test_merge_refuses_missing_shards(shards, tmp_path, caplog):
    out = tmp_path / "merged"
    assert main(["merge", str(shards / "s1"), str(shards / "s2"), "--out", str(out)]) == 2
    assert "shard 3/3 is missing" in caplog.text and "--allow-partial" in caplog.text
    assert not out.exists()
    caplog.clear()
    assert main(["merge", str(shards / "s1"), str(shards / "s2"), "--out", str(out),
                 "--allow-partial"]) == 0
    assert "shard 3/3 is missing" in caplog.text
    assert len(pd.read_parquet(out / "summary.parquet")["name"].unique()) == 6
    settings = json.loads((out / "settings.json").read_text())
    assert settings["missing_shards"] == ["3/3"]
    full = tmp_path / "full"
    assert main(["-q", "merge", *(str(shards / f"s{k}") for k in (3, 1, 2)), "--out",
                 str(full)]) == 0
    assert len(pd.read_parquet(full / "summary.parquet")["name"].unique()) == len(GENES)


# --- 5. merge refuses a summary the settings do not describe -------------------------

def test_merge_refuses_a_stale_summary(shards, genome, tmp_path, caplog, monkeypatch):
    from creme_fast.runs import runner

    shard = tmp_path / "s3"
    shutil.copytree(shards / "s3", shard)
    bigger = tmp_path / "bigger.tsv"
    extra = [("geneX", "chr2", 150_000, "+"), ("geneY", "chr2", 160_000, "+"),
             ("geneZ", "chr2", 170_000, "-")]
    pd.DataFrame(GENES + extra, columns=["name", "chrom", "tss", "strand"]).to_csv(
        bigger, sep="\t", index=False)

    def killed(*args, **kwargs):  # the rerun dies before its summary is written
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "write_outputs", killed)
    assert main(["-q", *_args(genome, shard, tss=bigger), "--shard", "3/3"]) == 130
    monkeypatch.undo()
    out = tmp_path / "merged"
    assert main(["merge", str(shards / "s1"), str(shards / "s2"), str(shard), "--out",
                 str(out)]) == 2
    assert f"{shard}" in caplog.text and "not finished" in caplog.text
    assert not out.exists()
    # a summary left by an older version beside settings of another table is named too
    settings = json.loads((shards / "s3" / "settings.json").read_text())
    old = tmp_path / "old"
    shutil.copytree(shards / "s3", old)
    (old / "settings.json").write_text(json.dumps({**settings, "n_loci": 4}))
    caplog.clear()
    assert main(["merge", str(shards / "s1"), str(shards / "s2"), str(old), "--out",
                 str(out)]) == 2
    assert "summary.parquet holds 2 loci" in caplog.text and "4 loci" in caplog.text


# --- 6. the workflow's config is validated (see also test_workflow.py) ----------------

def test_a_workflow_config_typo_is_an_error(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("snakemake")
    assert main(["workflow", "init", str(tmp_path / "wf")]) == 0
    import yaml

    config = yaml.safe_load((tmp_path / "wf" / "config.yaml").read_text())
    assert config["model"] is None  # no default model: a user must name one
    typo = tmp_path / "typo.yaml"
    typo.write_text("modle: my.onnx\nfasta: g.fa\ntss: genes.tsv\nout: screen\n")
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s",
                           str(tmp_path / "wf" / "Snakefile"), "--configfile", str(typo),
                           "-n", "--cores", "1", "--directory", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "unknown key 'modle' (did you mean 'model'?)" in text
    assert "'model' is a required property" in text


# --- 7. parquet columns are type-checked as TSV columns are ---------------------------

@pytest.mark.parametrize("column, value", [("tss", True), ("tss", "120000"),
                                           ("cre_start", True)])
def test_parquet_columns_are_type_checked(tmp_path, column, value):
    row = {"chrom": "chr1", "tss": 120_000, "strand": "+", "name": "geneA",
           "cre_start": 1000, "cre_end": 2000}
    row[column] = value
    path = tmp_path / "t.parquet"
    pd.DataFrame([row]).to_parquet(path)
    tsv = tmp_path / "t.tsv"
    pd.DataFrame([row]).to_csv(tsv, sep="\t", index=False)
    if value is True:
        with pytest.raises(TssTableError, match=f"t.parquet: line 1: {column} True is not an "
                           "integer"):
            read_tss(path)
        with pytest.raises(TssTableError, match=f"t.tsv: line 2: {column} 'True' is not an "
                           "integer"):
            read_tss(tsv)
    else:  # text holding a whole number reads as it does in a TSV
        assert read_tss(path)["tss"].tolist() == read_tss(tsv)["tss"].tolist() == [120_000]


# --- 8. a summary narrowed to one track is followed on that track; --rounds fits -----

def test_a_table_of_one_track_is_followed_on_it(tmp_path, genome, caplog):
    table = tmp_path / "narrowed.parquet"
    pd.DataFrame([{**dict(zip(["name", "chrom", "tss", "strand"], GENES[0])), "track": 1,
                   "cre_start": 110_000, "cre_end": 110_500}]).to_parquet(table)
    out = tmp_path / "ft"
    with caplog.at_level(logging.INFO):
        assert main(["run", "fine-tile", *_args(genome, out, tss=table)[2:]]) == 0
    assert "follows track 1" in caplog.text
    assert set(pd.read_parquet(out / "summary.parquet")["track"]) == {1}
    caplog.clear()  # another --track than the table's is said
    assert main(["-q", "run", "fine-tile", *_args(genome, tmp_path / "t0", tss=table)[2:],
                 "--track", "0"]) == 0
    assert "--track 0 is not the track of the table's rows (1)" in caplog.text


def test_more_rounds_than_tiles_are_refused(tmp_path, genome, caplog):
    out = tmp_path / "ho"
    args = _args(genome, out, "higher-order")
    args[args.index("--tile-size") + 1] = "65536"  # one tile beside the TSS tile
    assert main([*args, "--rounds", "3"]) == 2
    assert "--rounds 3: a 196,608 bp window has 1 tile beside the TSS tile" in caplog.text
    assert not out.exists()


# --- 9. a refused resume writes nothing ---------------------------------------------

def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_a_refused_resume_writes_nothing(tmp_path, genome, caplog):
    out = tmp_path / "run"
    assert main(["-q", *_args(genome, out)]) == 0
    before = _tree(out)
    moved = tmp_path / "moved.tsv"
    table = pd.read_csv(genome[2], sep="\t")
    table.loc[0, "tss"] += 10
    table.to_csv(moved, sep="\t", index=False)
    assert main(["-q", *_args(genome, out, tss=moved)]) == 2
    assert "geneA: tss 120000 -> 120010" in caplog.text
    assert _tree(out) == before  # settings.json still names the table of the results


# --- 10. plot file names are unique and say which gene is which ----------------------

def test_plot_file_names_are_unique(tmp_path, genome, caplog):
    table = tmp_path / "names.tsv"
    genes = pd.DataFrame(GENES[:3], columns=["name", "chrom", "tss", "strand"])
    genes["name"] = ["A/B", "A_B", "A B"]
    genes.to_csv(table, sep="\t", index=False)
    run = tmp_path / "run"
    args = _args(genome, run, "higher-order", tss=table)
    args[args.index("--tile-size") + 1] = "40000"
    assert main(["-q", *args, "--rounds", "1"]) == 0
    figures = tmp_path / "figures"
    with caplog.at_level(logging.INFO):
        assert main(["plot", str(run), "--out", str(figures), "--format", "png"]) == 0
    index = pd.read_csv(figures / "index.tsv", sep="\t", keep_default_na=False)
    per_gene = index[index["gene"] != ""]
    assert sorted(per_gene["gene"]) == ["A B", "A/B", "A_B"]
    assert per_gene["file"].is_unique
    for file in index["file"]:
        assert (figures / file).is_file()
    assert len(list(figures.glob("*.png"))) == len(index) == 4  # 3 genes and the summary
    assert "'A/B' is drawn in" in caplog.text


# --- 11. a refused merge or shard writes nothing ---------------------------------------

def test_a_merge_refused_for_a_bad_part_writes_nothing(shards, tmp_path, caplog):
    bad = tmp_path / "s2"
    shutil.copytree(shards / "s2", bad)
    last = sorted((bad / "results").glob("part-*.parquet"))[-1]
    last.write_bytes(b"not parquet")
    out = tmp_path / "merged"
    assert main(["merge", str(shards / "s1"), str(bad), str(shards / "s3"), "--out",
                 str(out)]) == 2
    assert f"{last}: not a creme-fast results part" in caplog.text
    assert not out.exists()


def test_an_impossible_shard_count_writes_nothing(tmp_path, genome, capsys):
    out = tmp_path / "run"
    for shard in ("5/9223372036854775807", "1/99999999999999999999999"):
        with pytest.raises(SystemExit) as stop:
            main(["-q", *_args(genome, out), "--shard", shard])
        assert stop.value.code == 2
        assert "at most 1,000,000 shards" in capsys.readouterr().err
        assert not out.exists()


# --- 12. plot draws the run's loci, and only a finished run ---------------------------

def test_plot_draws_only_the_loci_of_the_summary(tmp_path, genome, caplog):
    table = tmp_path / "three.tsv"
    pd.DataFrame(GENES[:3], columns=["name", "chrom", "tss", "strand"]).to_csv(
        table, sep="\t", index=False)
    run = tmp_path / "run"
    args = _args(genome, run, "higher-order", tss=table)
    args[args.index("--tile-size") + 1] = "40000"
    assert main(["-q", *args, "--rounds", "1"]) == 0
    two = tmp_path / "two.tsv"  # rerun on two of them: geneC stays on disk only
    pd.read_csv(table, sep="\t").head(2).to_csv(two, sep="\t", index=False)
    args[args.index("--tss") + 1] = str(two)
    assert main(["-q", *args, "--rounds", "1"]) == 0
    figures = tmp_path / "figures"
    assert main(["-q", "plot", str(run), "--out", str(figures), "--format", "png"]) == 0
    drawn = pd.read_csv(figures / "index.tsv", sep="\t", keep_default_na=False)["gene"]
    assert set(drawn) - {""} == {"geneA", "geneB"}
    (run / "summary.parquet").unlink()  # a run (or merge) killed before its summary
    caplog.clear()
    assert main(["-q", "plot", str(run), "--out", str(tmp_path / "f2")]) == 2
    assert f"{run}: no summary.parquet" in caplog.text and "not finished" in caplog.text
    assert not (tmp_path / "f2").exists()


# --- 13. thread and shard counts are bounded -------------------------------------------

def test_thread_counts_are_bounded_by_the_machine(tmp_path, genome, capsys, caplog):
    cores = len(os.sched_getaffinity(0))
    for threads in ("4294967296", str(4 * cores + 1)):
        with pytest.raises(SystemExit) as stop:
            main(["-q", *_args(genome, tmp_path / "run"), "--threads", threads])
        assert stop.value.code == 2
        assert f"at most {4 * cores} (4 x the {cores} cores" in capsys.readouterr().err
    out = tmp_path / "ok"
    assert main(["-q", *_args(genome, out), "--threads", str(cores + 1)]) == 0
    assert f"--threads {cores + 1} is more than the {cores} cores" in caplog.text


# --- 14. bad parts and failed.tsv are named on resume, merge and plot --------------------

@pytest.mark.parametrize("damage", ["empty", "junk", "no name column"])
def test_a_damaged_part_is_named_everywhere(shards, genome, tmp_path, caplog, damage):
    run = tmp_path / "s1"
    shutil.copytree(shards / "s1", run)
    part = sorted((run / "results").glob("part-*.parquet"))[0]
    if damage == "empty":
        part.write_bytes(b"")
    elif damage == "junk":
        part.write_bytes(b"PAR1 and then nothing useful")
    else:
        pd.read_parquet(part).drop(columns="name").to_parquet(part)
    commands = {"resume": [*_args(genome, run), "--shard", "1/3"],
                "merge": ["merge", str(run), str(shards / "s2"), str(shards / "s3"), "--out",
                          str(tmp_path / "m")],
                "plot": ["plot", str(run), "--out", str(tmp_path / "f")]}
    for command, argv in commands.items():
        caplog.clear()
        assert main(["-q", *argv]) == 2, command
        assert f"{part}: " in caplog.text, command
        assert "Traceback" not in caplog.text


@pytest.mark.parametrize("text", ["", "gene\n", "name\terror\n\"x\tunclosed\n"])
def test_a_malformed_failed_tsv_is_named(shards, tmp_path, caplog, text):
    run = tmp_path / "s1"
    shutil.copytree(shards / "s1", run)
    (run / "failed.tsv").write_text(text)
    assert main(["-q", "merge", str(run), str(shards / "s2"), str(shards / "s3"), "--out",
                 str(tmp_path / "m")]) == 2
    assert f"{run / 'failed.tsv'}: " in caplog.text
    assert not (tmp_path / "m").exists()


# --- 15. the rest: errors that name the problem ------------------------------------------

def test_an_unwritable_log_file_is_said_once(tmp_path, genome, capfd):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    code = main([*_args(genome, tmp_path / "run"), "--log-file", "/dev/full"])
    err = capfd.readouterr().err
    assert code == 0
    assert "Traceback" not in err
    assert err.count("--log-file /dev/full: cannot write") == 1


def test_a_fai_missing_a_record_is_blamed(tmp_path, genome, caplog):
    fa = _fasta_copy(genome, tmp_path)
    _edit_fai(fa, 2, drop=True)
    out = tmp_path / "run"
    assert main(_args(genome, out, fasta=fa)) == 2
    assert "genome.fa.fai: this index does not match genome.fa" in caplog.text
    assert "it has no record for '>chr3" in caplog.text and not out.exists()


def test_targets_tables_are_read_by_line(tmp_path):
    from creme_fast.io.targets import TargetsError, read_targets

    header = "index\tgenome\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n"
    path = tmp_path / "targets.txt"
    path.write_text(header + "0\t0\tX\tf\t1\t1\tsum\tCAGE:a\t\n1\t0\tY\tf\t1\t1\tsum\tCAGE:b\t\n")
    assert read_targets(path) == {0: "CAGE:a", 1: "CAGE:b"}  # trailing tabs are no column
    path.write_text(header + "0\t0\tX\tf\t1\t1\tsum\t \n")
    with pytest.raises(TargetsError, match=r"targets.txt: line 2, column 8: empty "
                       "description"):
        read_targets(path)


@pytest.mark.parametrize("name, text, message", [
    ("tab.tsv", 'name\tchrom\ttss\tstrand\n"a\tb"\tchr1\t100\t+\n',
     r"line 2: name 'a\\tb' holds a tab or line break"),
    ("newline.tsv", 'name\tchrom\ttss\tstrand\n"a\nb"\tchr1\t100\t+\n',
     r"line 2: name 'a\\nb' holds a tab or line break"),
    ("zero.gtf", 'chr1\ts\ttranscript\t0\t10\t.\t+\t.\tgene_id "G"; transcript_id "T"; '
     'gene_type "protein_coding";\n', r"line 1, column 4: start 0 .*1-based"),
    ("reversed.gtf", 'chr1\ts\ttranscript\t100\t10\t.\t+\t.\tgene_id "G"; transcript_id '
     '"T"; gene_type "protein_coding";\n', r"line 1, column 5: end 10 is before start 100"),
    ("reversed.bed", "chr1\t100\t10\tx\t0\t+\n", r"line 1, column 3: end 10 is not after "
     "start 100"),
    ("unclosed.gtf", 'chr1\ts\ttranscript\t1\t10\t.\t+\t.\tgene_id "G; transcript_id "T";\n',
     r"line 1, column 9: .*quote"),
])
def test_bad_annotation_records_are_named(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TssTableError, match=f"{name}: {message}"):
        read_tss(path, protein_coding=False)


def test_a_gff3_fasta_section_ends_the_records(tmp_path):
    path = tmp_path / "a.gff3"
    path.write_text("##gff-version 3\n# a comment\n"
                    "chr1\ts\tmRNA\t100\t200\t.\t+\t.\tID=T1;Name=x;biotype=protein_coding\n"
                    "##FASTA\n>chr1\nACGT\n")
    table = read_tss(path)
    assert list(table["transcript_id"]) == ["T1"] and list(table["line"]) == [3]
    path.write_text("##gff-version 3\nchr1\ts\tmRNA\t100\t200\t.\t+\t.\tID=T1\n"
                    "chr1\ts\tmRNA\t100\n")
    with pytest.raises(TssTableError, match="a.gff3: line 3: a GTF/GFF record needs 9"):
        read_tss(path, protein_coding=False)


def test_activity_takes_no_tile_size(small_export, tmp_path, caplog):
    good, _ = small_export
    fa = tmp_path / "g.fa"
    rng = np.random.default_rng(0)
    fa.write_text(">c\n" + "".join(rng.choice(list("ACGT"), 5000)) + "\n")
    tss = tmp_path / "t.tsv"
    tss.write_text("name\tchrom\ttss\tstrand\ng\tc\t2500\t+\n")
    out = tmp_path / "run"
    assert main(["run", "activity", "--model", str(good), "--fasta", str(fa), "--tss",
                 str(tss), "--out", str(out)]) == 0, caplog.text
    caplog.clear()  # a test that tiles still says the tile is too long
    assert main(["run", "necessity", "--model", str(good), "--fasta", str(fa), "--tss",
                 str(tss), "--out", str(tmp_path / "n")]) == 2
    assert "--tile-size 5000" in caplog.text


@pytest.mark.parametrize("extra, message", [
    (["--force"], "--force applies to --precision int8"),
    (["--min-spearman", "0.9"], "--min-spearman applies to --precision int8"),
    (["--tf-gamma", "--no-tf-gamma"], "--tf-gamma and --no-tf-gamma contradict each other"),
    (["--no-tf-gamma", "--tf-gamma"], "--tf-gamma and --no-tf-gamma contradict each other"),
])
def test_export_options_that_do_nothing_are_refused(tmp_path, caplog, capsys, extra, message):
    argv = ["export", "--checkpoint", str(tmp_path / "missing.pt"), "--out",
            str(tmp_path / "m.onnx"), *extra]
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    assert message in caplog.text + capsys.readouterr().err


def test_an_export_with_external_data_is_named(small_export, tmp_path, genome, caplog):
    import onnx

    good, _ = small_export
    model = onnx.load(str(good))
    external = tmp_path / "external.onnx"
    onnx.save(model, str(external), save_as_external_data=True, location="external.data",
              size_threshold=0)
    with pytest.raises(ValueError, match=f"{external}: its tensors are stored in external "
                       "data files.*onnx.save"):
        OnnxPredictor(external)


def test_abbreviated_options_are_refused(tmp_path, genome, capsys):
    with pytest.raises(SystemExit) as stop:  # a prefix was taken for --shuffles
        main([*_args(genome, tmp_path / "run"), "--shuf", "3"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --shuf" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# --- issue 32 item 3: names users search by ------------------------------------------------

def test_gtf_loci_are_named_by_gene_and_plot_finds_them(tmp_path, genome, caplog):
    gtf = tmp_path / "genes.gtf"
    record = ('chr1\tsrc\ttranscript\t{start}\t{end}\t.\t{strand}\t.\tgene_id "{gid}"; '
              'transcript_id "{tid}"; gene_name "{name}"; gene_type "protein_coding";\n')
    gtf.write_text(
        record.format(start=120_001, end=125_000, strand="+", gid="ENSG1", tid="ENST1",
                      name="MYC")
        + record.format(start=120_101, end=125_000, strand="+", gid="ENSG1", tid="ENST2",
                        name="MYC")
        + record.format(start=140_001, end=150_001, strand="-", gid="ENSG2", tid="ENST3",
                        name="TP53"))
    runs = {}
    for test, source in (("higher-order", gtf), ("multiplicity", None)):
        runs[test] = tmp_path / test
        args = _args(genome, runs[test], test, tss=gtf)
        args[args.index("--tile-size") + 1] = "40000"
        if test == "multiplicity":  # a run that holds TP53 only
            table = read_tss(gtf).query("gene_name == 'TP53'").assign(
                cre_start=110_000, cre_end=110_500).drop(columns="line")
            args[args.index("--tss") + 1] = str(tmp_path / "tp53.parquet")
            table.to_parquet(tmp_path / "tp53.parquet")
        assert main(["-q", *args, *(["--rounds", "1"] if test == "higher-order" else [])]) == 0
    summary = pd.read_parquet(runs["higher-order"] / "summary.parquet")
    assert list(summary["name"].unique()) == ["MYC|ENST1", "MYC|ENST2", "TP53"]
    figures = tmp_path / "figures"
    assert main(["plot", *map(str, runs.values()), "--gene", "MYC", "--gene", "TP53",
                 "--out", str(figures), "--format", "png"]) == 0
    index = pd.read_csv(figures / "index.tsv", sep="\t", keep_default_na=False)
    per_gene = index[index["gene"] != ""]
    assert set(zip(per_gene["test"], per_gene["gene"])) == {
        ("higher-order", "MYC|ENST1"), ("higher-order", "MYC|ENST2"),
        ("higher-order", "TP53"), ("multiplicity", "TP53")}
    assert f"{runs['multiplicity']}: no results for gene MYC" in caplog.text
