"""Resident memory of an OnnxPredictor step by step: loaded, pieces loaded, trunk, window, tower.

    python benchmarks/issue17/predictor_rss.py EXPORT.onnx
"""
import sys, numpy as np
from creme_fast.export.stages import current_rss, peak_rss, release_free_heap
from creme_fast.runtime import OnnxPredictor
def show(what):
    release_free_heap(); print(f"{what}: rss {current_rss()/2**30:.2f} peak {peak_rss()/2**30:.2f}", flush=True)
p = OnnxPredictor(sys.argv[1]); show("predictor")
inc = p.incremental; show("incremental pieces loaded")
rng = np.random.default_rng(0)
base = rng.integers(0, 4, (1, p.seq_length), dtype=np.uint8)
rows = inc.trunk(base); show("trunk on the parent")
rows = inc.trunk(base); show("trunk on the parent again")
w = rng.integers(0, 4, (1, 5120), dtype=np.uint8); inc.trunk(w); show("window")
inc.tower(rows); show("tower b1")
