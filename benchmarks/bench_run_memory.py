"""Peak resident memory of one process that runs an export at a batch size.

    /usr/bin/time -v python benchmarks/bench_run_memory.py MODEL.onnx --batch 2 --path full
    /usr/bin/time -v python benchmarks/bench_run_memory.py MODEL.onnx --batch 2 --path incremental

``full``: the main graph on a batch of random sequences (what a context test's
mutants cost). ``incremental``: the main graph's session loaded too (as in a run),
the trunk on one full-length parent, a 5 kb window's trunk rows per mutant, and the
tower on a batch of spliced rows (what a tile test's mutants cost). The process's
peak (VmHWM) is printed; ``/usr/bin/time -v`` reports the same as "Maximum resident
set size".
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from creme_fast.export.stages import peak_rss
from creme_fast.runtime import OnnxPredictor


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--path", choices=["full", "incremental"], default="full")
    args = p.parse_args()
    predictor = OnnxPredictor(args.model)
    rng = np.random.default_rng(0)
    length = predictor.seq_length
    start = time.perf_counter()
    loaded = peak_rss()
    if args.path == "full":
        tokens = rng.integers(0, 4, (args.batch, length), dtype=np.uint8)
        predictor.predict(tokens if predictor.input_kind == "tokens" else
                          np.eye(4, dtype=np.float32)[tokens])
    else:
        inc = predictor.incremental
        g = inc.geometry
        base = rng.integers(0, 4, (1, length), dtype=np.uint8)
        rows = inc.trunk(base)
        width = 5120  # a 5 kb tile's window: the tile plus the trunk's halo, in whole rows
        window = rng.integers(0, 4, (args.batch, width), dtype=np.uint8)
        inc.trunk(window)
        inc.tower(np.repeat(rows, args.batch, axis=0))
    print(f"path={args.path} batch={args.batch} sessions_loaded_peak={loaded / 2**30:.2f} GiB "
          f"process_peak={peak_rss() / 2**30:.2f} GiB seconds={time.perf_counter() - start:.1f}")


if __name__ == "__main__":
    main()
