"""The shipped Snakemake workflow (issue 20), end to end on the synthetic model and a
genome written here: shards, an empty shard, a locus that fails (exit 1 is done), a
job killed mid-run and the workflow rerun (it resumes), and the merged results equal
to single ``creme-fast run`` s."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creme_fast.cli import main
from creme_fast.sequence.tokens import decode, encode
from creme_fast.synthetic import DEFAULT_GRAMMAR as G

pytest.importorskip("snakemake")

SNAKEFILE = Path(__file__).resolve().parents[1] / "workflows" / "snakemake" / "Snakefile"
CHROM, TSS = 60_000, 30_000
# one gene per chromosome, so each window sees only its own elements: two genes with a
# track-0 enhancer (the only ones the necessity and fine-tile selections keep), track-1
# enhancers and bare promoters, and one gene whose window holds an IUPAC code
GENES = {"gA1": "enh_A", "gB1": "enh_B", "gP1": None, "gB2": "enh_B", "gA2": "enh_A",
         "gP2": None, "gB3": "enh_B", "gP3": None, "gBad": None, "gP4": None}
SETTINGS = {"tile_size": 5000, "shuffles": 2, "seed": 0, "batch_size": 8, "chunk_loci": 2}
TRACK, TOP, SHARDS = 0, 8, 3


def _write_inputs(directory: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    prom = encode(G.motifs["promoter"])
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


def _config(directory: Path, fasta: Path, tss: Path) -> Path:
    config = directory / "config.yaml"
    lines = {"model": "synthetic", "fasta": str(fasta), "tss": str(tss),
             "out": str(directory / "screen"), "shards": SHARDS,
             "shards_by_test": "{fine-tile: 1}", "threads": 1, "track": TRACK, "top": TOP,
             "progress_interval": 0, "extra": "''",
             "creme_fast": f"'{sys.executable} -m creme_fast'", **SETTINGS}
    config.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return config


def _snakemake(directory: Path, config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile",
            str(config), "--cores", "2", "--directory", str(directory), *extra]


def _single_runs(directory: Path, fasta: Path, tss: Path) -> dict[str, Path]:
    """The same screen as four plain runs, each on the previous one's summary."""
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


def test_snakemake_screen_in_shards_with_a_killed_job(tmp_path):
    fasta, tss = _write_inputs(tmp_path)
    config = _config(tmp_path, fasta, tss)
    screen = tmp_path / "screen"
    fine_log = screen / "logs" / "fine-tile" / "1.log"
    # run until the fine-tile job has finished its first locus, then kill everything
    proc = subprocess.Popen(_snakemake(tmp_path, config), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 400
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
    subprocess.run(_snakemake(tmp_path, config, "--unlock"), check=True,
                   capture_output=True)
    rerun = subprocess.run(_snakemake(tmp_path, config, "--rerun-incomplete"),
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
    single = _single_runs(tmp_path, fasta, tss)
    for test, out in single.items():
        want = pd.read_parquet(out / "summary.parquet")
        got = pd.read_parquet(screen / test / "summary.parquet")
        pd.testing.assert_frame_equal(got, want, obj=f"{test} summary")
        pd.testing.assert_frame_equal(_results(screen / test), _results(out),
                                      obj=f"{test} results")
    assert set(pd.read_parquet(screen / "fine-tile" / "summary.parquet")["name"]) == \
        {"gA1", "gA2"}
