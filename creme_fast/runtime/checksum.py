"""Checksums of an exported ONNX graph.

:func:`weights_sha256` hashes a parsed graph's initializers (it needs the
``onnx`` package); :func:`weights_sha256_of_bytes` computes the same digest from
the serialised bytes with a small protobuf reader (no ``onnx``, no copy of the
weights), so a predictor checks exactly the bytes it hands to ONNX Runtime.
"""
from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["WeightsUnreadable", "file_sha256", "weights_sha256", "weights_sha256_of_bytes"]

# ONNX TensorProto.DataType -> numpy dtype name, for the types stored as plain bytes
# (bfloat16: numpy_helper gives ml_dtypes' "bfloat16" arrays of the same bytes)
_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
           7: "int64", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
           16: "bfloat16"}
_ITEMSIZE = {"float32": 4, "uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "int32": 4,
             "int64": 8, "bool": 1, "float16": 2, "float64": 8, "uint32": 4, "uint64": 8,
             "bfloat16": 2}
# TensorProto fields holding values in typed (not raw) form, and the external-data ones
_TYPED_FIELDS = {3, 4, 5, 6, 7, 10, 11, 13}
_GRAPH, _INITIALIZER = 7, 5  # ModelProto.graph, GraphProto.initializer
_DIMS, _DATA_TYPE, _NAME, _RAW, _LOCATION = 1, 2, 8, 9, 14


class WeightsUnreadable(ValueError):
    """The bytes hold initializers the byte reader does not handle (typed value
    fields, external data, an unusual dtype) or are not a protobuf."""


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


def weights_sha256_of_bytes(data: bytes | memoryview) -> str:
    """:func:`weights_sha256` of a serialised ModelProto, read without ``onnx``.

    Parameters
    ----------
    data : bytes
        The ``.onnx`` file's content.

    Returns
    -------
    str
        The same hex digest as ``weights_sha256(onnx.load_from_string(data))``.

    Raises
    ------
    WeightsUnreadable
        An initializer is stored in a form only ``onnx`` reads (then use
        :func:`weights_sha256`), or ``data`` is not a serialised graph.
    """
    view = memoryview(data)
    graphs = [value for field, value in _fields(view) if field == _GRAPH]
    if len(graphs) != 1 or not isinstance(graphs[0], memoryview):
        raise WeightsUnreadable(f"expected one graph, found {len(graphs)}")
    digest = hashlib.sha256()
    for field, value in _fields(graphs[0]):
        if field == _INITIALIZER:
            if not isinstance(value, memoryview):
                raise WeightsUnreadable("an initializer is not a message")
            _hash_tensor(digest, value)
    return digest.hexdigest()


def _hash_tensor(digest: Any, tensor: memoryview) -> None:
    dims: list[int] = []
    dtype, name, raw = 0, b"", None
    for field, value in _fields(tensor):
        if field == _DIMS:
            dims += [value] if isinstance(value, int) else _packed_varints(value)
        elif field == _DATA_TYPE:
            dtype = value
        elif field == _NAME:
            name = bytes(value)
        elif field == _RAW:
            raw = value
        elif field == _LOCATION and value != 0 or field in _TYPED_FIELDS:
            raise WeightsUnreadable(f"initializer {name.decode(errors='replace')!r} is not "
                                    "stored as raw bytes")
    if dtype not in _DTYPES:
        raise WeightsUnreadable(f"initializer {name.decode(errors='replace')!r} has ONNX "
                                f"data type {dtype}")
    count = 1
    for d in dims:
        count *= d
    size = count * _ITEMSIZE[_DTYPES[dtype]]
    if raw is None and count:
        raise WeightsUnreadable(f"initializer {name.decode(errors='replace')!r} has no data")
    if raw is not None and len(raw) != size:
        raise WeightsUnreadable(f"initializer {name.decode(errors='replace')!r} holds "
                                f"{len(raw)} bytes for {size}")
    digest.update(name)
    digest.update(_DTYPES[dtype].encode())
    digest.update(str(tuple(dims)).encode())
    if raw is not None:
        digest.update(raw)


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(view) or shift > 63:
            raise WeightsUnreadable("truncated or malformed protobuf")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _packed_varints(view: memoryview) -> list[int]:
    out, pos = [], 0
    while pos < len(view):
        value, pos = _varint(view, pos)
        out.append(value - (1 << 64) if value >= 1 << 63 else value)
    return out


def _fields(view: memoryview):
    """(field number, value) of a message: ints for varints, memoryviews otherwise."""
    pos, end = 0, len(view)
    while pos < end:
        key, pos = _varint(view, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(view, pos)
            yield field, value
        elif wire == 2:
            size, pos = _varint(view, pos)
            if pos + size > end:
                raise WeightsUnreadable("truncated or malformed protobuf")
            yield field, view[pos:pos + size]
            pos += size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise WeightsUnreadable("truncated or malformed protobuf")
            yield field, view[pos:pos + size]
            pos += size
        else:
            raise WeightsUnreadable(f"protobuf wire type {wire} is not read")


def file_sha256(path: Any) -> str:
    """sha256 of a file's bytes (the pieces of an incremental export are checked with it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
