"""The predictor's GPU-shaped path, run with host buffers: IO binding, batch buckets
(padding never reaches results), outputs reduced before they leave the device, and
the CUDA graph option refused where it cannot hold."""
from __future__ import annotations

import numpy as np
import pytest
from creme_fast.export import export_enformer
from enformer_fixtures import SEQ_LENGTH, input_spread, make_small_enformer
from onnx import TensorProto, helper

from creme_fast import assays
from creme_fast.runtime import OnnxPredictor
from creme_fast.runtime.binding import (
    CudaGraphError,
    OutputSelection,
    bucket_calls,
    check_buckets,
    check_cuda_graph,
    cuda_graph_options,
)
from creme_fast.runtime.providers import CPU, CUDA, TENSORRT
from creme_fast.sequence import one_hot


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("binding") / "small.onnx"
    export_enformer(make_small_enformer(), out, seq_length=SEQ_LENGTH, input_kind="tokens")
    return out


@pytest.fixture(scope="module")
def tokens():
    return np.random.default_rng(7).integers(0, 4, size=(9, SEQ_LENGTH), dtype=np.uint8)


@pytest.fixture(scope="module")
def plain(export, tokens):
    out = OnnxPredictor(export, threads=1).predict(tokens)
    assert input_spread(out[0], out[1]) > 1e-2  # rows differ: a shifted row would show
    return out


def test_bucket_calls():
    assert bucket_calls(5, (1, 4, 16)) == [(0, 4, 4), (4, 5, 1)]
    assert bucket_calls(5, (8,)) == [(0, 5, 8)]
    assert bucket_calls(13, (8,)) == [(0, 8, 8), (8, 13, 8)]
    assert bucket_calls(20, (4, 16, 32)) == [(0, 16, 16), (16, 20, 4)]
    assert bucket_calls(3, (4, 16)) == [(0, 3, 4)]
    assert bucket_calls(7, None) == [(0, 7, 7)]
    for n in range(1, 40):
        calls = bucket_calls(n, (2, 8))
        assert [c[0] for c in calls] == [0] + [c[1] for c in calls[:-1]] and calls[-1][1] == n
        assert all(size in (2, 8) and stop - start <= size for start, stop, size in calls)
        assert sum(size for *_, size in calls) - n < 2  # padding below the smallest bucket
    with pytest.raises(ValueError, match="at least one sequence"):
        bucket_calls(0, (4,))


@pytest.mark.parametrize("bad", [[], [0], [4, -1], [2.5], [True]])
def test_bad_buckets_are_named(bad):
    with pytest.raises(ValueError, match="bucket"):
        check_buckets(bad)
    assert check_buckets([8, 2, 8]) == (2, 8)


@pytest.mark.parametrize("buckets", [None, [4], [1, 4], [16]])
def test_bound_buckets_equal_the_plain_path(export, tokens, plain, buckets):
    bound = OnnxPredictor(export, threads=1, io_binding=True, buckets=buckets)
    for n in (1, 3, 4, 5, 9):
        np.testing.assert_allclose(bound.predict(tokens[:n]), plain[:n], rtol=1e-5, atol=1e-6)
    if buckets is not None:  # one buffer set per bucket, whatever the batch sizes were
        assert set(bound._runner._slots) <= set(buckets)


def test_selection_is_applied_before_the_copy(export, tokens, plain):
    bins, tracks = [5, 2], [9, 0, 3]
    want = plain[:, bins][:, :, tracks]
    host = OnnxPredictor(export, threads=1, bins=bins, tracks=tracks)
    np.testing.assert_array_equal(host.predict(tokens), want)
    bound = OnnxPredictor(export, threads=1, io_binding=True, buckets=[4], bins=bins,
                          tracks=tracks)
    np.testing.assert_allclose(bound.predict(tokens), want, rtol=1e-5, atol=1e-6)
    slot = bound._runner._slots[4]
    assert slot["raw"].shape() == [4, 8, 16]  # the model's whole output stays bound...
    assert slot["out"].shape() == [4, 2, 3]  # ...and only the kept values are copied
    mean = OnnxPredictor(export, threads=1, io_binding=True, bins=bins, bin_reduce="mean")
    np.testing.assert_allclose(mean.predict(tokens), plain[:, bins].mean(1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    # the incremental tower returns the same selection as predict
    inc = bound.incremental
    np.testing.assert_allclose(inc.tower(inc.trunk(tokens[:2])), want[:2], rtol=1e-4,
                               atol=1e-5)


def test_bad_selection_is_named_at_load(export):
    with pytest.raises(ValueError, match="track 16 is out of range: the model returns 16"):
        OnnxPredictor(export, tracks=[1, 16])
    with pytest.raises(ValueError, match="bin_reduce"):
        OnnxPredictor(export, bin_reduce="max")
    assert OutputSelection.of([1], None, "mean").shape(8, 16) == (1, 16)


def _log_model(path, length=64, bins=4, tracks=2):
    """(B, length, 4) -> log(x @ W) per bin: an all-zero (padding) row gives -inf."""
    w = np.random.default_rng(0).uniform(0.5, 1.5, (length // bins * 4, tracks))
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["r"]),
         helper.make_node("MatMul", ["r", "w"], ["m"]),
         helper.make_node("Log", ["m"], ["y"])], "log_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", length, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", bins, tracks])],
        [helper.make_tensor("shape", TensorProto.INT64, [3], [-1, bins, length // bins * 4]),
         helper.make_tensor("w", TensorProto.FLOAT, list(w.shape), w.ravel().tolist())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


def test_padding_never_reaches_results(tmp_path):
    path = _log_model(tmp_path / "log.onnx")
    onehot = one_hot(np.random.default_rng(1).integers(0, 4, (5, 64)).astype(np.uint8))
    assert np.isinf(OnnxPredictor(path).predict(np.zeros((1, 64, 4), np.float32))).all()
    want = OnnxPredictor(path).predict(onehot)
    bound = OnnxPredictor(path, io_binding=True, buckets=[8])
    got = bound.predict(onehot[:3])  # 5 zero rows of padding ran beside them
    assert got.shape == (3, 4, 2) and np.isfinite(got).all()
    np.testing.assert_allclose(got, want[:3], rtol=1e-6)
    # and through the engine, whose NaN/inf check would name a padding row that leaked
    seq = np.random.default_rng(2).integers(0, 4, 64).astype(np.uint8)
    result = assays.necessity(bound, seq, tile_size=8, num_shuffles=3, batch_size=5,
                              bins="all", verbose=False, incremental=False)
    reference = assays.necessity(OnnxPredictor(path), seq, tile_size=8, num_shuffles=3,
                                 batch_size=5, bins="all", verbose=False,
                                 incremental=False)
    np.testing.assert_allclose(result.effect, reference.effect, rtol=1e-5)


def test_cuda_graph_refused_where_it_cannot_hold(export):
    with pytest.raises(CudaGraphError, match="need the CUDA provider; this session runs on "
                       f"{CPU}"):
        OnnxPredictor(export, io_binding=True, buckets=[4], cuda_graph=True)
    with pytest.raises(CudaGraphError, match="one fixed batch bucket"):
        check_cuda_graph(CUDA, (1, 4), True, "m")
    with pytest.raises(CudaGraphError, match="one fixed batch bucket"):
        check_cuda_graph(CUDA, None, True, "m")
    with pytest.raises(CudaGraphError, match="IO binding"):
        check_cuda_graph(CUDA, (4,), False, "m")
    with pytest.raises(CudaGraphError, match="CUDA provider"):
        check_cuda_graph(TENSORRT, (4,), True, "m")
    check_cuda_graph(CUDA, (4,), True, "m")
    assert cuda_graph_options({"device_id": 1}) == {"device_id": 1, "enable_cuda_graph": "1"}
    with pytest.raises(ValueError, match="bound path"):
        OnnxPredictor(export, buckets=[4])  # buckets without IO binding


def test_fixed_batch_session_runs_the_bucket_shape(export, tokens, plain):
    predictor = OnnxPredictor(export, threads=1)
    axis = predictor.session.get_inputs()[0].shape[0]
    assert isinstance(axis, str)
    session = predictor._make_session(export, export.read_bytes(), fixed_batch=(axis, 4))
    assert session.get_inputs()[0].shape == [4, SEQ_LENGTH]
    out = session.run(None, {predictor.input_name: tokens[:4]})[0]
    np.testing.assert_allclose(out, plain[:4], rtol=1e-5, atol=1e-6)
