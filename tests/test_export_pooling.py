"""The exported attention pools: a sigmoid of one logit difference, not a softmax over pairs."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from creme_fast.export import export_enformer
from creme_fast.export.flops import count_flops
from creme_fast.export.modules import EnformerBody
from creme_fast.export.pooling import ExportAttentionPool, export_trunk_module
from enformer_fixtures import SMALL, input_spread, make_small_enformer

L = 2048


@pytest.fixture(scope="module")
def enformer():
    return make_small_enformer()


def _pools(enformer):
    return [m for m in enformer.modules() if type(m).__name__ == "AttentionPool"]


def test_export_pool_equals_enformer_pytorch(enformer):
    pools = _pools(enformer)
    assert len(pools) == SMALL["num_downsamples"]
    torch.manual_seed(2)
    for pool in pools:
        channels = pool.to_attn_logits.weight.shape[0]
        x = torch.randn(3, channels, 64)
        with torch.no_grad():
            want = pool(x)
            got = ExportAttentionPool(pool)(x)
            plain = x.reshape(3, channels, 32, 2).mean(-1)
        # the logits matter: an equal-weight average differs (the check can fail)
        assert input_spread(want.numpy(), plain.numpy()) > 1e-2
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_odd_lengths_take_the_reference_pool(enformer):
    pool = _pools(enformer)[0]
    x = torch.randn(1, pool.to_attn_logits.weight.shape[0], 33)
    with torch.no_grad():
        np.testing.assert_array_equal(ExportAttentionPool(pool)(x).numpy(), pool(x).numpy())


def test_the_export_trunk_shares_every_weight(enformer):
    body = EnformerBody(enformer, "human", export_tower=True)
    own = {id(p) for p in body.export_trunk.parameters()}
    reference = {id(p) for p in (*enformer.stem.parameters(), *enformer.conv_tower.parameters())}
    assert own == reference
    assert sum(isinstance(m, ExportAttentionPool) for m in body.export_trunk.modules()) == \
        SMALL["num_downsamples"]
    assert export_trunk_module(enformer.transformer) is enformer.transformer  # nothing to swap


@pytest.fixture(scope="module")
def exported(enformer, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "small.onnx"
    export_enformer(enformer, out, seq_length=L, tracks=[1, 5], bins=[3, 4],
                    input_kind="tokens")
    return out


def test_trunk_graph_has_no_softmax_over_pairs(exported):
    # issue 33: the pools' Softmax over 2-element rows (75 million rows in the published
    # model's stem) was 9% of ONNX Runtime's trunk time and 21% of PyTorch's
    trunk = onnx.load(str(exported.with_suffix(".trunk.onnx")))
    assert "Softmax" not in [n.op_type for n in trunk.graph.node]
    main = onnx.load(str(exported))
    assert [n.op_type for n in main.graph.node].count("Softmax") == SMALL["depth"]  # attention


def test_pool_logits_cost_half(enformer, exported):
    """The pools' 1x1 convolutions run on n/2 differences instead of n positions."""
    trunk = count_flops(exported.with_suffix(".trunk.onnx"), {"sequence": (1, L)})["total"]
    pool_flops = sum(2 * p.to_attn_logits.weight.shape[0] ** 2 * n for p, n in zip(
        _pools(enformer), [L >> k for k in range(SMALL["num_downsamples"])]))
    conv_flops = 0
    for module in (*enformer.stem.modules(), *enformer.conv_tower.modules()):
        if isinstance(module, torch.nn.Conv1d):
            out_len = L // (2 ** _depth_of(enformer, module))
            conv_flops += 2 * module.weight.numel() * out_len
    assert trunk == pytest.approx(conv_flops + pool_flops / 2, rel=0.02)


def _depth_of(enformer, conv):
    """How many pools run before ``conv`` (the stem's conv runs at full length)."""
    if any(conv is m for m in enformer.stem.modules()):
        return 0
    for i, stage in enumerate(enformer.conv_tower):
        if any(conv is m for m in stage.modules()):
            return i + 1
    raise AssertionError("conv not in the trunk")
