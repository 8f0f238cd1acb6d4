"""Time an exported tower graph alone: python tower_profile.py TOWER.onnx BATCH RUNS [p] [arena=0|mempat=0|threads=N]."""
import sys, time, json, numpy as np, onnxruntime as ort, collections
path = sys.argv[1]; bs = int(sys.argv[2]); n = int(sys.argv[3]); prof = len(sys.argv) > 4 and sys.argv[4] == "p"
so = ort.SessionOptions(); so.enable_profiling = prof
if len(sys.argv) > 5:
    for kv in sys.argv[5].split(","):
        k, v = kv.split("=");
        if k == "arena": so.enable_cpu_mem_arena = v == "1"
        elif k == "mempat": so.enable_mem_pattern = v == "1"
        elif k == "threads": so.intra_op_num_threads = int(v)
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).standard_normal((bs, 1536, 192), dtype=np.float32)
s.run(None, {"rows": x})
t0 = time.perf_counter()
for _ in range(n): s.run(None, {"rows": x})
dt = time.perf_counter() - t0
print(f"bs={bs}: {dt/n/bs*1000:.1f} ms per row")
if prof:
    f = s.end_profiling(); ev = json.load(open(f))
    agg = collections.Counter()
    for e in ev:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            agg[e["args"]["op_name"]] += e["dur"]
    tot = sum(agg.values())
    for k, v in agg.most_common(12): print(f"  {k:20s} {v/1e3/(n+1)/bs:8.1f} ms/row {100*v/tot:5.1f}%")
