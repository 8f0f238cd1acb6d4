"""Enformer's transformer as it is exported: MatMul attention, and the last layer only where read.

enformer-pytorch writes attention with ``einsum`` and a relative shift that pads,
reshapes and slices the ``(B, heads, n, 2n - 1)`` relative logits. Traced, that is
ONNX ``Einsum`` (which ONNX Runtime's CPU provider runs far below its MatMul speed,
and slower per sequence the larger the batch) and a ``Concat`` over the largest
tensor of the model. :class:`ExportTransformer` computes the same function with
the same parameters (shared, not copied):

* every product is a ``torch.matmul`` (ONNX ``MatMul``: batched GEMM);
* the relative shift pads the small positional keys ``(heads, d, 2n - 1)`` with a
  zero column instead of the logits, so the logits come out of the MatMul
  already padded (``out[i, j] = x[i, n - 1 - i + j]``, the same gather as the
  reference's shift);
* with ``rows`` (the rows that feed the kept output bins), the last layer computes
  keys and values for every row but queries, attention output and feed-forward
  only for those rows: past the last attention Enformer works per row. Its
  relative logits gather, per kept row, the ``n`` positional keys that row
  reads (a constant index).

Only for export: the reference (enformer-pytorch's own modules) stays what an
export is verified against.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["ExportAttention", "ExportTransformer", "kept_rows"]


def kept_rows(n_rows: int, target_length: int, bins: Sequence[int] | None) -> list[int] | None:
    """Transformer rows that feed ``bins`` after Enformer's centre crop (None: all rows).

    Parameters
    ----------
    n_rows : int
        Rows out of the trunk (sequence length / 128).
    target_length : int
        Enformer's crop target (-1: no crop).
    bins : sequence of int, optional
        Output bins kept after the crop.
    """
    if bins is None:
        return None
    start = 0 if target_length == -1 else -((target_length - n_rows) // 2)
    return [start + int(b) for b in bins]


class ExportAttention(nn.Module):
    """enformer-pytorch's ``Attention`` (its parameters) with MatMul and a cheap shift.

    Parameters
    ----------
    attention : enformer_pytorch.modeling_enformer.Attention
        Or a module with the same parameters (borzoi-pytorch's ``Attention``).
    positions : callable, optional
        ``(n, features, device, dtype) -> (2n - 1, features)``: the relative
        positional features of distances ``-(n - 1) .. n - 1``. Default:
        enformer-pytorch's (with the attention's ``use_tf_gamma``).
    """

    def __init__(self, attention: nn.Module,
                 positions: Callable[[int, int, Any, torch.dtype], torch.Tensor] | None = None
                 ) -> None:
        super().__init__()
        self.attention = attention
        self.positions = positions

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B, n, dim) to (B, n, dim), or (B, len(rows), dim) for the rows given."""
        a = self.attention
        b, n, _ = x.shape
        h = a.heads
        q_in = x if rows is None else x.index_select(1, rows)
        r = q_in.shape[1]
        q = a.to_q(q_in)
        d = q.shape[-1] // h
        q = q.reshape(b, r, h, d).transpose(1, 2) * a.scale  # (b, h, r, d)
        k = a.to_k(x).reshape(b, n, h, d).permute(0, 2, 3, 1)  # (b, h, d, n)
        v = a.to_v(x)
        dv = v.shape[-1] // h
        v = v.reshape(b, n, h, dv).transpose(1, 2)  # (b, h, n, dv)
        content = torch.matmul(q + a.rel_content_bias, k)  # (b, h, r, n)
        dtype = a.to_rel_k.weight.dtype
        if self.positions is None:
            from enformer_pytorch.modeling_enformer import get_positional_embed

            positions = get_positional_embed(n, a.num_rel_pos_features, x.device,
                                             use_tf_gamma=a.use_tf_gamma, dtype=dtype)
        else:
            positions = self.positions(n, a.num_rel_pos_features, x.device, dtype)
        rel_k = a.to_rel_k(positions).reshape(2 * n - 1, h, d).permute(1, 2, 0)  # (h, d, 2n-1)
        qp = q + a.rel_pos_bias
        if rows is None:
            padded = torch.nn.functional.pad(rel_k, (1, 0))  # (h, d, 2n): column 0 zero
            rel = torch.matmul(qp, padded).reshape(b, h, 2 * n * n)
            rel = rel[:, :, n:n + n * (2 * n - 1)].reshape(b, h, n, 2 * n - 1)[..., :n]
        else:
            # row i reads positional keys n - 1 - i + j, j = 0 .. n - 1
            index = (n - 1 - rows).unsqueeze(1) + torch.arange(n, device=rows.device)
            gathered = rel_k[:, :, index].permute(0, 2, 1, 3)  # (h, r, d, n)
            rel = torch.matmul(qp.unsqueeze(3), gathered).squeeze(3)  # (b, h, r, n)
        attn = (content + rel).softmax(dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, r, h * dv)
        return a.to_out(out)


class ExportTransformer(nn.Module):
    """enformer-pytorch's ``transformer`` (its layers' parameters), optionally row-pruned.

    Parameters
    ----------
    transformer : torch.nn.Sequential
        ``Enformer.transformer`` (or Borzoi's, built the same way): layers of
        ``Residual(LayerNorm, Attention, Dropout)`` and ``Residual(LayerNorm,
        Linear, Dropout, ReLU, Linear, Dropout)``.
    attention : callable, default=ExportAttention
        Wraps each layer's attention module in its export form: a module whose
        ``forward(x, rows=None)`` is the attention (every row, or the rows given).
    """

    def __init__(self, transformer: nn.Sequential,
                 attention: Callable[[nn.Module], nn.Module] = ExportAttention) -> None:
        super().__init__()
        norms, attentions, feed_forwards = [], [], []
        for layer in transformer:
            attention_block, feed_forward = layer[0].fn, layer[1].fn
            norms.append(attention_block[0])
            attentions.append(attention(attention_block[1]))
            feed_forwards.append(feed_forward)
        self.norms = nn.ModuleList(norms)
        self.attentions = nn.ModuleList(attentions)
        self.feed_forwards = nn.ModuleList(feed_forwards)

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Rows (B, n, dim) to (B, n, dim), or to (B, len(rows), dim): the rows given."""
        last = len(self.attentions) - 1
        for i, (norm, attention, feed_forward) in enumerate(
                zip(self.norms, self.attentions, self.feed_forwards)):
            if i == last and rows is not None:
                x = x.index_select(1, rows) + attention(norm(x), rows)
            else:
                x = x + attention(norm(x))
            x = x + feed_forward(x)
        return x
