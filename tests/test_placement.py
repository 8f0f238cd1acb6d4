"""No silent fallback, down to the node: providers skipped by auto, node placement, strictness.

The assignment a GPU session records cannot be made here (no GPU); the tests take
the assignment a real CPU session recorded and move its nodes between providers,
which is what a CUDA session's record looks like, and check the counting, the
threshold and the strict/allow logic on it.
"""
from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest
from creme_fast.export import export_enformer
from enformer_fixtures import SEQ_LENGTH, make_small_enformer
from onnx import TensorProto, helper

from creme_fast.cli import main
from creme_fast.runtime import OnnxPredictor
from creme_fast.runtime.flops import count_flops, node_costs
from creme_fast.runtime.placement import (
    RECORD_ASSIGNMENT,
    SHAPE_VALUES,
    CpuNodesError,
    check_placement,
    input_shapes,
    placement_of,
    session_assignment,
)
from creme_fast.runtime.providers import CPU, CUDA, TENSORRT, skipped_providers


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("placement") / "small.onnx"
    export_enformer(make_small_enformer(), out, seq_length=SEQ_LENGTH, input_kind="tokens",
                    incremental=False)
    return out


@pytest.fixture(scope="module")
def recorded(export):
    """The assignment a real session recorded, its graph's bytes and input shapes."""
    predictor = OnnxPredictor(export, threads=1)
    assert predictor.session.get_session_options().get_session_config_entry(
        RECORD_ASSIGNMENT) == "1"
    assignment = session_assignment(predictor.session)
    return assignment, export.read_bytes(), input_shapes(predictor.session)


def test_a_session_records_its_own_placement(recorded, export):
    assignment, data, shapes = recorded
    assert list(assignment) == [CPU]
    assert shapes == {"sequence": (1, SEQ_LENGTH)}
    placement = placement_of(assignment, data, shapes, export.name)
    graph_nodes = {n.name for n in onnx.load(str(export)).graph.node}
    assert {name for name, _ in assignment[CPU]} <= graph_nodes  # the graph's own names
    assert placement.nodes[CPU] == len(assignment[CPU]) > 100
    total = count_flops(export, {"sequence": (1, SEQ_LENGTH)})["total"]
    # constant folding (before the record) removes only a MatMul of two constants
    assert 0.95 * total <= placement.flops[CPU] <= total
    assert placement.cpu_flop_share == 1.0 and not placement.costs_known


def _as_cuda(assignment, keep_on_cpu):
    cpu = [n for n in assignment[CPU] if keep_on_cpu(n)]
    return {CUDA: [n for n in assignment[CPU] if not keep_on_cpu(n)], CPU: cpu}


def test_shape_arithmetic_on_the_cpu_is_not_a_fallback(recorded, export, caplog):
    assignment, data, shapes = recorded
    shape_ops = {"Shape", "Gather", "Unsqueeze", "Concat"}
    costs = node_costs(data, dict(shapes))
    small = [n for n in assignment[CPU] if n[1] in shape_ops
             and costs[n[0]].out_values is not None and costs[n[0]].out_values <= 8]
    assert any(op == "Shape" for _, op in small)  # ORT keeps these on the CPU by design
    placement = placement_of(_as_cuda(assignment, lambda n: n in small), data, shapes,
                             export.name)
    assert placement.nodes[CPU] == len(small) and not placement.cpu_work
    assert placement.problems() == []
    assert placement.flops[CPU] == 0 and placement.flops[CUDA] > 0
    with caplog.at_level(logging.INFO, logger="creme_fast"):
        check_placement(placement, strict=True, provider=CUDA)
    text = caplog.text
    assert f"{CUDA} {placement.nodes[CUDA]} nodes" in text and "(100.0%)" in text
    assert f"{len(small)} CPU node(s) are shape arithmetic" in text
    assert "WARNING" not in text


def test_model_work_on_the_cpu_warns_or_is_refused(recorded, export, caplog):
    assignment, data, shapes = recorded
    convs = [n for n in assignment[CPU] if n[1] == "Conv"]
    moved = {convs[0]}
    placement = placement_of(_as_cuda(assignment, lambda n: n in moved), data, shapes,
                             export.name)
    assert [w[:2] for w in placement.cpu_work] == [convs[0]]
    assert 0 < placement.cpu_flop_share < 0.5
    problems = placement.problems()
    assert any("1 Conv" in p and "copying activations" in p for p in problems)
    with pytest.raises(CpuNodesError, match="--allow-cpu-nodes") as caught:
        check_placement(placement, strict=True, provider=CUDA)
    assert convs[0][0] in str(caught.value) and "small.onnx" in str(caught.value)
    with caplog.at_level(logging.WARNING, logger="creme_fast"):
        check_placement(placement, strict=False, provider=CUDA)
    assert "expect CPU speed" in caplog.text and "1 Conv" in caplog.text

    # an elementwise node on a whole activation is model work too (no FLOPs counted)
    sigmoid = next(n for n in assignment[CPU] if n[1] == "Sigmoid")
    placement = placement_of(_as_cuda(assignment, lambda n: n == sigmoid), data, shapes,
                             export.name)
    assert placement.cpu_flop_share == 0
    assert placement.cpu_work[0][3] > SHAPE_VALUES and placement.problems()


def test_flop_share_threshold(recorded, export):
    assignment, data, shapes = recorded
    convs = [n for n in assignment[CPU] if n[1] == "Conv"]
    placement = placement_of(_as_cuda(assignment, lambda n: n == convs[-1]), data, shapes,
                             export.name)
    share = placement.cpu_flop_share
    assert any("FLOPs run on the CPU" in p for p in placement.problems(share / 2))
    assert not any("FLOPs run on the CPU" in p for p in placement.problems(share * 2))


def test_unknown_placement_is_refused_only_when_strict(caplog):
    with pytest.raises(CpuNodesError, match="cannot report which nodes run"):
        check_placement(None, strict=True, provider=CUDA)
    with caplog.at_level(logging.WARNING, logger="creme_fast"):
        check_placement(None, strict=False, provider=CUDA)
    assert "cannot report" in caplog.text


def test_integer_matmul_flops_are_counted():
    a = helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 3])
    b = helper.make_tensor("b", TensorProto.INT8, [3, 4], [1] * 12)
    y = helper.make_tensor_value_info("y", TensorProto.INT32, [2, 4])
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"], name="mm")],
                              "g", [a], [y], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert count_flops(model, {"a": (2, 3)}) == {"MatMulInteger": 48.0, "total": 48.0}
    assert node_costs(model, {"a": (2, 3)})["mm"].out_values == 8


def test_auto_says_why_better_providers_were_skipped(export, caplog):
    build = skipped_providers([CPU], CPU)
    assert set(build) == {TENSORRT, CUDA}
    assert all(not fault and "onnxruntime-gpu" in why for why, fault in build.values())
    offered = skipped_providers([TENSORRT, CUDA, CPU], CUDA)
    assert list(offered) == [TENSORRT]
    why, fault = offered[TENSORRT]
    assert fault and "libnvinfer.so.10" in why
    assert skipped_providers([TENSORRT, CUDA, CPU], TENSORRT) == {}

    with caplog.at_level(logging.INFO, logger="creme_fast"):
        OnnxPredictor(export, threads=1)
    assert (f"provider auto: {TENSORRT} and {CUDA} skipped: not in the installed onnxruntime"
            in caplog.text)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="creme_fast"):
        OnnxPredictor(export, threads=1, providers="cpu")
    assert "provider auto" not in caplog.text  # named: nothing was skipped


def test_cli_gpu_options_are_checked_before_any_work(tmp_path, capsys):
    tss = tmp_path / "tss.tsv"
    tss.write_text("chrom\ttss\tstrand\tname\nchr1\t100\t+\tg\n")
    base = ["run", "necessity", "--model", "synthetic", "--fasta", str(tmp_path / "no.fa"),
            "--tss", str(tss), "--out", str(tmp_path / "run")]
    assert main([*base, "--allow-cpu-nodes"]) == 2
    assert "--allow-cpu-nodes relaxes --provider cuda or tensorrt" in capsys.readouterr().err
    assert main([*base, "--provider", "cuda", "--cuda-graph", "--ray"]) == 2
    assert "not passed to Ray workers" in capsys.readouterr().err
    assert main(["bench", "--model", "synthetic", "--allow-cpu-nodes"]) == 2
    assert not (tmp_path / "run").exists()


def test_cuda_graph_on_the_cli_is_refused_with_its_reason(tmp_path, capsys):
    tss = tmp_path / "tss.tsv"
    tss.write_text("chrom\ttss\tstrand\tname\nchr1\t150000\t+\tg\n")
    code = main(["run", "necessity", "--model", "synthetic", "--fasta", str(tmp_path / "g.fa"),
                 "--tss", str(tss), "--out", str(tmp_path / "run"), "--cuda-graph",
                 "--no-progress"])
    assert code == 2
    assert "CUDA graphs need the CUDA provider" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_explicit_gpu_provider_without_the_gpu_build_names_the_package(export):
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        OnnxPredictor(export, providers="cuda", allow_cpu_nodes=True)
    assert np.isfinite(OnnxPredictor(export, providers="cpu").predict(
        np.zeros((1, SEQ_LENGTH), np.uint8))).all()
