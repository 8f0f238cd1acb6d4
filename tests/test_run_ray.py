"""``creme-fast run`` on Ray workers (issue 13): the same results as one process, worker
and driver faults survived, bad options refused before any work.

One local Ray instance (2 CPUs, CPU workers, the synthetic model) serves the module;
it declares one GPU that does not exist, so a worker promised a GPU meets a CPU-only
ONNX Runtime, as on a misconfigured node.
"""
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
import ray
from genome_fixtures import GENES, make_genome, write_tss

from creme_fast.cli import main
from creme_fast.io.genome import Genome
from creme_fast.io.tss import read_tss
from creme_fast.runs import ChunkTask, RunRequest, StepConfig, locus_key, run_over_genome
from creme_fast.runs.distributed import RayExecutor, WorkerLost
from creme_fast.synthetic import load_synthetic
from creme_fast.synthetic.model import synthetic_model_path

FAST = ["--tile-size", "20000", "--shuffles", "2"]
L = 196_608
ENHANCER = L // 2 + 12_000  # the planted enhancer, 12 kb upstream on either strand


@pytest.fixture(scope="module")
def ray_address():
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("genome")
    path, _ = make_genome(directory)
    many = [(f"g{i:02d}", *GENES[i % len(GENES)][1:]) for i in range(16)]
    cres = pd.DataFrame(GENES[:4], columns=["name", "chrom", "tss", "strand"]).assign(
        cre_start=ENHANCER - 500, cre_end=ENHANCER + 500)  # 1 kb CRE around the enhancer
    cres.to_csv(directory / "cres.tsv", sep="\t", index=False)
    return {"fasta": path, "genes": write_tss(directory), "many": write_tss(directory, many,
            "many.tsv"), "cres": directory / "cres.tsv"}


def _args(genome, test: str, tss: str, out: Path, *extra: str) -> list[str]:
    return ["-q", "run", test, "--model", "synthetic", "--fasta", str(genome["fasta"]),
            "--tss", str(genome[tss]), "--out", str(out), *FAST, *extra]


def _results(out: Path) -> pd.DataFrame:
    frame = pd.concat([pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet"))])
    # a locus's rows stay together in one part, in the step's order
    return frame.sort_values("name", kind="stable", ignore_index=True)


_SINGLE: dict[tuple[str, str], tuple[pd.DataFrame, pd.DataFrame]] = {}


def _single(genome, tmp_path_factory, test: str, tss: str) -> tuple[pd.DataFrame,
                                                                     pd.DataFrame]:
    """The single-process run's results and summary (once per test and table)."""
    if (test, tss) not in _SINGLE:
        out = tmp_path_factory.mktemp(f"single-{test}")
        assert main(_args(genome, test, tss, out)) == 0
        _SINGLE[test, tss] = _results(out), pd.read_parquet(out / "summary.parquet")
    return _SINGLE[test, tss]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("test, tss, value", [("necessity", "genes", "effect"),
                                              ("context", "genes", "effect"),
                                              ("fine-tile", "cres", "kept")])
def test_ray_run_equals_the_single_process_run(ray_address, genome, tmp_path,
                                               tmp_path_factory, capsys, test, tss, value,
                                               workers):
    want, summary = _single(genome, tmp_path_factory, test, tss)
    # the results depend on the locus (else equality would prove nothing)
    per_locus = want.groupby("name")[value].apply(lambda v: tuple(np.round(v.astype(float), 6)))
    assert per_locus.nunique() > 1
    out = tmp_path / "ray"
    assert main(_args(genome, test, tss, out, "--chunk-loci", "2", "--ray",
                      "--workers", str(workers))[1:]) == 0  # [1:]: not -q
    started = capsys.readouterr().err
    assert f"worker {workers - 1}: " in started and f"worker {workers}: " not in started
    got = _results(out)
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "summary.parquet"), summary)


def _cpus_come_back(timeout: float = 60) -> bool:
    """Whether every CPU of the instance is free again (stopping actors is asynchronous)."""
    deadline = time.time() + timeout
    while ray.available_resources().get("CPU", 0) < 2:
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


class _KillAWorker:
    """Passes results through; at the first one, SIGKILLs a worker that holds chunks."""

    def __init__(self, inner: RayExecutor) -> None:
        self.inner, self.killed = inner, None

    def run(self, test, config, tasks):
        for result in self.inner.run(test, config, tasks):
            if self.killed is None:
                self.killed = self.inner.worker_pids()[0]
                os.kill(self.killed, signal.SIGKILL)
            yield result


def test_a_killed_worker_costs_a_retry_and_nothing_else(ray_address, genome, tmp_path,
                                                         tmp_path_factory):
    want, _ = _single(genome, tmp_path_factory, "necessity", "many")
    table = read_tss(genome["many"])
    config = StepConfig(tile_size=20000, num_shuffles=2, bins=(447, 448))
    request = RunRequest(test="necessity", out=tmp_path / "killed", config=config,
                         model="synthetic", model_id="synthetic", fasta=genome["fasta"],
                         tss=genome["many"], chunk_loci=1, progress=False)
    with RayExecutor(synthetic_model_path(), workers=2) as executor, \
            Genome(genome["fasta"]) as g:
        executor.start()
        before = executor.worker_pids()
        killer = _KillAWorker(executor)
        outcome = run_over_genome(request, load_synthetic(), g, table, executor=killer)
        after = executor.worker_pids()
        stats = executor.stats
    assert killer.killed == before[0] and after[0] != before[0] and after[1] == before[1]
    assert stats.retried >= 1 and stats.restarts == 1 and not stats.lost_workers
    assert stats.chunks == len(table) and outcome.ran == len(table) and not len(outcome.failed)
    pd.testing.assert_frame_equal(_results(tmp_path / "killed"), want)


def test_a_chunk_out_of_attempts_fails_the_run_clearly(ray_address, genome, tmp_path):
    table = read_tss(genome["many"])
    request = RunRequest(test="necessity", out=tmp_path / "out", config=StepConfig(
        tile_size=20000, num_shuffles=2), model="synthetic", model_id="synthetic",
        fasta=genome["fasta"], tss=genome["many"], chunk_loci=1, progress=False)
    with RayExecutor(synthetic_model_path(), workers=1, max_attempts=1) as executor, \
            Genome(genome["fasta"]) as g, \
            pytest.raises(WorkerLost, match=r"chunk \d+ \(loci g\d+\) was on a dying Ray "
                          r"worker 1 time\(s\); giving up"):
        run_over_genome(request, load_synthetic(), g, table, executor=_KillAWorker(executor))


def test_a_killed_driver_resumes(ray_address, genome, tmp_path, tmp_path_factory):
    want, _ = _single(genome, tmp_path_factory, "necessity", "many")
    out = tmp_path / "killed"
    # the driver is another process that joins this module's Ray instance by its address
    args = _args(genome, "necessity", "many", out, "--chunk-loci", "1", "--workers", "2")
    proc = subprocess.Popen([sys.executable, "-m", "creme_fast", *args, "--ray", ray_address],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "results").glob("*.parquet"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    done = set(_results(out)["name"])
    assert 2 <= len(done) < 16, "the driver must be killed midway"
    assert _cpus_come_back(), "Ray stops a dead driver's workers, giving their CPUs back"
    assert main([*args, "--ray"]) == 0
    pd.testing.assert_frame_equal(_results(out), want)


@pytest.mark.parametrize("extra, message", [
    (["--workers", "2"], "--workers need(s) --ray"),
    (["--ray", "necessity"], "'necessity' is not a Ray address"),
    (["--ray", "--workers", "3"], "3 worker(s) x 1 CPU do not fit in this Ray cluster"),
    (["--ray", "--threads-per-worker", "3"], "no Ray node has 3 CPU(s) for one worker"),
    (["--ray", "--workers", "2", "--gpus-per-worker", "1"],
     "2 worker(s) x 1 CPU x 1 GPU do not fit in this Ray cluster (2 CPUs, 1 GPUs)"),
    (["--ray", "--gpus-per-worker", "2"], "a worker runs one GPU at most"),
    (["--ray", "--gpus-per-worker", "0.5"], "promised GPU 0 but ONNX Runtime runs "
     "synthetic.onnx on CPUExecutionProvider"),
    (["--ray", "--provider", "cuda"], "cannot load the model: execution provider "
     "CUDAExecutionProvider was requested"),
])
def test_bad_ray_options_fail_before_any_work(ray_address, genome, tmp_path, capsys,
                                              extra, message):
    out = tmp_path / "out"
    assert main(_args(genome, "activity", "genes", out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert _cpus_come_back()  # its workers were stopped


@pytest.mark.parametrize("extra", [["--workers", "0"], ["--gpus-per-worker", "-1"],
                                   ["--threads-per-worker", "x"]])
def test_bad_ray_option_values_are_usage_errors(genome, tmp_path, capsys, extra):
    with pytest.raises(SystemExit) as exc:
        main(_args(genome, "activity", "genes", tmp_path / "out", "--ray", *extra))
    assert exc.value.code == 2 and extra[0] in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_table_fails_before_ray_starts(genome, tmp_path, capsys):
    bad = write_tss(tmp_path, [("A", "chr1", 10, "?")], "bad.tsv")
    args = _args(genome, "activity", "genes", tmp_path / "out", "--ray", "--workers", "2")
    args[args.index(str(genome["genes"]))] = str(bad)
    assert main(args) == 2 and "unknown strand" in capsys.readouterr().err
    assert not ray.is_initialized() or ray.available_resources().get("CPU", 0) == 2
    assert not (tmp_path / "out").exists()


def test_chunks_in_flight_are_bounded_and_every_worker_gets_some(ray_address, genome):
    """The tasks are read only as workers free up (memory stays flat for any number of
    loci), and both workers compute chunks."""
    table = read_tss(genome["many"])
    config = StepConfig(tile_size=20000, num_shuffles=2, bins=(447, 448))
    pulled, ahead = [0], []

    def tasks(g):
        for i, row in enumerate(table.itertuples(index=False)):
            pulled[0] += 1
            yield ChunkTask(index=i, tokens=g.window(row.chrom, row.tss, row.strand, L)[None],
                            keys=np.array([locus_key(row.name)], dtype=np.int64),
                            rows=table.iloc[i:i + 1].reset_index(drop=True))

    with RayExecutor(synthetic_model_path(), workers=2) as executor, \
            Genome(genome["fasta"]) as g:
        results = []
        for result in executor.run("necessity", config, tasks(g)):
            ahead.append(pulled[0] - len(results))
            results.append(result)
        stats = executor.stats
    assert sorted(r.task.index for r in results) == list(range(len(table)))
    assert max(ahead) == 4  # two workers x two chunks, never more
    assert len(stats.by_worker) == 2 and min(stats.by_worker) > 0
    assert stats.worker_seconds > 0


def test_an_unreachable_cluster_fails_at_once(genome, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "creme_fast", *_args(
        genome, "activity", "genes", out, "--ray", "127.0.0.1:1")], capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach Ray at 127.0.0.1:1" in proc.stderr and not out.exists()


def test_a_step_error_on_a_worker_ends_the_run_as_it_does_locally(ray_address, genome,
                                                                  tmp_path, capsys):
    """distance without a CRE column: the same exit code and message with or without Ray
    (the step's exception crosses from the worker with its type)."""
    local = main(_args(genome, "distance", "genes", tmp_path / "local"))
    local_err = capsys.readouterr().err
    remote = main(_args(genome, "distance", "genes", tmp_path / "ray", "--ray"))
    remote_err = capsys.readouterr().err
    assert local != 0 and remote == local
    assert "needs a CRE per locus" in local_err and "needs a CRE per locus" in remote_err


def test_incremental_pieces_reach_the_workers(ray_address, genome, tmp_path):
    """An export's trunk and tower graphs travel with it: ``--incremental`` (which fails
    on a worker without them) gives the single-process full-pass results."""
    from creme_fast.export import export_enformer
    from enformer_fixtures import make_small_enformer

    model = tmp_path / "small.onnx"
    export_enformer(make_small_enformer(), model, seq_length=8192, tracks=[1, 5],
                    input_kind="tokens")
    assert model.with_suffix(".trunk.onnx").is_file()
    common = ["-q", "run", "necessity", "--model", str(model), "--fasta",
              str(genome["fasta"]), "--tss", str(genome["genes"]), "--tile-size", "1000",
              "--shuffles", "2", "--bins", "3,4", "--chunk-loci", "2"]
    assert main([*common, "--out", str(tmp_path / "single"), "--no-incremental"]) == 0
    want = _results(tmp_path / "single")
    per_locus = want.groupby("name")["effect"].apply(lambda v: tuple(np.round(v, 4)))
    assert per_locus.nunique() > 1 and want["effect"].abs().max() > 1e-3  # input-sensitive
    assert main([*common, "--out", str(tmp_path / "ray"), "--incremental", "--ray",
                 "--workers", "2"]) == 0
    got = _results(tmp_path / "ray")
    pd.testing.assert_frame_equal(got, want, rtol=1e-5, atol=1e-6)
