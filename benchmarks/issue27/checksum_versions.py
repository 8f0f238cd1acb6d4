"""The graph checksum's cost: version 1 (initializers) against version 2 (every tensor
and node), from the bytes a load hands to ONNX Runtime.

    python benchmarks/issue27/checksum_versions.py FILE.onnx [FILE.onnx ...]

Prints one JSON row per file: size, nodes, and the best of 3 timings of each version
of ``weights_sha256_of_bytes`` (the load path's byte reader).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from creme_fast.runtime.checksum import (
    _GRAPH_NODE,
    _MODEL_GRAPH,
    _fields,
    weights_sha256_of_bytes,
)


def _nodes(data: bytes) -> int:
    graph = next(v for f, v in _fields(memoryview(data)) if f == _MODEL_GRAPH)
    return sum(1 for f, _ in _fields(graph) if f == _GRAPH_NODE)


def main(paths: list[str]) -> None:
    for path in map(Path, paths):
        data = path.read_bytes()
        row = {"file": path.name, "mb": round(len(data) / 2**20, 1), "nodes": _nodes(data)}
        for version in (1, 2):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                weights_sha256_of_bytes(data, version)
                best = min(best, time.perf_counter() - t0)
            row[f"v{version}_s"] = round(best, 4)
        row["ratio_v2_v1"] = round(row["v2_s"] / row["v1_s"], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
