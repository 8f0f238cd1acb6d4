"""Enformer's attention pooling as it is exported: a sigmoid of one logit difference.

enformer-pytorch's ``AttentionPool`` (pool size 2) reshapes ``(B, C, n)`` to
``(B, C, n/2, 2)``, runs a bias-free 1x1 convolution ``W`` over all ``n``
positions, takes a softmax over the last axis of size 2 and sums. Traced, that is
a Softmax over 2-element rows: ``B * C * n/2`` of them (75 million in the stem of
the published model), which both ONNX Runtime and PyTorch run as one short row
at a time, and a 1x1 convolution twice as large as needed. For two positions
``x0``, ``x1`` with logits ``l0 = W x0`` and ``l1 = W x1``:

* ``softmax(l0, l1)[0] = 1 / (1 + exp(l1 - l0)) = sigmoid(l0 - l1)``, and
* ``l0 - l1 = W (x0 - x1)`` (the convolution is linear and has no bias), so

``out = p0 x0 + p1 x1 = x1 + sigmoid(W d) * d`` with ``d = x0 - x1``: one 1x1
convolution over ``n/2`` positions (half the FLOPs) and elementwise operations.
:class:`ExportAttentionPool` computes that with the module's own weight (shared,
not copied); the reference (enformer-pytorch's module) stays what an export is
verified against.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ExportAttentionPool", "export_trunk_module"]


class ExportAttentionPool(nn.Module):
    """enformer-pytorch's ``AttentionPool`` with pool size 2, as a logit difference.

    Parameters
    ----------
    pool : enformer_pytorch.modeling_enformer.AttentionPool
        Pool size 2; its ``to_attn_logits`` weight ``(C, C, 1, 1)`` is used as is.
    """

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        if pool.pool_size != 2:
            raise ValueError(f"ExportAttentionPool takes pool size 2, got {pool.pool_size}")
        if pool.to_attn_logits.bias is not None:
            raise ValueError("the pool's logit convolution has a bias; the difference form "
                             "needs a bias-free one")
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, n)`` to ``(B, C, n/2)``; an odd ``n`` runs the reference module."""
        b, c, n = x.shape
        if n % 2:  # trunk windows are multiples of 128 bp: never traced
            return self.pool(x)
        # strided slices (ONNX Slice with step 2), not a gather over an axis of 2
        x0, x1 = x[:, :, 0::2], x[:, :, 1::2]
        d = x0 - x1
        weight = self.pool.to_attn_logits.weight[:, :, 0]  # (C, C, 1)
        p0 = torch.sigmoid(torch.nn.functional.conv1d(d, weight))
        return x1 + p0 * d


def export_trunk_module(module: nn.Module) -> nn.Module:
    """``module`` with every pool-size-2 ``AttentionPool`` in its ``Sequential`` chains
    replaced by :class:`ExportAttentionPool` (other layers shared, not copied).

    Parameters
    ----------
    module : torch.nn.Module
        Enformer's ``stem`` or ``conv_tower`` (nested ``nn.Sequential``).

    Returns
    -------
    torch.nn.Module
        A new ``nn.Sequential`` where something was replaced, else ``module``.
    """
    if type(module).__name__ == "AttentionPool" and getattr(module, "pool_size", None) == 2 \
            and module.to_attn_logits.bias is None:
        return ExportAttentionPool(module)
    if isinstance(module, nn.Sequential):
        children = [export_trunk_module(child) for child in module]
        if any(new is not old for new, old in zip(children, module)):
            return nn.Sequential(*children)
    return module
