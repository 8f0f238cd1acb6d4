"""Per-item time of the published pieces at batch 1 and batch B, runtime session settings.

    python benchmarks/issue17/pieces_batch.py EXPORT.onnx [B]

Through ``OnnxPredictor(...).incremental`` (shared arena, no memory pattern): a 5 kb
tile's trunk window and the tower, each warmed at both batch sizes, then timed:
B calls at batch 1 against one call at batch B, twice; then the tower at batch B
in one ONNX Runtime call against the runtime's sub-batches (``tower_call``),
alternating, three times.
"""
import sys
import time

import numpy as np

from creme_fast.runtime import OnnxPredictor

p = OnnxPredictor(sys.argv[1])
b = int(sys.argv[2]) if len(sys.argv) > 2 else 4
inc = p.incremental
g = inc.geometry
rng = np.random.default_rng(0)
rows = inc.trunk(rng.integers(0, 4, (1, p.seq_length), dtype=np.uint8))
width = 5120 + 2 * 128 * 64  # a tile's window with a halo, in whole rows
win = rng.integers(0, 4, (b, width), dtype=np.uint8)
towers = np.repeat(rows, b, axis=0)
for _ in range(2):  # warm both shapes
    inc.trunk(win[:1]); inc.trunk(win); inc.tower(towers[:1]); inc.tower(towers)
for rep in range(2):
    t0 = time.perf_counter(); [inc.trunk(win[i:i + 1]) for i in range(b)]; t1 = time.perf_counter()
    inc.trunk(win); t2 = time.perf_counter()
    [inc.tower(towers[i:i + 1]) for i in range(b)]; t3 = time.perf_counter()
    inc.tower(towers); t4 = time.perf_counter()
    print(f"rep {rep}: window per item {1e3 * (t1 - t0) / b:.0f} ms at batch 1, "
          f"{1e3 * (t2 - t1) / b:.0f} ms at batch {b}; tower per row {(t3 - t2) / b:.2f} s at "
          f"batch 1, {(t4 - t3) / b:.2f} s at batch {b}", flush=True)
default = inc.tower_call
for rep in range(3):
    inc.tower_call = None
    t0 = time.perf_counter(); inc.tower(towers); t1 = time.perf_counter()
    inc.tower_call = default
    inc.tower(towers); t2 = time.perf_counter()
    print(f"rep {rep}: tower per row at batch {b}: {(t1 - t0) / b:.2f} s in one call, "
          f"{(t2 - t1) / b:.2f} s in calls of {default}", flush=True)
