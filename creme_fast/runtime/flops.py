"""What each node of an ONNX graph costs, from its shapes (no timing, no run, no torch).

Multiply-add operators are counted as 2 FLOPs per multiply-add: ``Conv``,
``ConvInteger``, ``MatMul``, ``MatMulInteger``, ``Gemm`` and ``Einsum``;
elementwise operations, softmax and normalisations count 0 FLOPs (a few percent
of Enformer). Each node's largest output size (values, any dtype) is kept too: a
node producing a handful of values is shape arithmetic, one producing an
activation moves model data. Shapes come from shape inference with the inputs'
dimensions fixed, on a copy of the graph whose large weights are replaced by
their shapes (no copy of the weights is made).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FLOP_OPS", "NodeCost", "count_flops", "node_costs"]

FLOP_OPS = ("Conv", "ConvInteger", "MatMul", "MatMulInteger", "Gemm", "Einsum")
_SMALL_CONSTANT = 64  # initializers up to this many values keep their data (shape inputs)


@dataclass(frozen=True)
class NodeCost:
    """One node's cost for one run at the given input shapes.

    Attributes
    ----------
    op_type : str
    flops : float
        2 per multiply-add (0 for operators that are not counted).
    out_values : int or None
        Values in the node's largest output; None where shape inference left
        a dimension unknown.
    """

    op_type: str
    flops: float
    out_values: int | None


def _load(model: str | Path | bytes | Any) -> Any:
    import onnx

    if isinstance(model, (str, Path)):
        return onnx.load(str(model))
    if isinstance(model, (bytes, bytearray, memoryview)):
        return onnx.load_from_string(bytes(model))
    return model


def _shape_only(model: Any, inputs: dict[str, tuple[int, ...]]) -> Any:
    """A copy of ``model`` whose large initializers are graph inputs of their shape,
    with the given input dimensions fixed."""
    import onnx
    from onnx import helper

    graph = model.graph
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    light.graph.name = graph.name
    light.graph.node.extend(graph.node)
    light.graph.input.extend(graph.input)
    light.graph.output.extend(graph.output)
    for init in graph.initializer:
        if int(np.prod(init.dims)) > _SMALL_CONSTANT and init.data_type != onnx.TensorProto.INT64:
            light.graph.input.append(helper.make_tensor_value_info(
                init.name, init.data_type, list(init.dims)))
        else:
            light.graph.initializer.append(init)
    for value in light.graph.input:
        if value.name not in inputs:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(inputs[value.name]):
            raise ValueError(f"input {value.name!r} has {len(dims)} dimensions, got shape "
                             f"{inputs[value.name]}")
        for dim, size in zip(dims, inputs[value.name]):
            dim.Clear()
            dim.dim_value = int(size)
    return light


def _shapes(model: Any) -> dict[str, list[int]]:
    import onnx

    try:  # ONNX Runtime's symbolic inference follows Shape -> Reshape chains
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except ImportError:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    out: dict[str, list[int]] = {}
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            out[value.name] = [d.dim_value for d in dims]
    for init in inferred.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def _einsum(equation: str, shapes: list[list[int]]) -> float:
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for letters, shape in zip(inputs, shapes):
        if "..." in letters:
            raise ValueError(f"einsum with an ellipsis is not counted: {equation}")
        sizes.update(zip(letters, shape))
    return 2.0 * float(np.prod([sizes[c] for c in sizes]))


def _flops(node: Any, shapes: dict[str, list[int]]) -> float:
    if node.op_type not in FLOP_OPS:
        return 0.0
    try:
        ins = [shapes[name] for name in node.input[:2]]
        out = shapes[node.output[0]]
    except KeyError as exc:
        raise ValueError(f"{node.op_type} node {node.name!r}: shape of {exc} unknown") from None
    if node.op_type in ("Conv", "ConvInteger"):
        return 2.0 * float(np.prod(out)) * float(np.prod(ins[1][1:]))
    if node.op_type == "Einsum":
        equation = next(a.s.decode() for a in node.attribute if a.name == "equation")
        return _einsum(equation, ins)
    trans_a = any(a.name == "transA" and a.i for a in node.attribute)
    k = ins[0][-2] if trans_a else ins[0][-1]
    return 2.0 * float(np.prod(out)) * k


def node_costs(model: str | Path | bytes | Any,
               inputs: dict[str, tuple[int, ...]]) -> dict[str, NodeCost]:
    """Every node's FLOPs and largest output, by node name.

    Parameters
    ----------
    model : str, pathlib.Path, bytes or onnx.ModelProto
    inputs : dict of str to tuple of int
        The shape of every graph input (e.g. ``{"sequence": (1, 196608)}``).

    Returns
    -------
    dict of str to NodeCost

    Raises
    ------
    ValueError
        A counted node whose shapes shape inference could not fix.
    """
    model = _load(model)
    shapes = _shapes(_shape_only(model, inputs))
    costs = {}
    for node in model.graph.node:
        sizes = [int(np.prod(shapes[o])) if o in shapes else None for o in node.output if o]
        out_values = None if None in sizes or not sizes else max(sizes)
        costs[node.name] = NodeCost(node.op_type, _flops(node, shapes), out_values)
    return costs


def count_flops(model: str | Path | bytes | Any,
                inputs: dict[str, tuple[int, ...]]) -> dict[str, float]:
    """FLOPs of one run of a graph, per operator type.

    Parameters
    ----------
    model : str, pathlib.Path, bytes or onnx.ModelProto
    inputs : dict of str to tuple of int
        The shape of every graph input (e.g. ``{"sequence": (1, 196608)}``).

    Returns
    -------
    dict of str to float
        FLOPs per counted operator type and ``"total"``.

    Raises
    ------
    ValueError
        A counted node whose shapes shape inference could not fix.
    """
    counts: dict[str, float] = {}
    for cost in node_costs(model, inputs).values():
        if cost.op_type in FLOP_OPS:
            counts[cost.op_type] = counts.get(cost.op_type, 0.0) + cost.flops
    counts["total"] = float(sum(counts.values()))
    return counts
