"""creme-nn-style loop: torch eager, batch 1, float one-hot, one mutant per call.

    python benchmarks/issue23/cremenn_loop.py [--checkpoint DIR] [--mutants 4]

Without ``--checkpoint``: the small config (dim 192, depth 2) with random
weights; with it, that checkpoint (e.g. ``benchmarks/make_checkpoint.py``'s
published architecture). One untimed warm-up pass, then ``--mutants`` 5 kb tile
mutants of one random genome-like locus, each its own forward pass, the paper's
bins and CAGE tracks read from the full output (as creme-nn's loop does).
"""
import argparse
import time

import numpy as np
import torch
from enformer_pytorch import Enformer

from creme_fast.bench import random_locus
from creme_fast.sequence import one_hot

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--checkpoint")
p.add_argument("--mutants", type=int, default=4)
args = p.parse_args()
torch.manual_seed(0)
torch.set_num_threads(2)
if args.checkpoint:
    from creme_fast.export.checkpoint import load_enformer

    m = load_enformer(args.checkpoint).eval()
else:
    m = Enformer.from_hparams(dim=192, depth=2, heads=4, attn_dim_key=32, dim_divisible_by=32,
                              output_heads=dict(human=5313)).eval()
seq = random_locus(196_608)
with torch.no_grad():
    m(torch.from_numpy(one_hot(seq[None])), head="human")
    t0 = time.perf_counter()
    for i in range(args.mutants):
        mut = seq.copy()
        lo, hi = 5000 * i, 5000 * (i + 1)
        mut[lo:hi] = np.random.default_rng(i).permutation(mut[lo:hi])
        m(torch.from_numpy(one_hot(mut[None])), head="human")[:, [447, 448]][:, :, [4824, 5110, 5111]]
    print(f"creme-nn-style loop: {(time.perf_counter() - t0) / args.mutants:.3f} s per mutant "
          f"({args.mutants} mutants)")
