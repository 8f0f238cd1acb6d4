"""The Snakemake workflow shipped in the package (issues 20, 27 and 32), end to end on the
synthetic model and a genome written here, from the copy `creme-fast workflow init`
writes: all eight tests, shards, an empty shard, a locus that fails (exit 1 is done), a
job killed mid-run and the workflow rerun (it resumes), every output declared, the
figures drawn, an output path with a space, and the merged results equal to single
``creme-fast run`` s. The config is validated before anything runs."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creme_fast.cli import main
from creme_fast.sequence.tokens import decode, encode
from creme_fast.synthetic import DEFAULT_GRAMMAR as G

pytest.importorskip("snakemake")

ROOT = Path(__file__).resolve().parents[1]
CHROM, TSS = 60_000, 30_000
# one gene per chromosome, so each window sees only its own elements: two genes with a
# track-0 enhancer (the only ones the necessity and later selections keep), track-1
# enhancers and bare promoters, and one gene whose window holds an IUPAC code
GENES = {"gA1": "enh_A", "gB1": "enh_B", "gP1": None, "gB2": "enh_B", "gA2": "enh_A",
         "gP2": None, "gB3": "enh_B", "gP3": None, "gBad": None, "gP4": None}
SETTINGS = {"tile_size": 5000, "shuffles": 2, "seed": 0, "batch_size": 8, "chunk_loci": 2}
TRACK, TOP, SHARDS = 0, 8, 3
CHAIN = ["activity", "context", "necessity", "fine-tile"]  # sharded, compared with runs
EXTRA = ["sufficiency", "distance", "multiplicity", "higher-order"]  # one shard each


def _write_inputs(directory: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    prom = encode(G.motifs["promoter"])
    directory.mkdir(parents=True, exist_ok=True)
    fasta = directory / "genome.fa"
    with open(fasta, "w") as fh:
        for name, enhancer in GENES.items():
            seq = rng.integers(0, 4, CHROM).astype(np.uint8)
            seq[TSS - len(prom) // 2:TSS - len(prom) // 2 + len(prom)] = prom
            if enhancer:
                motif = encode(G.motifs[enhancer])
                seq[TSS + 12_000:TSS + 12_000 + len(motif)] = motif
            text = decode(seq)
            if name == "gBad":
                text = text[:TSS + 500] + "R" + text[TSS + 501:]
            fh.write(f">chr_{name}\n")
            fh.writelines(text[i:i + 60] + "\n" for i in range(0, len(text), 60))
    tss = directory / "genes.tsv"
    pd.DataFrame({"name": list(GENES), "chrom": [f"chr_{n}" for n in GENES],
                  "tss": TSS, "strand": "+"}).to_csv(tss, sep="\t", index=False)
    return fasta, tss


def _config(path: Path, **values: object) -> Path:
    """A config with paths relative to its own directory (as a user writes them)."""
    lines = {"model": "synthetic", "fasta": "data/genome.fa", "tss": "data/genes.tsv",
             "out": "my screen", "tests": f"[{', '.join(CHAIN + EXTRA)}]",
             "steps": "{" + ", ".join(f"{t}: {{shards: 1}}" for t in ["fine-tile", *EXTRA])
             + "}", "shards": SHARDS, "threads": 1, "track": TRACK, "top": TOP,
             "rounds": 1, "progress_interval": 0, "plot_format": "png",
             "creme_fast": f"'{sys.executable} -m creme_fast'", **SETTINGS, **values}
    path.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return path


def _snakemake(workdir: Path, snakefile: Path, config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--configfile",
            str(config), "--cores", "2", "--directory", str(workdir), *extra]


def _single_runs(directory: Path, fasta: Path, tss: Path) -> dict[str, Path]:
    """The chain's tests as plain runs, each on the previous one's summary."""
    common = ["--model", "synthetic", "--fasta", str(fasta), "--tile-size",
              str(SETTINGS["tile_size"]), "--shuffles", str(SETTINGS["shuffles"]), "-q"]
    steps = [("activity", str(tss), []),
             ("context", "activity", ["--query", f"track == {TRACK}", "--top", str(TOP),
                                      "--by", "activity"]),
             ("necessity", "context", ["--query",
                                       f"track == {TRACK} and category == 'enhancing'"]),
             ("fine-tile", "necessity", ["--query", f"track == {TRACK} and enhancer_tiles > 0",
                                         "--track", str(TRACK)])]
    outs: dict[str, Path] = {}
    for test, source, selection in steps:
        table = outs[source] / "summary.parquet" if source in outs else source
        outs[test] = directory / "single" / test
        code = main(["run", test, "--tss", str(table), "--out", str(outs[test]), *common,
                     *selection])
        assert code == (1 if test == "activity" else 0)  # gBad fails in activity
    return outs


def _results(out: Path) -> pd.DataFrame:
    parts = sorted((out / "results").glob("*.parquet"))
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    keys = [c for c in ("name", "track", "tile", "stage", "start") if c in frame]
    return frame.sort_values(keys, ignore_index=True)


def test_the_workflow_is_shipped_in_the_package(tmp_path):
    shipped = resources.files("creme_fast.workflow")
    assert main(["workflow", "init", str(tmp_path / "wf")]) == 0
    for name in ("Snakefile", "config.yaml"):
        assert (tmp_path / "wf" / name).read_bytes() == (shipped / name).read_bytes()
    assert main(["workflow", "init", str(tmp_path / "wf")]) == 2  # never over a user's edits
    assert main(["workflow", "init", str(tmp_path / "wf"), "--force"]) == 0
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["creme_fast.workflow"]
    for path in Path(str(shipped)).iterdir():  # every file of the workflow is installed
        if path.suffix != ".py" and path.name != "__pycache__":
            assert any(path.match(p) for p in patterns), path.name
    assert not (ROOT / "workflows").exists()  # one copy: the package's


def test_snakemake_screen_of_all_eight_tests_with_a_killed_job(tmp_path):
    workdir = tmp_path / "project"
    fasta, tss = _write_inputs(workdir / "data")
    assert main(["workflow", "init", str(tmp_path / "wf")]) == 0  # the installed copy
    snakefile = tmp_path / "wf" / "Snakefile"
    config = _config(workdir / "my.yaml")
    elsewhere = tmp_path / "cwd"  # paths resolve against the config, not the directory
    elsewhere.mkdir()
    screen = workdir / "my screen"
    fine_log = screen / "logs" / "fine-tile" / "1.log"
    # run until the fine-tile job has finished its first locus, then kill everything
    proc = subprocess.Popen(_snakemake(elsewhere, snakefile, config),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if fine_log.is_file() and "1 loci done, 1 left" in fine_log.read_text():
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = screen / "shards" / "fine-tile" / "1"
    assert not (killed / "summary.parquet").exists()
    assert len(list((killed / "results").glob("part-*.parquet"))) == 1
    # after a kill Snakemake keeps its lock and marks the job incomplete: unlock, rerun
    subprocess.run(_snakemake(elsewhere, snakefile, config, "--unlock"), check=True,
                   capture_output=True)
    rerun = subprocess.run(_snakemake(elsewhere, snakefile, config, "--rerun-incomplete"),
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = fine_log.read_text()
    assert "resume: 1 of 2 loci of the table already done, 1 to run" in log
    assert "run fine-tile: 2 loci selected, 1 run, 1 already done, 0 failed" in log
    # the empty shard: necessity keeps two genes for three shards
    empty = screen / "shards" / "necessity" / "3"
    assert len(pd.read_parquet(empty / "summary.parquet")) == 0
    assert "0 loci selected" in (screen / "logs" / "necessity" / "3.log").read_text()
    # exit 1 (gBad failed) counted as done; the merged failed.tsv lists it
    failed = pd.read_csv(screen / "activity" / "failed.tsv", sep="\t")
    assert list(failed["name"]) == ["gBad"]
    # Snakemake's threads reached ONNX Runtime in every job
    assert "model threads: 1" in log
    assert "model threads: 1" in (screen / "logs" / "context" / "2.log").read_text()
    # every test ran on the genes of its input's selection, and declared what it wrote
    from creme_fast.runs.runner import output_names

    for test in CHAIN + EXTRA:
        for name in output_names(test):
            assert (screen / test / name).is_file(), (test, name)
        figures = screen / "figures" / test
        index = pd.read_csv(figures / "index.tsv", sep="\t", keep_default_na=False)
        assert all((figures / f).is_file() for f in index["file"]), test
        if test not in ("activity", "context"):
            names = set(pd.read_parquet(screen / test / "summary.parquet")["name"])
            assert names == {"gA1", "gA2"}, test
            assert set(index["gene"]) - {""} == {"gA1", "gA2"}, test
    assert "elements.bed" in output_names("necessity")
    single = _single_runs(tmp_path, fasta, tss)
    for test, out in single.items():
        want = pd.read_parquet(out / "summary.parquet")
        got = pd.read_parquet(screen / test / "summary.parquet")
        pd.testing.assert_frame_equal(got, want, obj=f"{test} summary")
        pd.testing.assert_frame_equal(_results(screen / test), _results(out),
                                      obj=f"{test} results")


@pytest.mark.parametrize("values, message", [
    ({"modle": "x.onnx"}, "unknown key 'modle' (did you mean 'model'?)"),
    ({"model": "''"}, "'model' is a required property (is empty)"),
    ({"shards": 0}, "0 is less than the minimum of 1"),
    ({"track": 7}, "track: 7 is not a track of synthetic.onnx (it outputs tracks 0..2)"),
    ({"tests": "[fine-tile]"}, "fine-tile reads the summary of necessity, which tests does "
     "not run"),
    ({"fasta": "data/missing.fa"}, "fasta: "),
    ({"steps": "{necesity: {shards: 1}}"}, "steps: unknown test 'necesity'"),
])
def test_a_bad_config_is_refused_before_anything_runs(tmp_path, values, message):
    _write_inputs(tmp_path / "data")
    assert main(["workflow", "init", str(tmp_path / "wf")]) == 0
    config = _config(tmp_path / "bad.yaml", **values)
    done = subprocess.run(_snakemake(tmp_path, tmp_path / "wf" / "Snakefile", config, "-n"),
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert not (tmp_path / "my screen").exists()
