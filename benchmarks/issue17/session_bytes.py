"""Resident memory an ORT CPU session holds after it is built from a path or from bytes.

    python benchmarks/issue17/session_bytes.py GRAPH.onnx {path,bytes,shared-path,shared-bytes}

``shared``: the runtime's process-wide arena (env allocator). Prints the bytes read and the
resident growth once the session exists (after ``del data`` and ``malloc_trim``).
"""
import sys, onnxruntime as ort
from creme_fast.export.stages import current_rss, release_free_heap
path, mode = sys.argv[1], sys.argv[2]
def rss(): release_free_heap(); return current_rss()/2**30
r0 = rss()
so = ort.SessionOptions(); so.log_severity_level = 3; so.enable_mem_pattern = False
if "shared" in mode:
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))
    so.add_session_config_entry("session.use_env_allocators", "1")
if "bytes" in mode:
    data = open(path, "rb").read(); r1 = rss()
    s = ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])
    del data
else:
    r1 = r0
    s = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
print(mode, f"bytes {r1-r0:.2f}, session after {rss()-r0:.2f} GiB")
