"""Peak resident memory of one necessity run through the engine (what a user's run holds).

    /usr/bin/time -v python benchmarks/issue17/necessity_rss.py EXPORT.onnx --batch 2 --path incremental

One random genome-like locus, ``--tiles`` 5 kb tiles, one shuffle; prints the batch
size the engine ran, the budget it charged, and the process's peak (VmHWM).
"""
import argparse
import logging

import numpy as np

from creme_fast import assays
from creme_fast.bench import random_locus
from creme_fast.export.stages import peak_rss
from creme_fast.pipeline.memory import batch_cost
from creme_fast.runtime import OnnxPredictor

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("model")
p.add_argument("--batch", type=int, default=1)
p.add_argument("--path", choices=["full", "incremental"], default="incremental")
p.add_argument("--tiles", type=int, default=4)
args = p.parse_args()
logging.basicConfig(level=logging.WARNING)
predictor = OnnxPredictor(args.model)
incremental = args.path == "incremental"
cost = batch_cost(predictor, n_outputs=6, incremental=incremental)
seq = random_locus(predictor.seq_length)
tiles = np.array([[i * 5000, (i + 1) * 5000] for i in range(args.tiles)])
result = assays.necessity(predictor, seq, tiles=tiles, num_shuffles=1, batch_size=args.batch,
                          incremental=incremental, verbose=False)
print(f"path={args.path} batch={args.batch} charged={cost(args.batch) / 2**30:.2f} GiB "
      f"process_peak={peak_rss() / 2**30:.2f} GiB effects={np.round(result.effect.ravel()[:3], 4)}")
