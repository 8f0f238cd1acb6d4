"""Checksums of an exported ONNX graph.

:func:`weights_sha256` hashes a parsed graph (it needs the ``onnx`` package);
:func:`weights_sha256_of_bytes` computes the same digest from the serialised bytes
with a small protobuf reader (no ``onnx``, no copy of the weights), so a predictor
checks exactly the bytes it hands to ONNX Runtime.

Two versions of the digest exist; an export records which one it wrote
(``checksum_version`` in its metadata, absent = 1):

1. every initializer's name, dtype, shape and values (exports before issue 27). A
   graph that keeps values in ``Constant`` nodes (Enformer's positional features,
   the whole synthetic model) is not covered by it.
2. (current) every tensor and node the graph holds: the initializers, then every
   node of the graph, its subgraphs and the model's functions, in order, with its
   operator, domain, inputs, outputs and every attribute's value (so ``Constant``
   and ``ConstantOfShape`` values, scalar constants and operator settings too).
   Node names, documentation and metadata are left out, so the digest does not
   depend on them or on how protobuf serialises.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CHECKSUM_VERSION", "WeightsUnreadable", "external_data_tensors", "file_sha256",
           "read_metadata_value", "weights_sha256", "weights_sha256_of_bytes"]

CHECKSUM_VERSION = 2

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
# field numbers of onnx.proto
_MODEL_GRAPH, _MODEL_METADATA, _MODEL_FUNCTIONS = 7, 14, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE = 1, 5, 15
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP, _NODE_ATTRIBUTE, _NODE_DOMAIN = 1, 2, 4, 5, 7
_FUNCTION_NAME, _FUNCTION_NODE, _FUNCTION_DOMAIN = 1, 7, 10
_DIMS, _DATA_TYPE, _NAME, _RAW, _LOCATION = 1, 2, 8, 9, 14
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# AttributeProto: field -> AttributeType of the value it holds
_ATTR_NAME, _ATTR_TYPE, _ATTR_REF = 1, 20, 21
_ATTR_FIELDS = {2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8, 10: 9, 11: 10, 22: 11,
                23: 12, 14: 13, 15: 14}
_FLOAT, _INT, _STRING, _TENSOR, _GRAPH = 1, 2, 3, 4, 5
_FLOATS, _INTS, _STRINGS, _TENSORS, _GRAPHS = 6, 7, 8, 9, 10


class WeightsUnreadable(ValueError):
    """The bytes hold tensors the byte reader does not handle (typed value fields,
    external data, an unusual dtype, sparse or type attributes) or are not a protobuf."""


class _Digest:
    """The canonical stream both readers feed: each item tagged and length-prefixed."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()

    def item(self, *parts: bytes | memoryview) -> None:
        for part in parts:
            self.sha.update(len(part).to_bytes(8, "little"))
            self.sha.update(part)

    def tensor(self, name: bytes, dtype: str, dims: list[int] | tuple[int, ...],
               raw: bytes | memoryview) -> None:
        self.item(b"tensor", name, dtype.encode(), struct.pack(f"<{len(dims)}q", *dims), raw)

    def node(self, op_type: bytes, domain: bytes, inputs: list[bytes],
             outputs: list[bytes]) -> None:
        self.item(b"node", op_type, domain, b"\0".join(inputs), b"\0".join(outputs))

    def attribute(self, name: bytes, kind: int, payload: bytes | memoryview = b"") -> None:
        self.item(b"attribute", name, kind.to_bytes(1, "little"), payload)

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


# --- from a parsed onnx.ModelProto --------------------------------------------------

def weights_sha256(model: Any, version: int = CHECKSUM_VERSION) -> str:
    """The checksum of a parsed graph (see the module docstring for the versions).

    Parameters
    ----------
    model : onnx.ModelProto
    version : {1, 2}, default=CHECKSUM_VERSION
        1: the initializers only (what exports before checksum version 2 recorded).

    Returns
    -------
    str
        Hex digest; independent of metadata and of how protobuf serialises.
    """
    from onnx import numpy_helper

    if version == 1:
        digest = hashlib.sha256()
        for init in model.graph.initializer:
            array = numpy_helper.to_array(init)
            digest.update(init.name.encode())
            digest.update(str(array.dtype).encode())
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
        return digest.hexdigest()
    _check_version(version)
    digest = _Digest()
    _hash_graph_proto(digest, model.graph)
    for function in model.functions:
        digest.item(b"function", function.name.encode(), function.domain.encode())
        for node in function.node:
            _hash_node_proto(digest, node)
    return digest.hexdigest()


def _check_version(version: int) -> None:
    if version not in (1, CHECKSUM_VERSION):
        raise ValueError(f"checksum version {version} is unknown to this creme-fast (it "
                         f"knows 1 and {CHECKSUM_VERSION}); upgrade creme-fast")


def _array_bytes(array: Any) -> tuple[str, bytes]:
    if array.dtype == object:  # string tensors: each value, length-prefixed
        return "object", b"".join(len(v).to_bytes(8, "little") + bytes(v)
                                  for v in array.reshape(-1))
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return str(array.dtype), array.tobytes()


def _hash_tensor_proto(digest: _Digest, tensor: Any) -> None:
    from onnx import numpy_helper

    array = numpy_helper.to_array(tensor)
    dtype, raw = _array_bytes(array)
    digest.tensor(tensor.name.encode(), dtype, list(tensor.dims), raw)


def _hash_graph_proto(digest: _Digest, graph: Any) -> None:
    digest.item(b"graph")
    for init in graph.initializer:
        _hash_tensor_proto(digest, init)
    for sparse in graph.sparse_initializer:
        digest.item(b"sparse")
        _hash_tensor_proto(digest, sparse.values)
        _hash_tensor_proto(digest, sparse.indices)
    for node in graph.node:
        _hash_node_proto(digest, node)
    digest.item(b"end graph")


def _hash_node_proto(digest: _Digest, node: Any) -> None:
    digest.node(node.op_type.encode(), node.domain.encode(), [i.encode() for i in node.input],
                [o.encode() for o in node.output])
    for attr in node.attribute:
        kind = attr.type or _infer_kind(attr)
        name = attr.name.encode()
        if attr.ref_attr_name:
            digest.attribute(name, 0, b"ref:" + attr.ref_attr_name.encode())
        elif kind == _FLOAT:
            digest.attribute(name, kind, struct.pack("<f", attr.f))
        elif kind == _INT:
            digest.attribute(name, kind, struct.pack("<q", attr.i))
        elif kind == _STRING:
            digest.attribute(name, kind, attr.s)
        elif kind == _FLOATS:
            digest.attribute(name, kind, struct.pack(f"<{len(attr.floats)}f", *attr.floats))
        elif kind == _INTS:
            digest.attribute(name, kind, struct.pack(f"<{len(attr.ints)}q", *attr.ints))
        elif kind == _STRINGS:
            digest.attribute(name, kind, b"".join(len(s).to_bytes(8, "little") + s
                                                  for s in attr.strings))
        elif kind in (_TENSOR, _TENSORS):
            digest.attribute(name, kind)
            for tensor in ([attr.t] if kind == _TENSOR else attr.tensors):
                _hash_tensor_proto(digest, tensor)
        elif kind in (_GRAPH, _GRAPHS):
            digest.attribute(name, kind)
            for graph in ([attr.g] if kind == _GRAPH else attr.graphs):
                _hash_graph_proto(digest, graph)
        else:  # sparse tensors and type protos: their serialised form
            digest.attribute(name, kind, attr.SerializeToString(deterministic=True))


def _infer_kind(attr: Any) -> int:
    """The value type of an attribute written without its ``type`` field."""
    for field, kind in (("f", _FLOAT), ("i", _INT), ("s", _STRING), ("t", _TENSOR),
                        ("g", _GRAPH)):
        if attr.HasField(field):
            return kind
    for field, kind in (("floats", _FLOATS), ("ints", _INTS), ("strings", _STRINGS),
                        ("tensors", _TENSORS), ("graphs", _GRAPHS)):
        if len(getattr(attr, field)):
            return kind
    return 0


# --- from the serialised bytes --------------------------------------------------------

def weights_sha256_of_bytes(data: bytes | memoryview, version: int = CHECKSUM_VERSION) -> str:
    """:func:`weights_sha256` of a serialised ModelProto, read without ``onnx``.

    Parameters
    ----------
    data : bytes
        The ``.onnx`` file's content.
    version : {1, 2}, default=CHECKSUM_VERSION

    Returns
    -------
    str
        The same hex digest as ``weights_sha256(onnx.load_from_string(data), version)``.

    Raises
    ------
    WeightsUnreadable
        A tensor is stored in a form only ``onnx`` reads (then use
        :func:`weights_sha256`), or ``data`` is not a serialised graph.
    """
    view = memoryview(data)
    graphs = [value for field, value in _fields(view) if field == _MODEL_GRAPH]
    if len(graphs) != 1 or not isinstance(graphs[0], memoryview):
        raise WeightsUnreadable(f"expected one graph, found {len(graphs)}")
    if version == 1:
        sha = hashlib.sha256()
        for field, value in _fields(graphs[0]):
            if field == _GRAPH_INITIALIZER:
                name, dtype, dims, raw = _tensor(_message(value, "an initializer"))
                sha.update(name)
                sha.update(dtype.encode())
                sha.update(str(tuple(dims)).encode())
                sha.update(raw)
        return sha.hexdigest()
    _check_version(version)
    digest = _Digest()
    _hash_graph(digest, graphs[0])
    for field, value in _fields(view):
        if field == _MODEL_FUNCTIONS:
            _hash_function(digest, _message(value, "a function"))
    return digest.hexdigest()


def _message(value: Any, what: str) -> memoryview:
    if not isinstance(value, memoryview):
        raise WeightsUnreadable(f"{what} is not a message")
    return value


def _tensor(tensor: memoryview) -> tuple[bytes, str, list[int], memoryview | bytes]:
    """(name, dtype, dims, raw bytes) of a TensorProto stored as raw bytes."""
    dims: list[int] = []
    dtype, name, raw = 0, b"", None
    for field, value in _fields(tensor):
        if field == _DIMS:
            dims += [_signed(value)] if isinstance(value, int) else _packed_varints(value)
        elif field == _DATA_TYPE:
            dtype = value
        elif field == _NAME:
            name = bytes(value)
        elif field == _RAW:
            raw = value
        elif field == _LOCATION and value != 0 or field in _TYPED_FIELDS:
            raise WeightsUnreadable(f"tensor {name.decode(errors='replace')!r} is not "
                                    "stored as raw bytes")
    if dtype not in _DTYPES:
        raise WeightsUnreadable(f"tensor {name.decode(errors='replace')!r} has ONNX data "
                                f"type {dtype}")
    count = 1
    for d in dims:
        count *= d
    size = count * _ITEMSIZE[_DTYPES[dtype]]
    if raw is None and count:
        raise WeightsUnreadable(f"tensor {name.decode(errors='replace')!r} has no data")
    if raw is not None and len(raw) != size:
        raise WeightsUnreadable(f"tensor {name.decode(errors='replace')!r} holds "
                                f"{len(raw)} bytes for {size}")
    return name, _DTYPES[dtype], dims, b"" if raw is None else raw


def _hash_graph(digest: _Digest, graph: memoryview) -> None:
    digest.item(b"graph")
    nodes = []
    for field, value in _fields(graph):
        if field == _GRAPH_INITIALIZER:
            digest.tensor(*_tensor(_message(value, "an initializer")))
        elif field == _GRAPH_SPARSE:
            raise WeightsUnreadable("a sparse initializer")
        elif field == _GRAPH_NODE:
            nodes.append(_message(value, "a node"))
    for node in nodes:  # as the parsed graph orders them: initializers, then nodes
        _hash_node(digest, node)
    digest.item(b"end graph")


def _hash_function(digest: _Digest, function: memoryview) -> None:
    name, domain, nodes = b"", b"", []
    for field, value in _fields(function):
        if field == _FUNCTION_NAME:
            name = bytes(value)
        elif field == _FUNCTION_DOMAIN:
            domain = bytes(value)
        elif field == _FUNCTION_NODE:
            nodes.append(_message(value, "a function node"))
    digest.item(b"function", name, domain)
    for node in nodes:
        _hash_node(digest, node)


def _hash_node(digest: _Digest, node: memoryview) -> None:
    inputs: list[bytes] = []
    outputs: list[bytes] = []
    op_type, domain, attributes = b"", b"", []
    for field, value in _fields(node):
        if field == _NODE_INPUT:
            inputs.append(bytes(value))
        elif field == _NODE_OUTPUT:
            outputs.append(bytes(value))
        elif field == _NODE_OP:
            op_type = bytes(value)
        elif field == _NODE_DOMAIN:
            domain = bytes(value)
        elif field == _NODE_ATTRIBUTE:
            attributes.append(_message(value, "an attribute"))
    digest.node(op_type, domain, inputs, outputs)
    for attribute in attributes:
        _hash_attribute(digest, attribute)


def _hash_attribute(digest: _Digest, attribute: memoryview) -> None:
    name, kind, ref = b"", 0, None
    values: dict[int, list[Any]] = {}
    for field, value in _fields(attribute):
        if field == _ATTR_NAME:
            name = bytes(value)
        elif field == _ATTR_TYPE:
            kind = value
        elif field == _ATTR_REF:
            ref = bytes(value)
        elif field in _ATTR_FIELDS:
            values.setdefault(field, []).append(value)
    if ref:
        digest.attribute(name, 0, b"ref:" + ref)
        return
    if not kind:
        kind = next((_ATTR_FIELDS[f] for f in values), 0)
    if kind == _FLOAT:
        digest.attribute(name, kind, _fixed(values.get(2, [b"\0\0\0\0"])[-1], 4))
    elif kind == _INT:
        digest.attribute(name, kind, struct.pack("<q", _signed(values.get(3, [0])[-1])))
    elif kind == _STRING:
        digest.attribute(name, kind, bytes(values.get(4, [b""])[-1]))
    elif kind == _FLOATS:
        digest.attribute(name, kind, b"".join(_fixed(v, None) for v in values.get(7, [])))
    elif kind == _INTS:
        ints: list[int] = []
        for v in values.get(8, []):
            ints += [_signed(v)] if isinstance(v, int) else _packed_varints(v)
        digest.attribute(name, kind, struct.pack(f"<{len(ints)}q", *ints))
    elif kind == _STRINGS:
        digest.attribute(name, kind, b"".join(len(s).to_bytes(8, "little") + bytes(s)
                                              for s in values.get(9, [])))
    elif kind in (_TENSOR, _TENSORS):
        digest.attribute(name, kind)
        for tensor in values.get(5 if kind == _TENSOR else 10, []):
            digest.tensor(*_tensor(_message(tensor, "a tensor attribute")))
    elif kind in (_GRAPH, _GRAPHS):
        digest.attribute(name, kind)
        for graph in values.get(6 if kind == _GRAPH else 11, []):
            _hash_graph(digest, _message(graph, "a graph attribute"))
    else:
        raise WeightsUnreadable(f"attribute {name.decode(errors='replace')!r} of type {kind}")


def _fixed(value: Any, size: int | None) -> bytes:
    """Little-endian bytes of a fixed-width field (or a packed run of them)."""
    if not isinstance(value, memoryview) or (size is not None and len(value) != size):
        raise WeightsUnreadable("a float attribute is not 4 bytes")
    return bytes(value)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def external_data_tensors(data: bytes | memoryview) -> list[str]:
    """Names of the graph's initializers stored in external data files (empty for a
    self-contained export)."""
    view = memoryview(data)
    names = []
    for field, graph in _fields(view):
        if field != _MODEL_GRAPH or not isinstance(graph, memoryview):
            continue
        for gfield, tensor in _fields(graph):
            if gfield != _GRAPH_INITIALIZER or not isinstance(tensor, memoryview):
                continue
            name, external = b"", False
            for tfield, value in _fields(tensor):
                if tfield == _NAME:
                    name = bytes(value)
                elif tfield == _LOCATION and value == _EXTERNAL:
                    external = True
            if external:
                names.append(name.decode(errors="replace"))
    return names


def read_metadata_value(path: str | Path, key: str) -> str | None:
    """The value of ``key`` in an ``.onnx`` file's metadata, read by skipping over
    the graph (the weights are never read into memory); None when absent.

    Raises
    ------
    WeightsUnreadable
        The file is not a serialised ModelProto.
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(0)
        while fh.tell() < size:
            tag = _read_varint(fh)
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                _read_varint(fh)
            elif wire == 2:
                length = _read_varint(fh)
                if fh.tell() + length > size:
                    raise WeightsUnreadable("truncated or malformed protobuf")
                if field == _MODEL_METADATA:
                    entry = dict(_fields(memoryview(fh.read(length))))
                    if bytes(entry.get(1, b"")).decode(errors="replace") == key:
                        return bytes(entry.get(2, b"")).decode()
                else:
                    fh.seek(length, 1)
            elif wire in (1, 5):
                fh.seek(8 if wire == 1 else 4, 1)
            else:
                raise WeightsUnreadable(f"protobuf wire type {wire} is not read")
    return None


def _read_varint(fh: Any) -> int:
    result = shift = 0
    while True:
        byte = fh.read(1)
        if not byte or shift > 63:
            raise WeightsUnreadable("truncated or malformed protobuf")
        result |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return result
        shift += 7


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
        out.append(_signed(value))
    return out


def _fields(view: memoryview) -> Iterator[tuple[int, Any]]:
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
