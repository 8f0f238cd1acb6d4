"""Checksum of an ONNX graph's weights (needs the ``onnx`` package, not torch)."""
from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["file_sha256", "weights_sha256"]


def weights_sha256(model: Any) -> str:
    """sha256 over every initializer's name, dtype, shape and values, in graph order.

    Parameters
    ----------
    model : onnx.ModelProto

    Returns
    -------
    str
        Hex digest; independent of metadata and of how protobuf serialises.
    """
    from onnx import numpy_helper

    digest = hashlib.sha256()
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        digest.update(init.name.encode())
        digest.update(str(array.dtype).encode())
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def file_sha256(path: Any) -> str:
    """sha256 of a file's bytes (the pieces of an incremental export are checked with it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
