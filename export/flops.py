"""Count the multiply-add FLOPs of an ONNX graph from its shapes (no timing, no run).

Conv, ConvTranspose-free graphs as creme-fast exports them: ``Conv``, ``MatMul``,
``Gemm`` and ``Einsum`` are counted as 2 FLOPs per multiply-add; elementwise
operations, softmax and normalisations are left out (a few percent of Enformer).
Shapes come from ONNX shape inference with the inputs' dimensions fixed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["count_flops"]


def _shapes(model: Any) -> dict[str, list[int]]:
    import onnx
    from onnx import numpy_helper

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
        out[init.name] = list(numpy_helper.to_array(init).shape)
    return out


def _einsum(equation: str, shapes: list[list[int]]) -> float:
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for letters, shape in zip(inputs, shapes):
        if "..." in letters:
            raise ValueError(f"einsum with an ellipsis is not counted: {equation}")
        sizes.update(zip(letters, shape))
    return 2.0 * float(np.prod([sizes[c] for c in sizes]))


def count_flops(model: str | Path | Any, inputs: dict[str, tuple[int, ...]]) -> dict[str, float]:
    """FLOPs of one run of a graph, per operator type.

    Parameters
    ----------
    model : str, pathlib.Path or onnx.ModelProto
    inputs : dict of str to tuple of int
        The shape of every graph input (e.g. ``{"sequence": (1, 196608)}``).

    Returns
    -------
    dict of str to float
        FLOPs per operator type and ``"total"``.

    Raises
    ------
    ValueError
        A counted node whose shapes shape inference could not fix.
    """
    import onnx

    model = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
    model = onnx.ModelProto.FromString(model.SerializeToString())  # do not touch the caller's
    for value in model.graph.input:
        if value.name not in inputs:
            continue
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, inputs[value.name]):
            dim.Clear()
            dim.dim_value = int(size)
    shapes = _shapes(model)
    counts: dict[str, float] = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "MatMul", "Gemm", "Einsum"):
            continue
        try:
            ins = [shapes[name] for name in node.input if name]
            out = shapes[node.output[0]]
        except KeyError as exc:
            raise ValueError(f"{node.op_type} node {node.name!r}: shape of {exc} unknown") from None
        if node.op_type == "Conv":
            weight = ins[1]
            flops = 2.0 * np.prod(out) * np.prod(weight[1:])
        elif node.op_type in ("MatMul", "Gemm"):
            trans_a = any(a.name == "transA" and a.i for a in node.attribute)
            k = ins[0][-2] if trans_a else ins[0][-1]
            flops = 2.0 * np.prod(out) * k
        else:
            equation = next(a.s.decode() for a in node.attribute if a.name == "equation")
            flops = _einsum(equation, ins)
        counts[node.op_type] = counts.get(node.op_type, 0.0) + float(flops)
    counts["total"] = float(sum(counts.values()))
    return counts
