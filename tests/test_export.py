"""Enformer and generic modules to verified ONNX, through the CLI and the Python API."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from creme_fast.export import ExportError, export_enformer, export_module, load_enformer
from enformer_fixtures import (
    SEQ_LENGTH,
    input_spread,
    make_small_enformer,
    torch_reference,
    write_checkpoints,
)

from creme_fast.cli import main
from creme_fast.runtime import OnnxPredictor, TorchPredictor
from creme_fast.sequence import one_hot


@pytest.fixture(scope="module")
def enformer():
    return make_small_enformer()


@pytest.fixture(scope="module")
def checkpoints(enformer, tmp_path_factory):
    return write_checkpoints(enformer, tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def tokens():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 4, size=(3, SEQ_LENGTH), dtype=np.uint8)
    t[1, 100:300] = 4
    return t


def assert_close_rel(got, expected, rtol=1e-5, atol=1e-6):
    # an equality is only as good as the difference it could see: the model must
    # answer different sequences differently, far beyond the tolerance
    assert input_spread(expected[0], expected[-1]) > 30 * rtol
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


CASES = [  # (checkpoint kind, input kind, tracks, bins)
    ("hf_dir", "onehot", None, None),
    ("safetensors", "tokens", [3, 7, 15], [2, 3, 4, 5]),
    ("torch", "onehot", [0, 9], [7, 0]),
    ("hf_dir", "tokens", None, [3]),
]


@pytest.mark.parametrize("kind,input_kind,tracks,bins", CASES)
def test_cli_export_equals_pytorch(enformer, checkpoints, tokens, tmp_path, kind, input_kind,
                                   tracks, bins):
    out = tmp_path / "model.onnx"
    argv = ["export", "--checkpoint", str(checkpoints[kind]), "--out", str(out),
            "--seq-length", str(SEQ_LENGTH), "--input", input_kind]
    if kind != "hf_dir":  # a bare state dict: hyperparameters from flags
        argv += ["--dim", "96", "--depth", "1", "--heads", "2", "--output-heads",
                 "human=16,mouse=4", "--target-length", "8", "--attn-dim-key", "16",
                 "--dim-divisible-by", "16"]
    if tracks:
        argv += ["--tracks", ",".join(map(str, tracks))]
    if bins:
        argv += ["--bins", ",".join(map(str, bins))]
    assert main(argv) == 0
    predictor = OnnxPredictor(out)
    assert predictor.input_kind == input_kind and predictor.seq_length == SEQ_LENGTH
    batch = tokens if input_kind == "tokens" else one_hot(tokens)
    got = predictor.predict(batch)
    expected = torch_reference(enformer, tokens, tracks, bins)
    assert got.shape == expected.shape
    assert_close_rel(got, expected)
    meta = predictor.metadata
    assert meta.tracks == tracks and meta.bins == bins and meta.head == "human"
    assert meta.verification["max_rel"] < 1e-4


def test_python_api_export_batch_invariance_and_torch_predictor(enformer, tokens, tmp_path):
    out = tmp_path / "k562.onnx"
    result = export_enformer(enformer, out, seq_length=SEQ_LENGTH, tracks=[5, 6], bins=[3, 4])
    assert result.verification.ok and out.is_file()
    predictor = OnnxPredictor(out, threads=1)
    whole = predictor.predict(one_hot(tokens))
    singles = np.concatenate([predictor.predict(one_hot(tokens[i:i + 1])) for i in range(3)])
    np.testing.assert_allclose(whole, singles, rtol=1e-6, atol=1e-7)
    from creme_fast.export.modules import EnformerBody

    reference = TorchPredictor(EnformerBody(enformer, "human", tracks=[5, 6], bins=[3, 4]),
                               seq_length=SEQ_LENGTH)
    assert_close_rel(reference.predict(one_hot(tokens)), whole)


def test_checkpoint_export_frees_pytorch_weights_before_onnx_runtime_loads(
        enformer, checkpoints, tokens, tmp_path, monkeypatch):
    # the published Enformer's export fits a small machine because PyTorch's
    # weights and activations are gone before ONNX Runtime holds its own
    import onnxruntime as ort
    from creme_fast.export import core

    events = []
    release, session = core._release_weights, ort.InferenceSession

    def spy_release(*modules):
        held = sum(t.numel() for m in modules for t in m.parameters())
        release(*modules)
        events.append(("release", held, sum(t.numel() for m in modules
                                            for t in m.parameters())))

    def spy_session(*args, **kwargs):
        events.append(("session",))
        return session(*args, **kwargs)

    monkeypatch.setattr(core, "_release_weights", spy_release)
    monkeypatch.setattr(ort, "InferenceSession", spy_session)
    out = tmp_path / "m.onnx"
    result = export_enformer(checkpoints["hf_dir"], out, seq_length=SEQ_LENGTH, tracks=[1, 5],
                             bins=[3, 4], input_kind="tokens")
    assert events[0][0] == "release" and events[0][1] > 0 and events[0][2] == 0
    assert [e[0] for e in events[1:]] == ["session"] * 3  # main graph, trunk, tower
    assert result.verification.ok and result.metadata.incremental
    assert not list(tmp_path.glob(".*"))  # no scratch left
    monkeypatch.undo()
    got = OnnxPredictor(out, threads=1).predict(tokens)
    assert_close_rel(got, torch_reference(enformer, tokens, [1, 5], [3, 4]))


def test_bin_mean_inside_graph(enformer, tokens, tmp_path):
    out = tmp_path / "mean.onnx"
    export_enformer(enformer, out, seq_length=SEQ_LENGTH, tracks=[1], bins=[3, 4],
                    bin_reduce="mean")
    got = OnnxPredictor(out).predict(one_hot(tokens))
    expected = torch_reference(enformer, tokens, [1], [3, 4]).mean(axis=1, keepdims=True)
    assert got.shape == (3, 1, 1)
    assert_close_rel(got, expected)


def test_fp16_export_is_verified_against_float32(enformer, tokens, tmp_path):
    out = tmp_path / "half.onnx"
    result = export_enformer(enformer, out, seq_length=SEQ_LENGTH, fp16=True, tracks=[2, 3])
    assert result.metadata.dtype == "float16" and result.metadata.input_dtype == "float16"
    predictor = OnnxPredictor(out)
    got = predictor.predict(one_hot(tokens))  # float32 in: cast to the graph's float16
    assert got.dtype == np.float32
    expected = torch_reference(enformer, tokens, [2, 3])
    assert input_spread(expected[0], expected[-1]) > 3e-2  # beyond rtol: the check can fail
    np.testing.assert_allclose(got, expected, rtol=3e-2, atol=1e-3)


def test_export_refuses_beyond_tolerance(enformer, tmp_path):
    out = tmp_path / "strict.onnx"
    with pytest.raises(ExportError, match="was not written"):
        export_enformer(enformer, out, seq_length=SEQ_LENGTH, fp16=True, atol=0.0, rtol=0.0)
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # no temporary left behind either


class TinyConv(torch.nn.Module):
    """Not Enformer: (B, L, 4) -> (B, L // 8, 3)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv1d(4, 3, 9, padding=4)
        self.pool = torch.nn.AvgPool1d(8)

    def forward(self, x):
        return torch.nn.functional.softplus(self.pool(self.conv(x.transpose(1, 2)))).transpose(1, 2)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_any_module_through_the_same_path(tmp_path, tokens, exporter):
    module = TinyConv().eval()
    out = tmp_path / "tiny.onnx"
    result = export_module(module, out, seq_length=SEQ_LENGTH, input_kind="tokens",
                           tracks=[2, 0], bins=[10, 11, 12], exporter=exporter)
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    got = OnnxPredictor(out).predict(tokens)
    with torch.no_grad():
        expected = module(torch.from_numpy(one_hot(tokens))).numpy()[:, [10, 11, 12]][:, :, [2, 0]]
    assert_close_rel(got, expected)
    assert result.metadata.model == "module" and result.metadata.n_tracks == 2


def test_info_reports_metadata_and_catches_tampering(enformer, tmp_path):
    out = tmp_path / "info.onnx"
    export_enformer(enformer, out, seq_length=SEQ_LENGTH, tracks=[4])
    proc = subprocess.run([sys.executable, "-m", "creme_fast", "info", str(out), "--json"],
                          capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["model"]["checksum_ok"] is True
    assert report["model"]["creme_fast_metadata"]["tracks"] == [4]
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]
    model = onnx.load(str(out))
    init = max(model.graph.initializer, key=lambda i: len(i.raw_data))
    raw = bytearray(init.raw_data)
    raw[0] ^= 0xFF
    init.raw_data = bytes(raw)
    onnx.save(model, str(out))
    assert main(["info", str(out)]) == 1


# ---------------------------------------------------------------------------
# bad inputs: each a clear error
# ---------------------------------------------------------------------------

def test_missing_checkpoint(tmp_path, capsys):
    code = main(["export", "--checkpoint", str(tmp_path / "nope"), "--out",
                 str(tmp_path / "x.onnx")])
    assert code == 2
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and "nope" in err


def test_track_out_of_range(checkpoints, tmp_path, capsys):
    code = main(["export", "--checkpoint", str(checkpoints["hf_dir"]), "--out",
                 str(tmp_path / "x.onnx"), "--seq-length", str(SEQ_LENGTH), "--tracks", "3,99"])
    assert code == 2
    assert "tracks index 99 is out of range: the model has 16 tracks" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_bin_out_of_range_and_bad_length(enformer, tmp_path):
    with pytest.raises(ValueError, match="bins index 8 is out of range: the model has 8 bins"):
        export_enformer(enformer, tmp_path / "x.onnx", seq_length=SEQ_LENGTH, bins=[8])
    with pytest.raises(ValueError, match="not a multiple of 2\\*\\*num_downsamples = 128"):
        export_enformer(enformer, tmp_path / "x.onnx", seq_length=2000)


def test_state_dict_with_wrong_hyperparameters(checkpoints):
    with pytest.raises(ValueError, match="do not fit Enformer.*give the hyperparameters"):
        load_enformer(checkpoints["torch"])  # published defaults: dim 1536


def test_checkpoint_dir_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="needs a config.json"):
        load_enformer(tmp_path / "empty")


def test_wrong_sequence_length_and_kind(enformer, tokens, tmp_path):
    out = tmp_path / "m.onnx"
    export_enformer(enformer, out, seq_length=SEQ_LENGTH, tracks=[0])
    predictor = OnnxPredictor(out)
    with pytest.raises(ValueError, match="takes sequences of 2,048 bp, got 1,024 bp"):
        predictor.predict(one_hot(tokens[:, :1024]))
    with pytest.raises(ValueError, match="takes one-hot"):
        predictor.predict(tokens)


def test_corrupt_onnx(tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ValueError, match="corrupt.onnx: ONNX Runtime cannot load this model"):
        OnnxPredictor(bad)
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        OnnxPredictor(tmp_path / "absent.onnx")
