"""TorchPredictor's lever: CPU autocast to bf16 on the small Enformer's tower, vs fp32."""
import time, torch
from enformer_pytorch import Enformer
from creme_fast.export.modules import EnformerBody
torch.manual_seed(0)
torch.set_num_threads(2)
m = Enformer.from_hparams(dim=192, depth=2, heads=4, attn_dim_key=32, dim_divisible_by=32, output_heads=dict(human=5313)).eval()
body = EnformerBody(m, "human", tracks=[4824, 5110, 5111], bins=[447, 448]).eval()
x = torch.randn(1, 1536, 192)
a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
def t(f, n=3):
    f(); t0 = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - t0) / n
with torch.no_grad():
    print("matmul 2048^3 fp32 %.3f s" % t(lambda: a @ b))
    ab, bb = a.bfloat16(), b.bfloat16()
    print("matmul 2048^3 bf16 %.3f s" % t(lambda: ab @ bb))
    f32 = t(lambda: body.tower(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf = t(lambda: body.tower(x))
    print(f"tower batch 1: fp32 {f32:.3f} s, autocast bf16 {bf:.3f} s ({f32 / bf:.2f}x)")
    print(torch.backends.cpu.get_cpu_capability())
