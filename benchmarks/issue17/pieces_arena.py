"""The incremental pieces in ORT with the runtime's shared arena or without an arena: time and memory.

    python benchmarks/issue17/pieces_arena.py EXPORT_DIR {shared,noarena,shared-pow2}

EXPORT_DIR holds ``enf.trunk.onnx`` and ``enf.tower.onnx``. Runs the trunk twice on a
full-length parent, on 4 windows, and the tower at batch 1, 4, 4; prints each call's
seconds and the resident growth (peak and after).
"""
import sys, time, numpy as np, onnxruntime as ort
from creme_fast.export.stages import current_rss, peak_rss, release_free_heap
d, mode = sys.argv[1], sys.argv[2]
def so_():
    so = ort.SessionOptions(); so.log_severity_level = 3; so.enable_mem_pattern = False
    if mode == "noarena": so.enable_cpu_mem_arena = False
    else: so.add_session_config_entry("session.use_env_allocators", "1")
    return so
if mode != "noarena":
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    cfg = ort.OrtArenaCfg(0, 1, -1, -1) if mode == "shared" else ort.OrtArenaCfg(0, 0, -1, -1)
    ort.create_and_register_allocator(info, cfg)
trunk = ort.InferenceSession(d + "/enf.trunk.onnx", sess_options=so_(), providers=["CPUExecutionProvider"])
tower = ort.InferenceSession(d + "/enf.tower.onnx", sess_options=so_(), providers=["CPUExecutionProvider"])
release_free_heap(); r0 = current_rss()
rng = np.random.default_rng(0)
x = rng.integers(0, 4, (1, 196608), dtype=np.uint8)
t = {}
t0 = time.perf_counter(); rows = trunk.run(None, {"sequence": x})[0]; t["parent1"] = time.perf_counter() - t0
t0 = time.perf_counter(); rows = trunk.run(None, {"sequence": x})[0]; t["parent2"] = time.perf_counter() - t0
w = rng.integers(0, 4, (4, 5120 + 2 * 128 * 40), dtype=np.uint8)
t0 = time.perf_counter(); trunk.run(None, {"sequence": w}); t["windows4"] = time.perf_counter() - t0
for b in (1, 4, 4):
    t0 = time.perf_counter(); tower.run(None, {"rows": np.repeat(rows, b, 0)}); t[f"tower{b}"] = time.perf_counter() - t0
release_free_heap()
print(mode, {k: round(v, 2) for k, v in t.items()}, f"growth peak {(peak_rss()-r0)/2**30:.2f} GiB, after {(current_rss()-r0)/2**30:.2f}")
