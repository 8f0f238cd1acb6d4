"""fp16 and bf16 versions of a float32 graph, with softmax and layer norms kept in float32.

ONNX Runtime's converter (``onnxruntime.transformers.float16``) rewrites every
float tensor to float16 except around the operators it is told to block, where it
inserts casts; the graph's input and output keep their types (float32 one-hot or
uint8 tokens in, float32 out). Blocked here, beside the converter's own list:
:data:`FLOAT32_OPS`, the operators whose range or accumulation float16 handles
worst (softmax over attention logits and attention pooling, layer norms, and the
head's softplus, the last step before the float32 output).

bf16 takes the float16 graph's structure (the same casts, the same float32
islands) with every float16 type made bfloat16 and every weight rounded from its
float32 value (round to nearest even), not from its float16 one, so bf16 keeps
float32's range. ONNX admits bfloat16 convolutions from opset 22 on
(:data:`BF16_OPSET`), so the float32 graph is first converted to that opset
(``onnx.version_converter``; the converted float32 graph computes the same
values). ONNX Runtime's CPU provider has no bf16 kernels for the model's
operators ("Could not find an implementation for Conv(22)"): a bf16 graph is for
the CUDA provider. That provider lacks bf16 kernels for a few operators too
(:data:`BF16_FLOAT32_OPS`, from ONNX Runtime's own kernel table,
docs/OperatorKernels.md): a bf16 BatchNormalization stopped the published
Enformer from loading on an H200 with onnxruntime-gpu 1.31.1 ("Provider type
for BatchNormalization node ... is not set"). Those are kept float32 in a bf16
graph, with casts around them. (Folding the batch norms into a convolution
instead is not exact for Enformer: each one is followed by a GELU before its
convolution, and preceded by a residual sum or a pooling.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BF16_FLOAT32_OPS", "BF16_OPSET", "FLOAT32_OPS", "HALF_FORMATS", "bf16_opset",
           "half_method", "to_bf16", "to_bfloat16", "to_half", "write_half"]

#: Operators kept in float32 in fp16/bf16 graphs (beside the converter's own list).
FLOAT32_OPS = ("Softmax", "LayerNormalization", "Softplus")
#: Also kept float32 in bf16 graphs: operators of the exported models (Enformer,
#: Borzoi) for which ONNX Runtime's CUDA provider registers no bfloat16 kernel
#: (its docs/OperatorKernels.md: BatchNormalization, Pad, MaxPool, ReduceMax,
#: ReduceMean and Equal take double, float and float16 there, not bfloat16).
BF16_FLOAT32_OPS = ("BatchNormalization", "Pad", "MaxPool", "ReduceMax", "ReduceMean", "Equal")
HALF_FORMATS = {"fp16": "float16", "bf16": "bfloat16"}
#: The first ONNX opset whose Conv takes bfloat16.
BF16_OPSET = 22


def half_method(precision: str) -> str:
    """How a ``precision`` graph was made, for its metadata."""
    base = ("onnxruntime.transformers.float16.convert_float_to_float16 (keep_io_types; "
            f"{', '.join(FLOAT32_OPS)} kept float32)")
    if precision == "bf16":
        return (f"float32 graph converted to opset {BF16_OPSET}, then " + base + ", and "
                f"{', '.join(BF16_FLOAT32_OPS)} (no bf16 CUDA kernel) kept float32, then "
                "every float16 type made bfloat16 and the weights rounded from their float32 "
                "values")
    return base


def to_half(model: Any, keep: tuple[str, ...] = ()) -> Any:
    """The float16 version of a float32 ``onnx.ModelProto`` (a new model).

    ``keep``: operator types kept float32 beside :data:`FLOAT32_OPS` (for a bf16
    graph, :data:`BF16_FLOAT32_OPS`).
    """
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    half = convert_float_to_float16(copy, keep_io_types=True,
                                    op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FLOAT32_OPS, *keep])
    _sort_nodes(half.graph)  # the converter appends its input casts after their readers
    return half


def _sort_nodes(graph: Any) -> None:
    """Order ``graph``'s nodes so each comes after the nodes it reads (ONNX's rule)."""
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    order: list[int] = []
    state = [0] * len(graph.node)  # 0 new, 1 on the stack, 2 placed
    for root in range(len(graph.node)):
        stack = [(root, iter(graph.node[root].input))]
        while stack:
            index, inputs = stack[-1]
            if state[index] == 2:
                stack.pop()
                continue
            state[index] = 1
            for name in inputs:
                before = producer.get(name)
                if before is not None and state[before] == 0:
                    stack.append((before, iter(graph.node[before].input)))
                    break
            else:
                state[index] = 2
                order.append(index)
                stack.pop()
    nodes = [graph.node[i] for i in order]
    del graph.node[:]
    graph.node.extend(nodes)


def _bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """float32 values as bfloat16 bit patterns (uint16), rounded to nearest even."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def _bfloat16_tensor(values: np.ndarray, name: str) -> Any:
    from onnx import TensorProto

    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = TensorProto.BFLOAT16
    tensor.dims.extend(values.shape)
    tensor.raw_data = _bfloat16_bits(values).tobytes()
    return tensor


def bf16_opset(fp32: Any) -> Any:
    """``fp32`` at opset :data:`BF16_OPSET` or later (itself when it already is)."""
    from onnx import version_converter

    version = max((o.version for o in fp32.opset_import if o.domain in ("", "ai.onnx")),
                  default=0)
    return fp32 if version >= BF16_OPSET else version_converter.convert_version(fp32,
                                                                                BF16_OPSET)


def to_bfloat16(half: Any, fp32: Any) -> Any:
    """Make a :func:`to_half` graph bfloat16, weights rounded from ``fp32``'s values.

    Parameters
    ----------
    half : onnx.ModelProto
        ``to_half(fp32)`` of a graph at opset :data:`BF16_OPSET` or later
        (:func:`bf16_opset`); changed in place and returned.
    fp32 : onnx.ModelProto
        The float32 graph it was made from.
    """
    from onnx import AttributeProto, TensorProto, numpy_helper

    originals = {t.name: t for t in fp32.graph.initializer if t.data_type == TensorProto.FLOAT}
    graph = half.graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type != TensorProto.FLOAT16:
            continue
        source = originals.get(tensor.name, tensor)
        values = numpy_helper.to_array(source).astype(np.float32)
        graph.initializer[index].CopyFrom(_bfloat16_tensor(values, tensor.name))
    for node in graph.node:
        for attr in node.attribute:
            if attr.name == "to" and attr.type == AttributeProto.INT \
                    and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.BFLOAT16
            elif attr.type == AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                values = numpy_helper.to_array(attr.t).astype(np.float32)
                attr.t.CopyFrom(_bfloat16_tensor(values, attr.t.name))
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value.type.tensor_type.elem_type = TensorProto.BFLOAT16
    return half


def to_bf16(fp32: Any) -> Any:
    """The bfloat16 version of a float32 ``onnx.ModelProto`` (a new model): at opset
    :data:`BF16_OPSET`, with :data:`FLOAT32_OPS` and :data:`BF16_FLOAT32_OPS` kept
    float32 between casts, weights rounded from their float32 values."""
    fp32 = bf16_opset(fp32)
    return to_bfloat16(to_half(fp32, keep=BF16_FLOAT32_OPS), fp32)


def write_half(src: Path, dst: Path, precision: str) -> None:
    """Write ``dst``, the ``precision`` (fp16 or bf16) version of the float32 graph ``src``."""
    import onnx

    if precision not in HALF_FORMATS:
        raise ValueError(f"precision must be one of {', '.join(HALF_FORMATS)}, got "
                         f"{precision!r}")
    fp32 = onnx.load(str(src))
    if precision == "bf16":
        model = to_bf16(fp32)
    else:
        model = to_half(fp32)
    del fp32
    onnx.save(model, str(dst))
