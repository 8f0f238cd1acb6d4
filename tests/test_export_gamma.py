"""The export's gamma positional features: TF gammas decided explicitly, and recorded."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from enformer_fixtures import NOISE, input_spread, torch_reference

from creme_fast.cli import main
from creme_fast.export.positional import resolve_tf_gamma
from creme_fast.runtime import OnnxPredictor

# enformer-pytorch's TF gammas exist for 1,536 transformer rows (196,608 bp at the
# published 128 bp a row) and 32 basis functions per class: a positional feature
# size dim / heads of 192. With 3 downsamples (8 bp a row) the 1,536 rows come
# from 12,288 bp, which keeps the test's conv tower cheap.
GAMMA_MODEL = dict(dim=192, depth=1, heads=1, output_heads=dict(human=4), target_length=4,
                   attn_dim_key=16, num_downsamples=3, dim_divisible_by=16)
GAMMA_LENGTH = 1536 * 2 ** 3


def _set_gammas(model, tf_gamma: bool) -> None:
    """What enformer-pytorch's from_pretrained does for the official weights."""
    from enformer_pytorch.modeling_enformer import Attention

    for module in model.modules():
        if isinstance(module, Attention):
            module.use_tf_gamma = tf_gamma


@pytest.fixture(scope="module")
def gamma_checkpoint(tmp_path_factory):
    from enformer_pytorch import Enformer

    torch.manual_seed(3)
    model = Enformer.from_hparams(**GAMMA_MODEL).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * NOISE)
    root = tmp_path_factory.mktemp("gamma") / "hf"
    model.save_pretrained(root, safe_serialization=False)  # config keeps use_tf_gamma: false
    return model, root


def test_each_gamma_setting_equals_enformer_pytorch_with_it(gamma_checkpoint, tmp_path, capsys):
    model, root = gamma_checkpoint
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, size=(2, GAMMA_LENGTH), dtype=np.uint8)
    expected = {}
    for tf in (True, False):
        _set_gammas(model, tf)
        expected[tf] = torch_reference(model, tokens)
    # the model answers different inputs differently, and the two settings differently,
    # both far beyond the export tolerance (rtol 1e-4)
    assert input_spread(expected[True][0], expected[True][1]) > 30e-4
    assert input_spread(expected[True], expected[False]) > 30e-4
    for tf, flag in ((True, "--tf-gamma"), (False, "--no-tf-gamma")):
        out = tmp_path / f"{flag[2:]}.onnx"
        assert main(["export", "--checkpoint", str(root), "--out", str(out), "--input",
                     "tokens", "--seq-length", str(GAMMA_LENGTH), "--no-incremental",
                     flag]) == 0
        predictor = OnnxPredictor(out)
        got = predictor.predict(tokens)
        np.testing.assert_allclose(got, expected[tf], rtol=1e-4, atol=1e-5)
        positional = predictor.metadata.extra["positional_features"]
        assert positional["tf_gamma"] is tf
        assert predictor.metadata.extra["hparams"]["use_tf_gamma"] is tf
        capsys.readouterr()
        assert main(["info", str(out)]) == 0
        line = next(s for s in capsys.readouterr().out.splitlines() if "gammas" in s)
        assert ("TensorFlow" in line) is tf


def test_snapshot_config_without_flag_keeps_pytorch_gammas_and_says_so(caplog):
    from enformer_pytorch import EnformerConfig

    settings = {**EnformerConfig(**GAMMA_MODEL).to_dict()}
    choice = resolve_tf_gamma(settings, GAMMA_LENGTH)
    assert choice.tf_gamma is False and "--tf-gamma" in choice.reason
    assert resolve_tf_gamma(settings, GAMMA_LENGTH, requested=True).tf_gamma is True
    with pytest.raises(ValueError, match="--tf-gamma"):
        resolve_tf_gamma(settings, GAMMA_LENGTH * 2, requested=True)


def test_published_architecture_defaults_to_tf_gammas():
    from enformer_pytorch import EnformerConfig

    settings = EnformerConfig().to_dict()  # dim 1536, depth 11, heads 8, 5313/1643
    assert settings["use_tf_gamma"] is False  # what a save_pretrained snapshot keeps
    choice = resolve_tf_gamma(settings, 196_608)
    assert choice.tf_gamma is True and "published" in choice.reason
    assert resolve_tf_gamma(settings, 196_608, requested=False).tf_gamma is False
    other = resolve_tf_gamma(settings, 131_072)
    assert other.tf_gamma is False and "196,608 bp" in other.reason
    with pytest.raises(ValueError, match=r"--tf-gamma .*1,536 transformer rows .*1,024 rows "
                                         r"\(131,072 bp\)"):
        resolve_tf_gamma(settings, 131_072, requested=True)


def test_cli_refuses_tf_gamma_at_another_length_before_reading_weights(tmp_path, capsys):
    from enformer_pytorch import EnformerConfig

    root = tmp_path / "published"
    EnformerConfig().save_pretrained(root)
    (root / "pytorch_model.bin").write_bytes(b"")  # never read: the refusal comes first
    for flag in ("--tf-gamma", "--use-tf-gamma"):
        code = main(["export", "--checkpoint", str(root), "--out", str(tmp_path / "x.onnx"),
                     "--seq-length", "131072", flag])
        assert code == 2
        err = capsys.readouterr().err
        assert "--tf-gamma" in err and "131,072 bp" in err
    assert not (tmp_path / "x.onnx").exists()


def test_feature_size_without_tf_gammas_is_refused():
    from enformer_pytorch import EnformerConfig

    settings = EnformerConfig(dim=96, heads=2).to_dict()  # feature size 48
    with pytest.raises(ValueError, match="feature size 48"):
        resolve_tf_gamma(settings, 196_608, requested=True)
    settings["use_tf_gamma"] = True
    with pytest.raises(ValueError, match="config sets use_tf_gamma.*--no-tf-gamma"):
        resolve_tf_gamma(settings, 196_608)


def test_compat_model_on_a_published_checkpoint_uses_tf_gammas(gamma_checkpoint, monkeypatch,
                                                                caplog):
    # the paper's scripts on the official snapshot through PyTorch get the same
    # positional features as `creme-fast export` gives them (the snapshot's config
    # says use_tf_gamma: false); the test model stands in for the published one
    import logging

    from creme_fast.compat import custom_model
    from creme_fast.export import positional
    from creme_fast.sequence import one_hot

    model, root = gamma_checkpoint
    tokens = np.random.default_rng(1).integers(0, 4, size=(2, GAMMA_LENGTH), dtype=np.uint8)
    expected = {}
    for tf in (True, False):
        _set_gammas(model, tf)
        expected[tf] = torch_reference(model, tokens)
    assert input_spread(expected[True], expected[False]) > 30e-4
    published = {k: GAMMA_MODEL[k] for k in positional.PUBLISHED}
    monkeypatch.setattr(positional, "PUBLISHED", published)
    with caplog.at_level(logging.INFO, logger="creme_fast.compat.custom_model"):
        compat = custom_model.Enformer(model_path=root, seq_length=GAMMA_LENGTH)
    assert "TF gammas by default for the published" in caplog.text
    got = compat.predict(one_hot(tokens))
    np.testing.assert_allclose(got, expected[True], rtol=1e-4, atol=1e-5)
