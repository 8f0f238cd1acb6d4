"""The largest batch a GPU session may run (cuDNN's int32 element count, the device's
memory), computed from the graph and tested here with the provider name injected;
and use_buckets' CUDA graph option, which rebuilt a capture from a capture.

Observed on an H200 (benchmarks/RESULTS.md, GPU section): the published Enformer
at batch 16 failed in its stem Conv with CUDNN_STATUS_NOT_SUPPORTED (its stem
output has 768 x 196,608 = 150,994,944 elements per sequence: 2^31 elements at
batch 14.2); and after ``use_buckets([1], cuda_graph=True)``,
``use_buckets([4], cuda_graph=True)`` was refused with "the graph's batch is
fixed at 1" although the graph's batch axis is dynamic.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest
from creme_fast.export import export_enformer
from enformer_fixtures import SEQ_LENGTH, SMALL, input_spread, make_small_enformer
from onnx import TensorProto, helper

from creme_fast import assays
from creme_fast.runtime import OnnxPredictor, ort
from creme_fast.runtime.binding import CudaGraphError
from creme_fast.runtime.gpu_batch import (
    DEVICE_FACTOR,
    MAX_ELEMENTS,
    GraphSizes,
    fit_gpu_batch,
    gpu_batch_limit,
    graph_sizes,
)
from creme_fast.runtime.providers import CPU, CUDA, TENSORRT

# the published Enformer's stem, as shape inference of its export gives it (RESULTS.md)
STEM = GraphSizes(graph="published.onnx", largest_values=768 * 196_608,
                  largest_tensor="/body/stem/stem.0/Conv_output_0",
                  largest_node="Conv '/body/stem/stem.0/Conv'", live_bytes=2_513_166_336)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_batch") / "small.onnx"
    export_enformer(make_small_enformer(), out, seq_length=SEQ_LENGTH, input_kind="tokens")
    return out


def _chain() -> bytes:
    """x (B, 4, 10) -> Conv 8 channels -> Relu -> Conv 2 channels."""
    weights = [helper.make_tensor("w1", TensorProto.FLOAT, [8, 4, 1], [0.1] * 32),
               helper.make_tensor("w2", TensorProto.FLOAT, [2, 8, 1], [0.1] * 16)]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="wide"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Conv", ["b", "w2"], ["y"], name="narrow")]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 2, 10])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]) \
        .SerializeToString()


def test_graph_sizes_of_a_chain_counted_by_hand():
    sizes = graph_sizes(_chain(), {"x": (1, 4, 10)}, "chain")
    assert (sizes.largest_values, sizes.largest_tensor) == (80, "a")  # 8 x 10 (b ties, later)
    assert sizes.largest_node == "Conv 'wide'"
    # at Relu: a (80) and b (80) live, x (40) freed after the first Conv
    assert sizes.live_bytes == 4 * 160


def test_graph_sizes_of_the_small_enformer_find_its_stem(export):
    sizes = graph_sizes(export.read_bytes(), {"sequence": (1, SEQ_LENGTH)}, export.name)
    # the stem's Conv makes dim // 2 channels at full length, as the published one's 768
    assert sizes.largest_values == SMALL["dim"] // 2 * SEQ_LENGTH
    assert "stem" in sizes.largest_tensor
    assert sizes.live_bytes >= 2 * 4 * sizes.largest_values  # its output and the next one


def test_the_published_stem_caps_cuda_at_14_and_refuses_16(caplog):
    limit = gpu_batch_limit(STEM, CUDA, None)
    assert limit.by_elements == 14 == MAX_ELEMENTS // 150_994_944
    assert 14 * 150_994_944 < 2**31 <= 15 * 150_994_944
    assert limit.largest == 14 and limit.by_memory is None
    assert fit_gpu_batch(12, limit, explicit=True) == 12
    assert fit_gpu_batch(14, limit, explicit=True) == 14
    with pytest.raises(ValueError) as info:
        fit_gpu_batch(16, limit, explicit=True, option="--batch-size")
    text = str(info.value)
    for part in ("--batch-size 16", "largest batch CUDAExecutionProvider can run with this "
                 "model, 14", "'/body/stem/stem.0/Conv_output_0'", "150,994,944 elements per "
                 "sequence", "2,147,483,647", "16 x 150,994,944 = 2,415,919,104"):
        assert part in text
    with caplog.at_level(logging.WARNING):
        assert fit_gpu_batch(16, limit, explicit=False) == 14
    assert "running batches of 14" in caplog.text
    assert gpu_batch_limit(STEM, TENSORRT, None).largest == 14
    assert gpu_batch_limit(STEM, CPU, None) is None  # no such limit on the CPU
    assert fit_gpu_batch(64, None, explicit=True) == 64


def test_device_memory_caps_the_batch_by_the_estimate():
    gib = 2**30
    per = DEVICE_FACTOR * STEM.live_bytes
    assert 9.1 * gib < per < 9.7 * gib  # measured on an H200: 9.1 GiB more per sequence
    h200 = gpu_batch_limit(STEM, CUDA, 143_771 << 20)
    assert (h200.by_memory, h200.largest) == (14, 14)  # batch 12 held 108 GiB there
    small = gpu_batch_limit(STEM, CUDA, 40 * gib)
    assert small.largest == int(40 * gib // int(per)) == 4
    with pytest.raises(ValueError, match=r"GiB of device memory per sequence .* on a device "
                       r"of 40\.0 GiB"):
        fit_gpu_batch(8, small, explicit=True)
    assert gpu_batch_limit(STEM, CUDA, gib).largest == 1  # one sequence is always tried


def _limited(export, rows: int) -> OnnxPredictor:
    """A CPU predictor given the limit a CUDA session of the same graph would have,
    with the element limit lowered so that ``rows`` sequences fit."""
    predictor = OnnxPredictor(export, threads=1)
    assert predictor.gpu_limit is None  # a CPU session has none
    sizes = graph_sizes(export.read_bytes(), {"sequence": (1, SEQ_LENGTH)}, export.name)
    predictor.gpu_limit = gpu_batch_limit(sizes, CUDA, None,
                                          max_elements=rows * sizes.largest_values)
    assert predictor.gpu_limit.largest == rows
    return predictor


class _Rows:
    """A session stand-in in front of the real one, recording each call's rows."""

    def __init__(self, session) -> None:
        self.session, self.rows = session, []

    def run(self, names, feeds):
        self.rows.append(len(next(iter(feeds.values()))))
        return self.session.run(names, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_predict_never_runs_more_rows_than_the_limit(export):
    tokens = np.random.default_rng(5).integers(0, 4, size=(7, SEQ_LENGTH), dtype=np.uint8)
    want = OnnxPredictor(export, threads=1).predict(tokens)
    assert input_spread(want[0], want[1]) > 1e-2  # rows differ: a misplaced row would show
    predictor = _limited(export, 3)
    spy = predictor.session = _Rows(predictor.session)
    got = predictor.predict(tokens)
    assert spy.rows == [3, 3, 1]
    np.testing.assert_array_equal(got, want)


def test_the_engine_fits_and_refuses_batches_over_the_gpu_limit(export, caplog):
    seq = np.random.default_rng(9).integers(0, 4, SEQ_LENGTH, dtype=np.uint8)
    options = dict(tile_size=256, num_shuffles=2, verbose=False, bins=[3, 4], tracks=[0, 5])
    want = assays.necessity(OnnxPredictor(export, threads=1), seq, batch_size=8, **options)
    assert np.ptp(want.effect) > 1e-3  # effects differ between tiles: the comparison can fail
    predictor = _limited(export, 3)
    with pytest.raises(ValueError, match="batch_size 8 is over the largest batch "
                       "CUDAExecutionProvider can run with this model, 3: .*stem"):
        assays.necessity(predictor, seq, batch_size=8, **options)
    spy = predictor.session = _Rows(predictor.session)
    with caplog.at_level(logging.WARNING):
        got = assays.necessity(predictor, seq, **options)  # the default batch, fitted
    assert "running batches of 3" in caplog.text
    assert spy.rows and max(spy.rows) <= 3
    np.testing.assert_allclose(got.effect, want.effect, rtol=1e-5, atol=1e-6)


def test_cuda_graph_buckets_can_change_and_come_back(export, monkeypatch):
    """use_buckets rebuilds the capture from the graph's own batch axis. On the CPU
    the capture option itself is refused (test_binding), so its provider check is
    lifted here: what is tested is the session each call leaves in place."""
    monkeypatch.setattr(ort, "check_cuda_graph", lambda *args: None)
    tokens = np.random.default_rng(3).integers(0, 4, size=(4, SEQ_LENGTH), dtype=np.uint8)
    predictor = OnnxPredictor(export, threads=1, io_binding=True)
    want = predictor.predict(tokens)
    predictor.use_buckets([1], cuda_graph=True)
    assert predictor.session.get_inputs()[0].shape[0] == 1
    np.testing.assert_allclose(predictor.predict(tokens[:1]), want[:1], rtol=1e-5, atol=1e-6)
    predictor.use_buckets([4], cuda_graph=True)  # was: "the graph's batch is fixed at 1"
    assert predictor.session.get_inputs()[0].shape[0] == 4
    np.testing.assert_allclose(predictor.predict(tokens), want, rtol=1e-5, atol=1e-6)
    predictor.use_buckets(None)  # no capture: the graph's own batch axis again
    assert isinstance(predictor.session.get_inputs()[0].shape[0], str)
    np.testing.assert_allclose(predictor.predict(tokens[:3]), want[:3], rtol=1e-5, atol=1e-6)


def test_a_truly_fixed_batch_is_still_named(tmp_path, monkeypatch):
    monkeypatch.setattr(ort, "check_cuda_graph", lambda *args: None)
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "fixed",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 16])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 16])]),
        opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "fixed.onnx"
    path.write_bytes(model.SerializeToString())
    predictor = OnnxPredictor(path, io_binding=True, seq_length=16, incremental=False)
    with pytest.raises(CudaGraphError, match="the graph's batch is fixed at 2; the bucket "
                       "must be 2"):
        predictor.use_buckets([4], cuda_graph=True)
