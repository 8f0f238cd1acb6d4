"""fp16 and bf16 graphs (softmax, layer norms, softplus kept float32) behind the fidelity gate.

ONNX Runtime's CPU provider runs an fp16 graph (float32 kernels between casts), so
the fp16 gate runs here end to end; it has no bf16 kernels, so the bf16 graph is
checked structurally and its refusal here is checked by message.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from creme_fast.export import ExportError, export_enformer
from creme_fast.export.half import (
    BF16_FLOAT32_OPS,
    FLOAT32_OPS,
    bf16_opset,
    to_bf16,
    to_bfloat16,
    to_half,
)
from creme_fast.export.incremental import piece_paths
from creme_fast.export.precision import (
    calibration_loci,
    check_precision,
    gate_passes,
    reduce_export,
)
from enformer_fixtures import SEQ_LENGTH, input_spread, make_small_enformer
from onnx import TensorProto, numpy_helper

from creme_fast.cli import main
from creme_fast.runtime import OnnxPredictor
from creme_fast.runtime.checksum import weights_sha256, weights_sha256_of_bytes
from creme_fast.runtime.providers import CPU, CUDA


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("half") / "small.onnx"
    export_enformer(make_small_enformer(), out, seq_length=SEQ_LENGTH, input_kind="tokens")
    return out


def _types(model):
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    out = {v.name: v.type.tensor_type.elem_type
           for v in (*graph.input, *graph.output, *graph.value_info)}
    out.update({t.name: t.data_type for t in graph.initializer})
    return out


def _check_islands(model, half_type):
    """Weights of the heavy operators are ``half_type``; the blocked operators read
    and write float32; the graph's input and output keep their types."""
    types = _types(model)
    graph = model.graph
    heavy = [n for n in graph.node if n.op_type in ("Conv", "MatMul")]
    weights = [types[n.input[1]] for n in heavy if n.input[1] in
               {t.name for t in graph.initializer}]
    assert weights and set(weights) == {half_type}
    blocked = [n for n in graph.node if n.op_type in FLOAT32_OPS]
    assert {n.op_type for n in blocked} == set(FLOAT32_OPS)
    for node in blocked:
        assert types[node.input[0]] == TensorProto.FLOAT, node.name
        assert types[node.output[0]] == TensorProto.FLOAT, node.name
    assert types[graph.input[0].name] == TensorProto.UINT8
    assert types[graph.output[0].name] == TensorProto.FLOAT


def test_fp16_graph_keeps_softmax_and_norms_float32(export):
    fp32 = onnx.load(str(export))
    half = to_half(fp32)
    onnx.checker.check_model(half)
    _check_islands(half, TensorProto.FLOAT16)
    assert fp32.graph.initializer[0].data_type == TensorProto.FLOAT  # the source is untouched


def test_bf16_graph_rounds_the_float32_weights(export):
    fp32 = bf16_opset(onnx.load(str(export)))
    assert max(o.version for o in fp32.opset_import if o.domain == "") >= 22
    bf16 = to_bfloat16(to_half(fp32), fp32)
    onnx.checker.check_model(bf16, full_check=True)
    _check_islands(bf16, TensorProto.BFLOAT16)
    assert TensorProto.FLOAT16 not in _types(bf16).values()
    originals = {t.name: numpy_helper.to_array(t) for t in fp32.graph.initializer}
    converted = [t for t in bf16.graph.initializer if t.data_type == TensorProto.BFLOAT16]
    assert len(converted) > 20
    for tensor in converted:
        want = torch.from_numpy(originals[tensor.name].copy()).to(torch.bfloat16)
        got = np.frombuffer(tensor.raw_data, dtype=np.int16).reshape(tuple(tensor.dims))
        np.testing.assert_array_equal(got, want.view(torch.int16).numpy(), err_msg=tensor.name)
    assert weights_sha256_of_bytes(bf16.SerializeToString()) == weights_sha256(bf16)
    import onnxruntime

    with pytest.raises(Exception, match="Conv"):  # no bf16 kernels on ORT's CPU provider
        onnxruntime.InferenceSession(bf16.SerializeToString(), providers=[CPU])


#: Operators with a bfloat16 kernel on ONNX Runtime's CUDA provider (its
#: docs/OperatorKernels.md), among those the exports contain; Constant is folded.
CUDA_BF16 = {"Add", "Cast", "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Erf",
             "Exp", "Expand", "Gather", "Gelu", "Identity", "LayerNormalization", "MatMul",
             "Mul", "Neg", "ReduceSum", "Relu", "Reshape", "Shape", "Sigmoid", "Slice",
             "Softmax", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze", "Where"}


def _bf16_ops(model):
    types = _types(model)
    return {n.op_type for n in model.graph.node
            if TensorProto.BFLOAT16 in {types.get(x) for x in (*n.input, *n.output) if x}}


def test_bf16_graph_has_only_operators_with_cuda_bf16_kernels(export):
    """On an H200 (onnxruntime-gpu 1.31.1) the bf16 graph did not load: "Provider type
    for BatchNormalization node ... is not set" (no bf16 kernel on CUDA)."""
    fp32 = onnx.load(str(export))
    assert {"BatchNormalization", "Pad"} <= {n.op_type for n in fp32.graph.node}
    bf16 = to_bf16(fp32)
    onnx.checker.check_model(bf16, full_check=True)
    touched = _bf16_ops(bf16)
    assert {"Conv", "MatMul"} <= touched  # the heavy work is still bf16
    assert touched <= CUDA_BF16, touched - CUDA_BF16
    types = _types(bf16)
    norms = [n for n in bf16.graph.node if n.op_type == "BatchNormalization"]
    assert norms and all(types[n.input[0]] == types[n.output[0]] == TensorProto.FLOAT
                         for n in norms)


def test_the_bf16_float32_islands_compute_the_model(export):
    """The bf16 graph cannot run on a CPU; the same islands (and casts) in an fp16
    graph can: their outputs agree with float32's to half precision."""
    fp32 = onnx.load(str(export))
    islands = to_half(fp32, keep=BF16_FLOAT32_OPS)
    assert _bf16_ops(islands) == set()
    types = _types(islands)
    norms = [n for n in islands.graph.node if n.op_type == "BatchNormalization"]
    assert norms and all(types[n.input[0]] == TensorProto.FLOAT for n in norms)
    assert len(islands.graph.node) > len(to_half(fp32).graph.node)  # the casts around them
    import onnxruntime

    tokens = np.random.default_rng(4).integers(0, 4, size=(3, SEQ_LENGTH), dtype=np.uint8)
    run = {}
    for name, model in (("fp32", fp32), ("islands", islands)):
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=[CPU])
        run[name] = session.run(None, {session.get_inputs()[0].name: tokens})[0]
    assert input_spread(run["fp32"][0], run["fp32"][1]) > 1e-2  # a wrong island would show
    np.testing.assert_allclose(run["islands"], run["fp32"], rtol=2e-2, atol=1e-3)


def test_bf16_needs_the_cuda_provider():
    with pytest.raises(ValueError, match="bf16.*CUDA provider"):
        check_precision("bf16", [CPU])
    check_precision("bf16", [CUDA, CPU])
    check_precision("fp16", [CPU])


def test_fp16_export_is_gated_recorded_and_runs(export, tmp_path, capsys):
    loci = calibration_loci(SEQ_LENGTH, 2)
    forced = tmp_path / "forced.onnx"
    entry = reduce_export(export, forced, "fp16", loci=loci, force=True)
    assert entry["format"] == "fp16" and entry["gate_provider"] == CPU
    assert set(entry["gate"]) == {"full", "incremental", "context"}
    assert entry["passed"] == gate_passes(entry["gate"], 0.999)
    assert entry["forced"] == (not entry["passed"])
    assert entry["gate"]["full"]["max_abs_effect"] > 1e-3  # effects to compare
    for path in (forced, *piece_paths(forced)):
        types = {t.data_type for t in onnx.load(str(path)).graph.initializer}
        assert TensorProto.FLOAT16 in types, path
    reduced = OnnxPredictor(forced, threads=1)
    assert reduced.metadata.dtype == "float16"
    assert reduced.metadata.extra["precision"]["format"] == "fp16"
    tokens = np.random.default_rng(3).integers(0, 4, size=(2, SEQ_LENGTH), dtype=np.uint8)
    want = OnnxPredictor(export, threads=1).predict(tokens)
    got = reduced.predict(tokens)
    assert input_spread(want[0], want[1]) > 1e-2
    assert not np.array_equal(got, want)  # float16 arithmetic ran
    np.testing.assert_allclose(got, want, rtol=3e-2, atol=3e-3)
    inc = reduced.incremental  # the pieces' sha256 recorded for the fp16 pieces
    np.testing.assert_allclose(inc.tower(inc.trunk(tokens)), got, rtol=1e-2, atol=1e-3)
    assert main(["info", str(forced)]) == 0
    assert "fp16 (" in capsys.readouterr().out

    gated = tmp_path / "gated.onnx"
    if entry["passed"]:
        reduce_export(export, gated, "fp16", loci=loci)
        assert gated.is_file()
    else:
        with pytest.raises(ExportError, match="fp16 fails its fidelity gate"):
            reduce_export(export, gated, "fp16", loci=loci)
        assert not gated.exists()
    assert not list(tmp_path.glob(".*"))  # no scratch left behind


def test_cli_refuses_bf16_here_and_maps_the_old_fp16_flag(tmp_path, capsys):
    base = ["export", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "m.onnx")]
    assert main([*base, "--precision", "bf16"]) == 2
    assert "bf16" in capsys.readouterr().err
    assert main([*base, "--fp16", "--precision", "int8"]) == 2
    assert "exclude each other" in capsys.readouterr().err
