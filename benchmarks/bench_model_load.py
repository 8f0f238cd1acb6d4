"""Loading an export with its weights checksum checked: time and peak memory.

    python benchmarks/bench_model_load.py write PATH [--mb 1024]
    /usr/bin/time -v python benchmarks/bench_model_load.py load PATH
    python benchmarks/bench_model_load.py checksum PATH

``write`` makes a creme-fast export of about ``--mb`` MB of float32 weights (one
initializer a Gather indexes by the input's base count, so ONNX Runtime keeps it)
with its metadata and weights checksum; ``load`` times ``OnnxPredictor(PATH)``
(read once, weights checksum on the bytes, session from the bytes) and one
prediction; ``checksum`` times the byte reader's weights checksum alone. Run ``load`` under ``/usr/bin/time -v`` for the peak
resident memory, with this tree's and with another tree's creme-fast to compare.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def write(path: Path, megabytes: int, length: int = 1024) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from creme_fast.runtime.checksum import weights_sha256
    from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata

    n = megabytes * (1 << 20) // 4
    weights = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["count"], keepdims=1),
         helper.make_node("Cast", ["count"], ["index"], to=TensorProto.INT64),
         helper.make_node("Gather", ["w", "index"], ["gathered"]),
         helper.make_node("Reshape", ["gathered", "shape"], ["y"])],
        "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", length, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, 1])],
        [numpy_helper.from_array(weights, "w"),
         numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
         numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = ModelMetadata(model="big", seq_length=length, input_kind="onehot", input_name="x",
                         output_name="y", input_dtype="float32", n_bins=1, n_tracks=1,
                         checksum=weights_sha256(model))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    onnx.save(model, str(path))


def load(path: Path) -> dict[str, float]:
    from creme_fast.runtime import OnnxPredictor

    t0 = time.perf_counter()
    predictor = OnnxPredictor(path, threads=1)
    load_s = time.perf_counter() - t0
    batch = np.zeros((1, predictor.seq_length, 4), np.float32)
    batch[:, :, 0] = 1
    out = predictor.predict(batch)
    return {"file_mb": path.stat().st_size / 2**20, "load_s": load_s,
            "output": float(out.ravel()[0])}


def checksum(path: Path) -> dict[str, float]:
    from creme_fast.runtime.checksum import weights_sha256_of_bytes

    data = path.read_bytes()
    t0 = time.perf_counter()
    weights_sha256_of_bytes(data)
    return {"file_mb": len(data) / 2**20, "checksum_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["write", "load", "checksum"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--mb", type=int, default=1024)
    args = parser.parse_args()
    if args.action == "write":
        write(args.path, args.mb)
    else:
        print(json.dumps((load if args.action == "load" else checksum)(args.path)))


if __name__ == "__main__":
    main()
