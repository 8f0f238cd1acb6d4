"""The int8 version of an export without its gate, for speed rows only.

    python benchmarks/issue23/int8_nogate.py FP32.onnx OUT.onnx

The published architecture's gate (necessity through full int8 passes on the
calibration loci, 39 Enformer passes per locus, plus context dependence) takes
longer than a benchmark slot on 2 cores; this writes the same quantized graphs
(``reduce_export(..., run_gate=False)``), marked "gate not run". Fidelity is
judged on the small models, whose gate did run (benchmarks/RESULTS.md).
"""
import logging
import sys
import time
from pathlib import Path

import numpy as np

from creme_fast.export.precision import reduce_export

logging.basicConfig(level=logging.INFO)
src, out = Path(sys.argv[1]), Path(sys.argv[2])
out.parent.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()
entry = reduce_export(src, out, "int8", loci=np.zeros((0, 0), dtype=np.uint8), run_gate=False)
print("int8 written without gate", entry, f"{time.perf_counter() - t0:.0f} s")
