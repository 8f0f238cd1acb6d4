"""The runtime: imports without torch, provider choice, callable and creme-nn-style models."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from no_torch import run_without_torch

from creme_fast.runtime import (
    CallablePredictor,
    OnnxPredictor,
    Predictor,
    load_predictor,
)
from creme_fast.runtime.providers import (
    CPU,
    CUDA,
    TENSORRT,
    provider_options,
    resolve_providers,
)
from creme_fast.sequence import one_hot

L = 1024


class Pool(torch.nn.Module):
    """(B, L, 4) -> (B, L // 64, 4): base composition per 64 bp."""

    def forward(self, x):
        return torch.nn.functional.avg_pool1d(x.transpose(1, 2), 64).transpose(1, 2) * 2.0


@pytest.fixture(scope="module")
def pool_onnx(tmp_path_factory):
    from creme_fast.export import export_module

    out = tmp_path_factory.mktemp("rt") / "pool.onnx"
    export_module(Pool(), out, seq_length=L, input_kind="tokens", tracks=[3, 1])
    return out


def test_runtime_imports_and_predicts_without_torch(pool_onnx):
    proc = run_without_torch("""
        import json
        import numpy as np
        from creme_fast.runtime import OnnxPredictor
        from creme_fast.sequence import encode
        tokens = np.tile(encode("ACGT" * 256), (2, 1))
        tokens[1, :512] = 3
        out = OnnxPredictor(sys.argv[1]).predict(tokens)
        assert "torch" not in sys.modules
        print(json.dumps(out.tolist()))
    """, str(pool_onnx))
    assert proc.returncode == 0, proc.stderr
    out = np.array(json.loads(proc.stdout))
    assert out.shape == (2, 16, 2)
    np.testing.assert_allclose(out[0], 0.5)  # ACGT repeats: each base a quarter, times 2
    np.testing.assert_allclose(out[1, :8, 0], 2.0)  # T only, first half
    np.testing.assert_allclose(out[1, :8, 1], 0.0)


def test_token_graph_reads_n_as_zeros(pool_onnx):
    tokens = np.full((1, L), 4, dtype=np.uint8)
    assert np.all(OnnxPredictor(pool_onnx).predict(tokens) == 0)


def test_provider_resolution():
    assert resolve_providers(None, [CPU]) == ([CPU], False)
    assert resolve_providers("auto", [CUDA, CPU, TENSORRT]) == ([TENSORRT, CUDA, CPU], False)
    assert resolve_providers("cuda", [CUDA, CPU]) == ([CUDA, CPU], True)
    assert resolve_providers(["trt", "cuda"], [TENSORRT, CUDA, CPU]) == (
        [TENSORRT, CUDA, CPU], True)
    with pytest.raises(ValueError, match="CUDAExecutionProvider was requested.*onnxruntime-gpu"):
        resolve_providers("cuda", [CPU])
    with pytest.raises(ValueError, match="unknown execution provider 'tpu'"):
        resolve_providers("tpu", [CPU])


def test_provider_options(tmp_path):
    trt = provider_options(TENSORRT, device_id=1, trt_cache_dir=tmp_path / "engines",
                           trt_fp16=True)
    assert trt["device_id"] == 1 and trt["trt_fp16_enable"] is True
    assert trt["trt_engine_cache_enable"] and (tmp_path / "engines").is_dir()
    assert provider_options(CUDA, device_id=2) == {"device_id": 2}
    assert provider_options(CPU) == {}


def test_explicit_unavailable_provider_is_an_error(pool_onnx):
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        OnnxPredictor(pool_onnx, providers="cuda")
    predictor = OnnxPredictor(pool_onnx, providers="cpu")
    assert predictor.provider == CPU and not predictor.io_binding


class CremeStyleModel:
    """What creme-nn's tests receive: ``.predict(x)`` and ``.seq_length``."""

    seq_length = L

    def __init__(self):
        self.calls = 0

    def predict(self, x):
        self.calls += 1
        gc = x[:, :, 1:3].sum(-1)  # (B, L)
        return gc.reshape(x.shape[0], 16, 64).mean(-1, keepdims=True).repeat(3, axis=-1)


def test_callable_predictor_wraps_creme_style_model():
    model = CremeStyleModel()
    predictor = load_predictor(model, tracks=[2], bins=[0, 15])
    assert isinstance(predictor, Predictor) and predictor.seq_length == L
    tokens = np.zeros((3, L), dtype=np.uint8)
    tokens[1] = 2  # all G
    out = predictor.predict(one_hot(tokens))
    assert out.shape == (3, 2, 1) and out.dtype == np.float32
    assert np.all(out[1] == 1) and np.all(out[0] == 0) and model.calls == 1


def test_callable_predictor_plain_function_and_2d_output():
    fn = CallablePredictor(lambda x: x.sum(axis=1), seq_length=8, name="sum")
    out = fn.predict(one_hot(np.array([[0, 1, 2, 3, 4, 0, 0, 0]], dtype=np.uint8)))
    assert out.shape == (1, 1, 4) and out[0, 0].tolist() == [4, 1, 1, 1]
    with pytest.raises(ValueError, match="sum: track 9 is out of range for 4 tracks"):
        CallablePredictor(lambda x: x.sum(axis=1), seq_length=8, tracks=[9], name="sum").predict(
            one_hot(np.zeros((1, 8), np.uint8)))
    with pytest.raises(ValueError, match="seq_length is required"):
        CallablePredictor(lambda x: x)


def test_batch_checks_name_the_problem():
    predictor = CallablePredictor(lambda x: x.sum(axis=1), seq_length=8, name="m")
    with pytest.raises(ValueError, match="m: model takes sequences of 8 bp, got 9 bp"):
        predictor.predict(np.zeros((1, 9, 4), np.float32))
    with pytest.raises(ValueError, match="takes one-hot"):
        predictor.predict(np.zeros((1, 8), np.uint8))
    with pytest.raises(ValueError, match="float32 or float16"):
        predictor.predict(np.zeros((1, 8, 4), np.int64))
    with pytest.raises(ValueError, match="empty batch"):
        predictor.predict(np.zeros((0, 8, 4), np.float32))
    with pytest.raises(ValueError, match="expected an .onnx file"):
        load_predictor("model.pt")
