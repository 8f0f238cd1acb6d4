"""Issue 29: one engine workload per process, for /usr/bin/time -v's peak RSS.

    python benchmarks/issue29/rss_probe.py null|onnx [MODEL.onnx]

``null``: necessity (38 tiles x 10 shuffles, 381 mutants) at 196,608 bp on a model
that costs nothing (the engine's buffers and plan alone). ``onnx``: necessity (6 tiles
x 3 shuffles) on a small Enformer export with incremental pieces (4,096 bp; the
behaviour snapshot's model), so both batch sources run. Prints the wall time.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from creme_fast import assays
from creme_fast.bench import NullPredictor, random_locus


def main() -> None:
    case = sys.argv[1]
    if case == "null":
        predictor, seq, options = NullPredictor(196_608), random_locus(196_608), {}
    else:
        from creme_fast.runtime import load_predictor

        predictor = load_predictor(sys.argv[2], threads=1)
        seq = random_locus(predictor.seq_length)
        options = {"tile_size": 512, "num_shuffles": 3, "batch_size": 4}
    start = time.perf_counter()
    result = assays.necessity(predictor, seq, verbose=False, **options)
    print(f"{case}: {np.prod(result.mut.shape[1:3]) + 1} mutants in "
          f"{time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
