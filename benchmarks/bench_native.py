"""Native-core benchmark: dinucleotide shuffles and one-hot, against baselines.

Every figure comes from one run of this script, so ratios compare like with
like on a shared machine. Times are medians over repeats, per shuffle.

    python benchmarks/bench_native.py [--repeats 5] [--json out.json]

Baselines: creme-nn 0.2.5's ``dinuc_shuffle`` (one-hot in and out, float64 as
its callers use it), a numpy floor (one ``RandomState.permutation`` of the
region, the cost of a mononucleotide shuffle), tangermeme's numba
``dinucleotide_shuffle`` when importable, and ``np.copyto`` of the one-hot
output size (the memory-bandwidth floor for one-hot).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from creme_fast.compat import shuffle as compat_shuffle
from creme_fast.sequence import dinuc_shuffle, one_hot

log = logging.getLogger("bench_native")

ENFORMER_LENGTH = 196_608
TILE_LENGTH = 5_000
SHUFFLES_PER_CALL = 10  # the paper's setting


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def shuffle_rows(length: int, repeats: int) -> list[dict]:
    rs = np.random.RandomState(0)
    tokens = rs.choice(4, size=length, p=[0.3, 0.2, 0.2, 0.3]).astype(np.uint8)
    tokens[length // 3: length // 3 + length // 50] = 4  # an N run, as at a gap
    x64 = np.eye(5, 4)[tokens]
    n = SHUFFLES_PER_CALL
    rows: list[dict] = []

    def add(name: str, seconds_per_call: float, shuffles: int) -> None:
        rows.append({"length": length, "method": name,
                     "ms_per_shuffle": 1e3 * seconds_per_call / shuffles})

    try:
        from creme import shuffle as reference
        ref_repeats = max(1, repeats // 2) if length > 50_000 else repeats
        add("creme-nn 0.2.5 (one-hot float64)",
            median_time(lambda: reference.dinuc_shuffle(x64, 1, rng=np.random.RandomState(1)),
                        ref_repeats), 1)
    except ImportError:
        log.warning("creme-nn not installed: pip install --no-deps creme-nn")
    perm_rng = np.random.RandomState(2)
    add("numpy floor: one RandomState.permutation (mononucleotide)",
        median_time(lambda: tokens[perm_rng.permutation(length)], repeats), 1)
    try:
        import torch
        from tangermeme.ersatz import dinucleotide_shuffle as tm_shuffle
        x_t = torch.from_numpy(x64.T[None].astype(np.float32).copy())
        add("tangermeme dinucleotide_shuffle (numba, one-hot)",
            median_time(lambda: tm_shuffle(x_t, n=n, random_state=0, allow_N=True), repeats), n)
    except ImportError as exc:
        log.warning("tangermeme not benchmarked: %s", exc)
    add("creme_fast compat.dinuc_shuffle (one-hot float64, creme stream)",
        median_time(lambda: compat_shuffle.dinuc_shuffle(x64, n, rng=np.random.RandomState(1)),
                    repeats), n)
    for mode in ("creme", "fast", "uniform"):
        kwargs = {"rng": np.random.RandomState(1)} if mode == "creme" else {"seed": 1}
        add(f"creme_fast mode={mode} (tokens, 1 thread)",
            median_time(lambda: dinuc_shuffle(tokens, n, mode=mode, **kwargs), repeats), n)
    return rows


def one_hot_rows(repeats: int, batch: int = 8) -> list[dict]:
    rs = np.random.RandomState(0)
    tokens = rs.randint(0, 5, size=(batch, ENFORMER_LENGTH)).astype(np.uint8)
    rows = []
    for dtype in (np.float32, np.float16, np.uint8):
        out = np.empty((batch, ENFORMER_LENGTH, 4), dtype=dtype)
        src = np.ones_like(out)
        t_onehot = median_time(lambda: one_hot(tokens, out=out), repeats * 4)
        t_copy = median_time(lambda: np.copyto(out, src), repeats * 4)
        rows.append({"dtype": np.dtype(dtype).name, "batch": batch,
                     "one_hot_ms": 1e3 * t_onehot, "copyto_floor_ms": 1e3 * t_copy,
                     "ratio_to_floor": t_onehot / t_copy})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(message)s")

    shuffles = []
    for length in (ENFORMER_LENGTH, TILE_LENGTH):
        shuffles += shuffle_rows(length, args.repeats)
    onehots = one_hot_rows(args.repeats)

    for length in (ENFORMER_LENGTH, TILE_LENGTH):
        group = [r for r in shuffles if r["length"] == length]
        base = next((r["ms_per_shuffle"] for r in group if r["method"].startswith("creme-nn")),
                    None)
        log.info("\nDinucleotide shuffle, %s bp (ms per shuffle; x = speed-up over creme-nn)",
                 f"{length:,}")
        for r in group:
            r["speedup_vs_creme_nn"] = base / r["ms_per_shuffle"] if base else None
            speed = f"{r['speedup_vs_creme_nn']:9.1f}x" if base else ""
            log.info("  %-66s %10.3f %s", r["method"], r["ms_per_shuffle"], speed)
    log.info("\nOne-hot of %d x %s tokens into a reused buffer, versus np.copyto of the same "
             "output size", onehots[0]["batch"], f"{ENFORMER_LENGTH:,}")
    for r in onehots:
        log.info("  %-8s one-hot %8.3f ms   copyto %8.3f ms   ratio %.2f", r["dtype"],
                 r["one_hot_ms"], r["copyto_floor_ms"], r["ratio_to_floor"])
    if args.json:
        meta = {"machine": platform.platform(), "processor": platform.processor(),
                "cpus": os.cpu_count(), "numpy": np.__version__}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "shuffle": shuffles, "one_hot": onehots}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
