"""Export-only modules: tensors in, one tensor out, no flags, no state changes."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from creme_fast.export.attention import ExportTransformer, kept_rows
from creme_fast.export.pooling import export_trunk_module

__all__ = ["EnformerBody", "ExportWrapper", "enformer_output_bins", "local_layers",
           "static_positional_features"]


class ExportWrapper(nn.Module):
    """The graph that is exported: input kind, selection and output dtype fixed.

    Parameters
    ----------
    body : torch.nn.Module
        Maps float one-hot ``(B, L, 4)`` to ``(B, bins, tracks)``. A body whose
        ``accepts_tokens`` attribute is true takes the uint8 tokens ``(B, L)``
        themselves when ``input_kind="tokens"`` (no one-hot inside the graph).
    input_kind : {"onehot", "tokens"}
        ``"tokens"``: the graph takes uint8 ``(B, L)`` and one-hot encodes
        inside (N -> zeros), so a GPU receives 16x fewer input bytes.
    compute_dtype : torch.dtype
        dtype the body runs in (float32 or float16).
    bins, tracks : sequence of int, optional
        Selection applied to the body's output (use the body's own selection
        when it can prune, as :class:`EnformerBody` does).
    bin_reduce : {"none", "mean"}
        Average the kept bins inside the graph.
    """

    def __init__(self, body: nn.Module, *, input_kind: str, compute_dtype: torch.dtype,
                 bins: Sequence[int] | None = None, tracks: Sequence[int] | None = None,
                 bin_reduce: str = "none") -> None:
        super().__init__()
        if input_kind not in ("onehot", "tokens"):
            raise ValueError(f"input_kind must be 'onehot' or 'tokens', got {input_kind!r}")
        if bin_reduce not in ("none", "mean"):
            raise ValueError(f"bin_reduce must be 'none' or 'mean', got {bin_reduce!r}")
        self.body = body
        self.tokens = input_kind == "tokens"
        self.compute_dtype = compute_dtype
        self.reduce_mean = bin_reduce == "mean"
        self.register_buffer("alphabet", torch.arange(4, dtype=torch.int32), persistent=False)
        self.bin_index: torch.Tensor | None
        self.track_index: torch.Tensor | None
        self.register_buffer("bin_index", None if bins is None else
                             torch.tensor(list(bins), dtype=torch.long), persistent=False)
        self.register_buffer("track_index", None if tracks is None else
                             torch.tensor(list(tracks), dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tokens and not getattr(self.body, "accepts_tokens", False):
            x = (x.to(torch.int32).unsqueeze(-1) == self.alphabet).to(self.compute_dtype)
        y = self.body(x)
        if self.bin_index is not None:
            y = y.index_select(1, self.bin_index)
        if self.track_index is not None:
            y = y.index_select(2, self.track_index)
        if self.reduce_mean:
            y = y.mean(dim=1, keepdim=True)
        return y.float()


def enformer_output_bins(seq_length: int, target_length: int, num_downsamples: int) -> int:
    """Bins an enformer-pytorch model returns for ``seq_length`` bp.

    enformer-pytorch crops ``(n - target) // 2`` rounded towards minus infinity
    from each side, so an odd difference returns one bin short of the target.
    """
    factor = 2 ** num_downsamples
    if seq_length % factor:
        raise ValueError(f"sequence length {seq_length} is not a multiple of "
                         f"2**num_downsamples = {factor}")
    n = seq_length // factor
    if target_length == -1:
        return n
    if n < target_length:
        raise ValueError(f"sequence length {seq_length} gives {n} bins, fewer than "
                         f"target_length {target_length}")
    trim = (target_length - n) // 2
    return n if trim == 0 else n + 2 * trim


class EnformerBody(nn.Module):
    """Enformer's trunk and one head, with bins chosen before the per-bin layers.

    ``final_pointwise`` and the head act on each bin independently, so the
    kept bins are selected right after the crop, and the head's linear layer is
    pruned to the kept tracks: unused bins and tracks cost nothing.

    With ``export_tower=True`` the transformer runs as
    :class:`~creme_fast.export.attention.ExportTransformer` (same parameters,
    shared): MatMul attention, and, when bins are kept, the last layer's queries,
    attention output and feed-forward only on the rows that feed them; and the
    trunk's attention pools run as
    :class:`~creme_fast.export.pooling.ExportAttentionPool` (a sigmoid of one
    logit difference instead of a softmax over pairs: half the pools' FLOPs). That
    is the body creme-fast traces; the default body (enformer-pytorch's own
    modules) is what the graphs are verified against.
    """

    def __init__(self, enformer: nn.Module, head: str, *, tracks: Sequence[int] | None = None,
                 bins: Sequence[int] | None = None, export_tower: bool = False) -> None:
        super().__init__()
        heads = enformer.heads
        if head not in heads:
            raise ValueError(f"head {head!r} not in the model's heads: {', '.join(heads)}")
        self.stem = enformer.stem
        self.conv_tower = enformer.conv_tower
        self.transformer = enformer.transformer
        self.crop = enformer.crop_final
        self.final_pointwise = enformer.final_pointwise
        linear: nn.Linear = heads[head][0]
        if tracks is not None:
            index = torch.tensor(list(tracks), dtype=torch.long)
            pruned = nn.Linear(linear.in_features, len(index), device=linear.weight.device,
                               dtype=linear.weight.dtype)
            with torch.no_grad():
                pruned.weight.copy_(linear.weight[index])
                pruned.bias.copy_(linear.bias[index])
            linear = pruned
        self.head = nn.Sequential(linear, nn.Softplus())
        self.export_transformer = ExportTransformer(self.transformer) if export_tower else None
        self.export_trunk = (nn.Sequential(export_trunk_module(self.stem),
                                           export_trunk_module(self.conv_tower))
                             if export_tower else None)
        self.bins = None if bins is None else [int(b) for b in bins]
        self.bin_index: torch.Tensor | None
        self.register_buffer("bin_index", None if bins is None else
                             torch.tensor(list(bins), dtype=torch.long), persistent=False)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The local trunk (stem + conv tower): one-hot ``(B, W, 4)`` to rows ``(B, W/128, C)``."""
        x = x.transpose(1, 2)
        if self.export_trunk is not None:
            return self.export_trunk(x).transpose(1, 2)
        return self.conv_tower(self.stem(x)).transpose(1, 2)

    def tower(self, rows: torch.Tensor) -> torch.Tensor:
        """Everything after the trunk: rows ``(B, rows, C)`` to ``(B, bins, tracks)``."""
        if self.export_transformer is not None:
            return self.head(self.final_pointwise(self._export_tower(rows)))
        x = self.crop(self.transformer(rows))
        if self.bin_index is not None:
            x = x.index_select(1, self.bin_index)
        return self.head(self.final_pointwise(x))

    def _export_tower(self, rows: torch.Tensor) -> torch.Tensor:
        """The transformer output on the kept bins' rows, the last layer row-pruned."""
        assert self.export_transformer is not None
        keep = kept_rows(int(rows.shape[1]), self.crop.target_length, self.bins)
        if keep is not None and 2 * len(keep) <= rows.shape[1]:
            index = torch.tensor(keep, dtype=torch.long, device=rows.device)
            return self.export_transformer(rows, index)
        x = self.crop(self.export_transformer(rows))
        return x if self.bin_index is None else x.index_select(1, self.bin_index)

    def trunk_layers(self) -> list[tuple[int, int, int]]:
        """``(kernel, stride, pad_left)`` of every spatial layer of the trunk, in order."""
        return local_layers([self.stem, self.conv_tower])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tower(self.trunk(x))


# layers that act on each position alone (no receptive field of their own)
_POINTWISE = (nn.BatchNorm1d, nn.GELU, nn.ReLU, nn.Identity, nn.Dropout, nn.Sequential,
              nn.Softplus)


def local_layers(modules: Sequence[nn.Module]) -> list[tuple[int, int, int]]:
    """The spatial layers of a chain of modules, from their kernel sizes, strides and pads.

    Walks the modules in registration order (the order enformer-pytorch applies
    them; residual branches wrap a block in place). A ``Conv1d`` contributes
    ``(kernel, stride, pad)``, an Enformer ``AttentionPool`` or a ``MaxPool1d``
    ``(pool, pool, 0)``; Borzoi's ``ConvDna``/``ConvBlock`` are walked.

    Raises
    ------
    ValueError
        A module whose spatial extent is unknown (the trunk is then not declared
        local, and incremental evaluation is not offered).
    """
    layers: list[tuple[int, int, int]] = []

    def walk(module: nn.Module) -> None:
        name = type(module).__name__
        if isinstance(module, nn.Conv1d):
            if module.dilation[0] != 1 or isinstance(module.padding, str) and \
                    module.padding != "same":
                raise ValueError(f"unsupported Conv1d {module}")
            kernel, stride = module.kernel_size[0], module.stride[0]
            pad = (kernel - 1) // 2 if module.padding == "same" else module.padding[0]
            layers.append((kernel, stride, pad))
        elif name == "AttentionPool":
            layers.append((module.pool_size, module.pool_size, 0))
        elif isinstance(module, nn.MaxPool1d):
            kernel, stride, pad = (module.kernel_size, module.stride, module.padding)
            kernel, stride, pad = (v if isinstance(v, int) else v[0] for v in (kernel, stride, pad))
            if kernel != stride or pad or module.dilation != 1 or module.ceil_mode:
                raise ValueError(f"unsupported MaxPool1d {module}")
            layers.append((kernel, stride, 0))
        elif isinstance(module, _POINTWISE) or name in ("Residual", "GELU", "Rearrange",
                                                          "ConvBlock", "ConvDna"):
            # a Sequential may hold one module twice (Borzoi's shared max pool), which
            # children() would yield once
            for child in (list(module) if isinstance(module, nn.Sequential)
                          else module.children()):
                walk(child)
        else:
            raise ValueError(f"cannot derive the receptive field of {name}")

    for module in modules:
        walk(module)
    return layers


@contextlib.contextmanager
def static_positional_features() -> Iterator[None]:
    """Make enformer-pytorch's relative positional features a constant.

    They depend only on the sequence length, but computing them needs
    ``lgamma`` and ``xlogy``, which the ONNX exporters cannot express. Inside
    this context each distinct feature tensor is computed once, eagerly, and
    then returned as is, so a trace records it as a constant. Run one eager
    forward pass inside the context before exporting.
    """
    from enformer_pytorch import modeling_enformer

    original = modeling_enformer.get_positional_embed
    cache: dict[tuple[Any, ...], torch.Tensor] = {}

    def cached(seq_len: int, feature_size: int, device: Any, use_tf_gamma: bool,
               dtype: torch.dtype = torch.float) -> torch.Tensor:
        key = (int(seq_len), int(feature_size), str(device), bool(use_tf_gamma), dtype)
        if key not in cache:
            with torch.no_grad():
                cache[key] = original(int(seq_len), int(feature_size), device, use_tf_gamma,
                                      dtype=dtype).detach()
        return cache[key]

    modeling_enformer.get_positional_embed = cached
    try:
        yield
    finally:
        modeling_enformer.get_positional_embed = original
