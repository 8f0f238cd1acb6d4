"""`creme-fast run` on Ray workers against the single-process run, in one run.

    python benchmarks/bench_ray.py [--loci 16] [--tile-size 5000] [--shuffles 10] \
        [--chunk-loci 8] [--json out.json]

The synthetic model, necessity over ``--loci`` loci of a random genome, one local Ray
instance with 2 CPUs; every run writes its own run directory through the runner:

1. single process, ONNX Runtime on 1 thread (the baseline a worker is compared to);
2. single process, ONNX Runtime's default threads (what a run without Ray gets);
3. Ray, 1 worker x 1 thread;
4. Ray, 2 workers x 1 thread.

Reported: wall time of each run (Ray's start-up, workers loading the model, is timed
apart), the scaling of 2 workers over 1 (target >= 1.7x), and Ray's overhead per chunk:
(1-worker wall - 1-thread single-process wall) / chunks, against a chunk's model time
on the worker (target < 5%). The four runs' results must be equal.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from creme_fast.io.genome import Genome
from creme_fast.runs import LocalExecutor, RunRequest, StepConfig, run_over_genome
from creme_fast.runs.distributed import RayExecutor, import_ray
from creme_fast.sequence.tokens import decode, encode, reverse_complement
from creme_fast.synthetic import DEFAULT_GRAMMAR as G
from creme_fast.synthetic import load_synthetic
from creme_fast.synthetic.model import synthetic_model_path

log = logging.getLogger("bench_ray")
SPACING = 200_000


def write_genome(directory: Path, loci: int, seed: int = 0) -> tuple[Path, Path]:
    """A random one-chromosome genome with a promoter every 200 kb (alternating
    strands) and an enhancer 12 kb upstream of each, and its TSS table."""
    rng = np.random.default_rng(seed)
    size = (loci + 1) * SPACING
    seq = rng.integers(0, 4, size).astype(np.uint8)
    promoter, enhancer = encode(G.motifs["promoter"]), encode(G.motifs["enh_U"])
    for i in range(loci):
        tss = (i + 1) * SPACING
        if i % 2 == 0:
            lo = tss - len(promoter) // 2
            seq[lo:lo + len(promoter)] = promoter
            seq[tss + 12_000:tss + 12_000 + len(enhancer)] = enhancer
        else:
            lo = tss - len(promoter) // 2 + 1
            seq[lo:lo + len(promoter)] = reverse_complement(promoter)
            seq[tss - 12_000:tss - 12_000 + len(enhancer)] = enhancer
    text = decode(seq)
    fasta = directory / "genome.fa"
    with open(fasta, "w") as fh:
        fh.write(">chrB\n")
        fh.writelines(text[i:i + 60] + "\n" for i in range(0, size, 60))
    tss = directory / "tss.tsv"
    pd.DataFrame({"chrom": "chrB", "tss": [(i + 1) * SPACING for i in range(loci)],
                  "strand": ["+", "-"] * (loci // 2) + ["+"] * (loci % 2),
                  "name": [f"locus{i:03d}" for i in range(loci)]}).to_csv(
        tss, sep="\t", index=False)
    return fasta, tss


def timed_run(name: str, out: Path, args: argparse.Namespace, fasta: Path, tss: Path,
              executor) -> tuple[float, pd.DataFrame]:
    table = pd.read_csv(tss, sep="\t")
    config = StepConfig(tile_size=args.tile_size, num_shuffles=args.shuffles,
                        bins=(447, 448))
    request = RunRequest(test="necessity", out=out / name, config=config, model="synthetic",
                         model_id="synthetic", fasta=fasta, tss=tss,
                         chunk_loci=args.chunk_loci, progress=False)
    with Genome(fasta) as genome:
        start = time.perf_counter()
        run_over_genome(request, load_synthetic(), genome, table, executor=executor)
        wall = time.perf_counter() - start
    frame = pd.concat([pd.read_parquet(p) for p in sorted((out / name / "results")
                                                          .glob("*.parquet"))])
    return wall, frame.sort_values(["name", "track", "tile"], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loci", type=int, default=16)
    parser.add_argument("--tile-size", type=int, default=5000)
    parser.add_argument("--shuffles", type=int, default=10)
    parser.add_argument("--chunk-loci", type=int, default=8)
    parser.add_argument("--json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ray = import_ray()
    chunks = -(-args.loci // args.chunk_loci)
    record: dict[str, object] = {"machine": platform.processor() or platform.machine(),
                                 "cpus": os.cpu_count(), "loci": args.loci,
                                 "chunks": chunks, "tile_size": args.tile_size,
                                 "shuffles": args.shuffles, "chunk_loci": args.chunk_loci}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        fasta, tss = write_genome(tmp_path, args.loci)
        walls, frames = {}, {}
        warm = tmp_path / "warm.tsv"  # first calls (imports, ONNX Runtime arenas) untimed
        pd.read_csv(tss, sep="\t").head(1).to_csv(warm, sep="\t", index=False)
        timed_run("warm_up", tmp_path, args, fasta, warm, LocalExecutor(load_synthetic()))
        for name, threads in (("single_1_thread", 1), ("single_default_threads", None)):
            walls[name], frames[name] = timed_run(
                name, tmp_path, args, fasta, tss,
                LocalExecutor(load_synthetic(threads=threads)))
            log.info("%s: %.2f s", name, walls[name])
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        try:
            for workers in (1, 2):
                name = f"ray_{workers}_worker"
                start = time.perf_counter()
                with RayExecutor(synthetic_model_path(), workers=workers) as executor:
                    executor.start()
                    record[f"{name}_start_s"] = time.perf_counter() - start
                    walls[name], frames[name] = timed_run(name, tmp_path, args, fasta, tss,
                                                          executor)
                    record[f"{name}_model_s_per_chunk"] = (executor.stats.worker_seconds
                                                           / executor.stats.chunks)
                    record[f"{name}_chunks_by_worker"] = executor.stats.by_worker
                log.info("%s: %.2f s (+ %.2f s starting the workers)", name, walls[name],
                         record[f"{name}_start_s"])
        finally:
            ray.shutdown()
    reference = frames["single_1_thread"]
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, reference, obj=name)
    scaling = walls["ray_1_worker"] / walls["ray_2_worker"]
    overhead = (walls["ray_1_worker"] - walls["single_1_thread"]) / chunks
    model_per_chunk = record["ray_1_worker_model_s_per_chunk"]
    record.update({f"{k}_s": v for k, v in walls.items()})
    record.update(scaling_2_over_1=scaling, overhead_s_per_chunk=overhead,
                  overhead_fraction_of_chunk_model_time=overhead / model_per_chunk,
                  ray_1_worker_over_single_1_thread=walls["ray_1_worker"]
                  / walls["single_1_thread"],
                  single_default_over_ray_2_worker=walls["single_default_threads"]
                  / walls["ray_2_worker"])
    log.info("2 workers over 1: %.2fx (target >= 1.7x)", scaling)
    log.info("Ray overhead per chunk: %.3f s = %.1f%% of a chunk's model time %.2f s "
             "(target < 5%%)", overhead, 100 * overhead / model_per_chunk, model_per_chunk)
    log.info("results of all four runs equal")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=2)


if __name__ == "__main__":
    main()
