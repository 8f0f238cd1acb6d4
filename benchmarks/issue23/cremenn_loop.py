"""creme-nn-style loop: torch eager, batch 1, float one-hot, one mutant per call (small config)."""
import time, torch, numpy as np
from enformer_pytorch import Enformer
from creme_fast.bench import random_locus
from creme_fast.sequence import one_hot
torch.manual_seed(0); torch.set_num_threads(2)
m = Enformer.from_hparams(dim=192, depth=2, heads=4, attn_dim_key=32, dim_divisible_by=32, output_heads=dict(human=5313)).eval()
seq = random_locus(196_608)
x = torch.from_numpy(one_hot(seq[None]))
with torch.no_grad():
    m(x, head="human")
    n = 4; t0 = time.perf_counter()
    for i in range(n):
        mut = seq.copy(); mut[5000 * i: 5000 * (i + 1)] = np.random.default_rng(i).permutation(mut[5000 * i: 5000 * (i + 1)])
        m(torch.from_numpy(one_hot(mut[None])), head="human")[:, [447, 448]][:, :, [4824, 5110, 5111]]
    print(f"creme-nn-style loop: {(time.perf_counter() - t0) / n:.3f} s per mutant")
