"""Genome input and ``creme-fast run`` (issue 6): windows, TSS tables, resumable runs,
kill-and-resume, and a corpus of bad inputs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from genome_fixtures import CHROMS, GENES, make_genome, write_tss

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.io.genome import Genome, GenomeError, window_bounds
from creme_fast.io.tss import TssTableError, check_against_genome, read_tss
from creme_fast.runs import locus_key
from creme_fast.schema.bed import BED_COLUMNS, read_elements_bed
from creme_fast.sequence.tokens import reverse_complement
from creme_fast.synthetic import load_synthetic

L = 196_608
FAST = ["--tile-size", "20000", "--shuffles", "2"]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("genome")
    path, seqs = make_genome(directory)
    return path, seqs, write_tss(directory)


def _expected_window(seq: np.ndarray, tss: int, strand: str, length: int) -> np.ndarray:
    start, end = window_bounds(tss, strand, length)
    out = np.full(length, 4, dtype=np.uint8)
    lo, hi = max(start, 0), min(end, seq.size)
    out[lo - start:hi - start] = seq[lo:hi]
    return reverse_complement(out) if strand == "-" else out


# --- genome windows ---------------------------------------------------------------


def test_windows_strand_padding_and_soft_masking(genome):
    path, seqs, _ = genome
    with Genome(path) as g:
        assert g.lengths == CHROMS
        for name, chrom, tss, strand in GENES:
            got = g.window(chrom, tss, strand, L)
            np.testing.assert_array_equal(got, _expected_window(seqs[chrom], tss, strand, L))
            base = seqs[chrom][tss]  # the TSS base sits at the centre on either strand
            assert got[L // 2] == (base if strand == "+" else 3 - base)
        near_start = g.window("chr1", 40, "+", L)
        assert (near_start[:L // 2 - 40] == 4).all() and (near_start[L // 2 - 40:] < 4).all()
        soft = g.window("chr1", 65_000, "+", 1000)  # inside the lower-case stretch
        np.testing.assert_array_equal(soft, seqs["chr1"][64_500:65_500])


def test_minus_strand_window_puts_the_promoter_where_the_model_reads_it(genome):
    path, _, _ = genome
    model = load_synthetic()
    with Genome(path) as g:
        plus = g.window("chr1", 120_000, "+", L)
        minus = g.window("chr1", 150_000, "-", L)
    act = model.predict(np.stack([plus, minus]))[:, 447:449].mean(axis=1)
    assert np.all(act > 1.0)  # promoter + an enhancer 12 kb upstream on both strands


def test_genome_errors_name_the_problem(tmp_path, genome):
    path, _, _ = genome
    with Genome(path) as g:
        with pytest.raises(GenomeError, match="'1'.*'chr1'.*chr1 versus 1"):
            g.window("1", 100, "+", 1000)
        with pytest.raises(GenomeError, match="outside the chromosome"):
            g.window("chr3", 70_000, "+", 1000)
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\nACGT\n")
    with pytest.raises(GenomeError, match="not a FASTA"):
        Genome(bad)
    with pytest.raises(GenomeError, match="not found"):
        Genome(tmp_path / "missing.fa")


def test_iupac_codes_are_named_with_their_coordinate(tmp_path):
    fa = tmp_path / "iupac.fa"
    fa.write_text(">c\n" + "A" * 500 + "R" + "C" * 499 + "\n")
    with Genome(fa) as g, pytest.raises(GenomeError, match=r"c:500 holds 'R'"):
        g.window("c", 500, "+", 200)


# --- TSS tables -----------------------------------------------------------------


def test_tss_table_formats(tmp_path):
    paper = tmp_path / "paper.csv"
    paper.write_text("gene_name,Chromosome,Start,Strand,score\nA,chr1,10,+,1\nB,chr2,20,-,2\n")
    t = read_tss(paper)
    assert list(t[["chrom", "tss", "strand", "name"]].itertuples(index=False, name=None)) == [
        ("chr1", 10, "+", "A"), ("chr2", 20, "-", "B")]
    assert "score" in t  # extra columns travel along
    bed = tmp_path / "genes.bed"
    bed.write_text("track name=x\nchr1\t100\t500\tA\t0\t+\nchr1\t100\t500\tB\t0\t-\n")
    t = read_tss(bed)
    assert list(t["tss"]) == [100, 499]  # start on +, end - 1 on -
    gtf = tmp_path / "genes.gtf"
    gtf.write_text(
        '#!genome-build test\n'
        'chr1\tx\tgene\t101\t900\t.\t+\t.\tgene_id "g1"; gene_name "A"; gene_type "protein_coding";\n'
        'chr1\tx\ttranscript\t101\t900\t.\t+\t.\tgene_id "g1"; transcript_id "t1"; gene_name "A"; gene_type "protein_coding";\n'
        'chr1\tx\ttranscript\t201\t800\t.\t-\t.\tgene_id "g2"; transcript_id "t2"; gene_name "B"; gene_type "protein_coding";\n'
        'chr1\tx\ttranscript\t301\t700\t.\t+\t.\tgene_id "g3"; transcript_id "t3"; gene_name "C"; gene_type "lncRNA";\n')
    t = read_tss(gtf)
    assert list(t["name"]) == ["A", "B"] and list(t["tss"]) == [100, 799]  # gene names
    assert list(t["transcript_id"]) == ["t1", "t2"] and list(t["gene_id"]) == ["g1", "g2"]
    assert len(read_tss(gtf, protein_coding=False)) == 3
    genes = read_tss(gtf, gtf_feature="gene")
    assert list(genes["name"]) == ["A"] and list(genes["gene_id"]) == ["g1"]


@pytest.mark.parametrize("text, message", [
    ("chrom,tss,strand\nchr1,10,+\n", r"missing column\(s\) name"),
    ("chrom,tss,strand,name\nchr1,10,*,A\n", r"line 2: unknown strand '\*'"),
    ("chrom,tss,strand,name\nchr1,10,+,A\nchr1,20,+,A\n", "duplicate name 'A' on lines 2, 3"),
    ("chrom,tss,strand,name\nchr1,ten,+,A\n", "line 2: tss 'ten' is not an integer"),
    ("chrom,tss,strand,name\nchr1,-5,+,A\n", "line 2: tss -5 is negative"),
])
def test_bad_tss_tables(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TssTableError, match=message):
        read_tss(path)


def test_table_against_genome(tmp_path, genome):
    path, _, _ = genome
    tsv = write_tss(tmp_path, [("A", "1", 10, "+")])
    with Genome(path) as g:
        with pytest.raises(TssTableError, match="line 2: chromosome '1'.*chr1 versus 1"):
            check_against_genome(read_tss(tsv), g, tsv)
        tsv = write_tss(tmp_path, [("A", "chr3", 60_000, "+")])
        with pytest.raises(TssTableError, match="line 2: tss chr3:60000 is beyond the end"):
            check_against_genome(read_tss(tsv), g, tsv)


# --- runs -----------------------------------------------------------------------


def _run(out: Path, genome, test: str = "necessity", *extra: str) -> int:
    path, _, tss = genome
    return main(["-q", "run", test, "--model", "synthetic", "--fasta", str(path), "--tss",
                 str(tss), "--out", str(out), *FAST, *extra])


def _results(out: Path) -> pd.DataFrame:
    frame = pd.concat([pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet"))])
    keys = [c for c in ("name", "track", "tile", "round") if c in frame]
    return frame.sort_values(keys, ignore_index=True)


def test_cli_run_matches_the_python_api(tmp_path, genome):
    path, _, _ = genome
    out = tmp_path / "nec"
    assert _run(out, genome, "necessity", "--chunk-loci", "3") == 0
    got = _results(out)
    with Genome(path) as g:
        tokens = np.stack([g.window(c, t, s, L) for _, c, t, s in GENES])
    loci = pd.DataFrame(GENES, columns=["name", "chrom", "tss", "strand"])
    loci["chrom_size"] = loci["chrom"].map(CHROMS)
    api = assays.necessity(load_synthetic(), tokens, tile_size=20000, num_shuffles=2,
                           bins=[447, 448], verbose=False, loci=loci,
                           locus_keys_=[locus_key(n) for n, *_ in GENES]).to_frame()
    api = api.sort_values(["name", "track", "tile"], ignore_index=True)
    pd.testing.assert_frame_equal(got[api.columns], api, check_dtype=False)
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary["name"]) == {g[0] for g in GENES}
    assert (out / "summary.csv").is_file() and (out / "summary.png").stat().st_size > 0
    # the enhancer 12 kb upstream is the top tile for the genes that have one in range
    top = summary[(summary["name"] == "geneA") & (summary["track"] == 2)].iloc[0]
    assert top["top_effect"] > 0.3 and top["enhancer_tiles"] == 1
    # the enhancing/silencing tiles as BED9 (gene, call, effect, track in the name):
    # typed, in genome coordinates
    bed = read_elements_bed(out / "elements.bed")
    assert list(bed.columns) == BED_COLUMNS + ["gene", "call", "effect", "track"]
    assert all(pd.api.types.is_string_dtype(bed[c]) for c in ("chrom", "name", "strand"))
    assert {c: bed[c].dtype for c in ("start", "end", "score", "thickStart", "track",
                                      "effect")} == {
        "start": np.int64, "end": np.int64, "score": np.int64, "thickStart": np.int64,
        "track": np.int64, "effect": np.float64}
    called = got[got["effect"].abs() > 0.3].dropna(subset=["start"])
    assert len(bed) == len(called) > 0
    a_bed = bed[(bed["gene"] == "geneA") & (bed["call"] == "enhancing")
                & (bed["track"] == 2)].iloc[0]
    a_top = top  # geneA is on +: its upstream-12 kb enhancer tile is the BED interval
    assert (a_bed["start"], a_bed["end"]) == (a_top["top_tile_genome_start"],
                                              a_top["top_tile_genome_end"])
    assert a_bed["strand"] == "+" and a_bed["chrom"] == "chr1"
    assert a_top["top_tile_genome_start"] <= 120_000 + 12_000 < a_top["top_tile_genome_end"]


def test_resume_is_the_default_and_settings_are_checked(tmp_path, genome, caplog):
    out = tmp_path / "ctx"
    assert _run(out, genome, "context") == 0
    first = _results(out)
    parts = sorted((out / "results").glob("*.parquet"))
    assert _run(out, genome, "context") == 0  # same settings: everything skipped
    assert sorted((out / "results").glob("*.parquet")) == parts
    pd.testing.assert_frame_equal(_results(out), first)
    assert _run(out, genome, "context", "--seed", "1") == 2  # other settings: refused
    assert "other settings (seed: 0 -> 1)" in caplog.text
    before = {p: p.stat().st_mtime_ns for p in parts}
    assert _run(out, genome, "context", "--seed", "1", "--no-resume") == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["identity"]["seed"] == 1
    assert all(p.stat().st_mtime_ns != t for p, t in before.items())  # recomputed


def test_chained_steps_read_each_others_outputs(tmp_path, genome):
    path, _, _ = genome
    ctx = tmp_path / "ctx"
    assert _run(ctx, genome, "context") == 0
    nxt = tmp_path / "nec"
    code = main(["-q", "run", "sufficiency", "--model", "synthetic", "--fasta", str(path),
                 "--tss", str(ctx / "summary.parquet"), "--out", str(nxt), *FAST,
                 "--query", "category == 'enhancing' and track == 2"])
    assert code == 0
    summary = pd.read_parquet(ctx / "summary.parquet")
    want = set(summary.query("category == 'enhancing' and track == 2")["name"])
    assert want and set(_results(nxt)["name"]) == want


KILL_SCRIPT = """
import sys
from creme_fast.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_and_resume_equals_an_uninterrupted_run(tmp_path, genome):
    path, _, _ = genome
    many = [(f"g{i:02d}", *GENES[i % len(GENES)][1:]) for i in range(24)]
    tss = write_tss(tmp_path, many, "many.tsv")
    args = ["-q", "run", "necessity", "--model", "synthetic", "--fasta", str(path), "--tss",
            str(tss), "--chunk-loci", "1", "--tile-size", "10000", "--shuffles", "3"]
    whole = tmp_path / "whole"
    assert main([*args, "--out", str(whole)]) == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / "results").glob("*.parquet"))) < 2:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _results(killed)
    done = set(partial["name"])
    assert 2 <= len(done) < len(many), "the run must be killed midway"
    rows = _results(whole)
    per_locus = rows.groupby("name").size().iloc[0]
    assert (partial.groupby("name").size() == per_locus).all()  # no partial locus
    assert main([*args, "--out", str(killed)]) == 0
    pd.testing.assert_frame_equal(_results(killed), rows)


def test_subprocess_cli_run(tmp_path, genome):
    path, _, tss = genome
    out = tmp_path / "act"
    proc = subprocess.run([sys.executable, "-m", "creme_fast", "run", "activity", "--model",
                           "synthetic", "--fasta", str(path), "--tss", str(tss), "--out",
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == len(GENES) * 3
    assert (summary["activity"] > 0).all()


# --- bad inputs: a clear error, a non-zero exit, nothing written for the bad locus ---


def _bad_run(tmp_path, genome, caplog, *, fasta=None, tss=None, extra=()):
    path, _, good_tss = genome
    out = tmp_path / "out"
    code = main(["run", "activity", "--model", "synthetic", "--fasta", str(fasta or path),
                 "--tss", str(tss or good_tss), "--out", str(out), *extra])
    return code, out, caplog.text


def test_malformed_fasta(tmp_path, genome, caplog):
    fa = tmp_path / "bad.fa"
    fa.write_text("this is not a genome\n")
    code, out, text = _bad_run(tmp_path, genome, caplog, fasta=fa)
    assert code == 2 and "not a FASTA file" in text and not out.exists()


def test_unreadable_fasta_index(tmp_path, genome, caplog, monkeypatch):
    src, _, _ = genome
    fa = tmp_path / "g.fa"
    fa.write_bytes(Path(src).read_bytes())
    fai = Path(f"{fa}.fai")
    fai.write_text("chr1\t1\t0\t60\t61\n")
    fai.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make access() answer as for a user
        import creme_fast.io.genome as genome_mod
        real = genome_mod.os.access
        monkeypatch.setattr(genome_mod.os, "access",
                            lambda p, mode: False if str(p) == str(fai) else real(p, mode))
    code, out, text = _bad_run(tmp_path, genome, caplog, fasta=fa)
    assert code == 2 and "index exists but is not readable" in text and not out.exists()


def test_iupac_locus_fails_alone(tmp_path, genome, caplog):
    src, seqs, _ = genome
    fa = tmp_path / "iupac.fa"
    text = Path(src).read_text().splitlines()
    # chr3 starts after chr1 and chr2's lines: put an R into chr3's first sequence line
    i = text.index(">chr3 test chromosome") + 1
    text[i] = "R" + text[i][1:]
    fa.write_text("\n".join(text) + "\n")
    code, out, log_text = _bad_run(tmp_path, genome, caplog, fasta=fa)
    assert code == 1 and "chr3:0 holds 'R'" in log_text
    failed = pd.read_csv(out / "failed.tsv", sep="\t")
    assert list(failed["name"]) == ["geneG"]
    names = set(_results(out)["name"])
    assert "geneG" not in names and len(names) == len(GENES) - 1


@pytest.mark.parametrize("rows, message", [
    ([("A", "1", 100, "+")], "chr1 versus 1"),
    ([("A", "chr1", 999_999, "+")], "beyond the end of chr1"),
    ([("A", "chr1", 100, "?")], "unknown strand"),
])
def test_bad_table_rows(tmp_path, genome, caplog, rows, message):
    tss = write_tss(tmp_path, rows, "bad.tsv")
    code, out, text = _bad_run(tmp_path, genome, caplog, tss=tss)
    assert code == 2 and message in text and not out.exists()


def test_wrong_columns(tmp_path, genome, caplog):
    tss = tmp_path / "cols.csv"
    tss.write_text("gene,position\nA,5\n")
    code, out, text = _bad_run(tmp_path, genome, caplog, tss=tss)
    assert code == 2 and "missing column(s) chrom, tss, strand" in text and not out.exists()


def test_model_and_window_length_mismatch(tmp_path, genome, caplog):
    code, out, text = _bad_run(tmp_path, genome, caplog, extra=("--seq-length", "1000"))
    assert code == 2 and "takes 196608 bp windows" in text and not out.exists()


@pytest.mark.parametrize("test", ["distance", "multiplicity", "fine-tile"])
def test_cre_tests_take_the_cre_from_a_necessity_summary(tmp_path, genome, test):
    path, _, _ = genome
    nec = tmp_path / "nec"
    assert _run(nec, genome, "necessity") == 0
    out = tmp_path / test
    query = "track == 2 and enhancer_tiles > 0"
    code = main(["-q", "run", test, "--model", "synthetic", "--fasta", str(path), "--tss",
                 str(nec / "summary.parquet"), "--out", str(out), *FAST, "--track", "2",
                 "--query", query])
    assert code == 0
    chosen = pd.read_parquet(nec / "summary.parquet").query(query)
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary["name"]) == set(chosen["name"]) and len(chosen) >= 3
    merged = summary.merge(chosen, on="name")
    assert (merged["cre_start"] == merged["top_tile_start"]).all()
    if test == "fine-tile":  # a 20 kb CRE pruned to the 50 bp sub-tiles around its 16 bp
        # enhancer (removing 5 at a time, a few neighbours can survive the last batch)
        assert (merged["kept_bp"] <= 500).all() and (merged["kept_bp"] >= 50).all()


def test_cre_tests_need_a_cre(tmp_path, genome, caplog):
    code, out, text = _bad_run(tmp_path, genome, caplog, extra=())
    assert code == 0  # activity needs none
    path, _, tss = genome
    code = main(["run", "distance", "--model", "synthetic", "--fasta", str(path), "--tss",
                 str(tss), "--out", str(tmp_path / "d"), *FAST])
    assert code == 2 and "needs a CRE per locus" in caplog.text


def test_incremental_flag_needs_a_model_that_offers_it(tmp_path, genome, caplog):
    # the built-in model has no trunk/tower pieces: refused before any work
    code, out, text = _bad_run(tmp_path, genome, caplog, extra=("--incremental",))
    assert code == 2 and "incremental=True" in text and not out.exists()
