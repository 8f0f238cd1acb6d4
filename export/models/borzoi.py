"""Borzoi and Flashzoi (borzoi-pytorch snapshots): loading, geometry, readout and export body.

Everything model-specific about the Borzoi family lives here; the export pipeline
(:func:`creme_fast.export.core.export_module`), the incremental pieces and the
runtime are shared with Enformer.

Architecture (borzoi-pytorch 0.5, ``Borzoi.get_embs_after_crop``), for an input of
``L`` bp::

    conv_dna (k15) + pool -> res_tower (5 x k5 convs, 4 pools)  = x_unet0  (L/32, 1280)
    unet1: pool + k5 conv                                       = x_unet1  (L/64, dim)
    pool -> transformer (depth layers, global)                  = T        (L/128, dim)
    upsample T (+ x_unet1), separable k3, upsample (+ x_unet0), separable k3
    crop to ``bins_to_return`` 32-bp bins -> pointwise convs -> head -> softplus

The trunk (everything before the transformer) is local; so are the U-net
upsampling and the head. :class:`BorzoiBody` therefore declares the same split as
Enformer's body: ``trunk`` maps a window to 128-bp rows that carry, per row, the
two ``x_unet1`` rows and four ``x_unet0`` rows under it (``2 * dim + 4 * 1280``
features), and ``tower`` runs the pooling, the transformer in full and the
upsampling only on the rows that reach the kept bins. Flashzoi (``flashed`` in the
config) is the same network with rotary, grouped-query attention written for
flash-attn's CUDA kernels; :class:`FlashzoiAttention` is its CPU form (the same
parameters), and :class:`ExportRotaryAttention` traces it as MatMul/softmax.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from creme_fast.export.attention import ExportAttention, ExportTransformer
from creme_fast.export.checkpoint import _locate, _read_state_dict
from creme_fast.export.core import ExportResult, _check_range, _int_list, export_module
from creme_fast.export.modules import local_layers
from creme_fast.io.targets import read_targets, track_names

log = logging.getLogger(__name__)

__all__ = ["BIN_SIZE", "BORZOI_LENGTH", "DEFAULT_LENGTH", "BorzoiBody", "ExportRotaryAttention",
           "FlashzoiAttention", "build_borzoi", "export_borzoi", "import_borzoi",
           "export", "load", "load_borzoi", "output_bins", "packaged_targets",
           "snapshot_settings", "tss_bins"]

#: The published window (bp) and output resolution.
BORZOI_LENGTH = 524_288
DEFAULT_LENGTH = BORZOI_LENGTH
BIN_SIZE = 32
#: The paper's readout: the 8 central bins (256 bp around the TSS) of the cropped output.
TSS_HALF_BINS = 4
#: Flashzoi's rotary embedding (borzoi-pytorch's ``FlashAttention``): features per head
#: it rotates, and its base.
ROTARY_DIM = 128
ROTARY_BASE = 20_000.0
#: borzoi-pytorch's relative positional features are computed for a training length of
#: 4,096 transformer rows, whatever the input length.
_POSITIONS_TRAIN_ROWS = 4096
#: BorzoiConfig keys that shape the network.
CONFIG_KEYS = ("dim", "depth", "heads", "attn_dim_key", "attn_dim_value",
               "return_center_bins_only", "bins_to_return", "enable_mouse_head",
               "enable_human_head", "flashed")


def import_borzoi() -> Any:
    """Import borzoi_pytorch, or explain how to install it next to the export extra."""
    try:
        import borzoi_pytorch
    except ImportError as exc:
        raise ImportError("the Borzoi export needs borzoi-pytorch: pip install "
                          "'creme-fast[export]' && pip install --no-deps borzoi-pytorch==0.5.1 "
                          f"(README, Set up); import failed: {exc}") from None
    return borzoi_pytorch


def packaged_targets() -> Path | None:
    """borzoi-pytorch's targets table of the human head (``precomputed/targets.txt``)."""
    try:
        path = resources.files("borzoi_pytorch") / "precomputed" / "targets.txt"
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


# ---------------------------------------------------------------- geometry and readout

def output_bins(seq_length: int, crop_target: int) -> tuple[int, int]:
    """Bins of the cropped output and the first kept 32-bp position, for ``seq_length`` bp.

    borzoi-pytorch's ``TargetLengthCrop`` removes ``(n - target) // 2`` positions
    from each side (rounded as enformer-pytorch's crop).
    """
    if seq_length % 128:
        raise ValueError(f"sequence length {seq_length} is not a multiple of 128 (Borzoi "
                         "pools 7 times)")
    n = seq_length // BIN_SIZE
    if crop_target == -1:
        return n, 0
    if n < crop_target:
        raise ValueError(f"sequence length {seq_length} gives {n} bins of {BIN_SIZE} bp, fewer "
                         f"than the model's bins_to_return {crop_target}")
    trim = (crop_target - n) // 2
    return (n, 0) if trim == 0 else (n + 2 * trim, -trim)


def tss_bins(n_bins: int) -> list[int]:
    """The paper's TSS bins: the 8 central bins of the cropped output (``n // 2 - 4`` ..)."""
    centre = n_bins // 2
    return list(range(max(0, centre - TSS_HALF_BINS), min(n_bins, centre + TSS_HALF_BINS)))


def upsampling_rows(positions: Sequence[int], n_rows: int) -> tuple[int, int]:
    """Transformer rows ``[r0, r1)`` whose U-net upsampling reaches 32-bp ``positions``.

    The upsampling reads one neighbour at 64 bp and one at 32 bp (two separable
    k3 convolutions around two nearest-neighbour upsamplings), so position ``p``
    needs rows ``p // 4 - 1 .. p // 4 + 1``; computed on those rows alone (zero
    padding at a window edge that is not a sequence edge) it is exact.
    """
    lo, hi = min(positions), max(positions)
    return max(0, lo // 4 - 1), min(n_rows, hi // 4 + 2)


def borzoi_positions(n: int, features: int, device: Any, dtype: torch.dtype) -> torch.Tensor:
    """borzoi-pytorch's relative positional features of distances ``-(n - 1) .. n - 1``."""
    from borzoi_pytorch.pytorch_borzoi_transformer import get_positional_embed

    with torch.no_grad():
        return get_positional_embed(int(n), _POSITIONS_TRAIN_ROWS, features,
                                    device).to(dtype)


def rotary_tables(positions: torch.Tensor, rotary_dim: int, base: float,
                  dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``(len(positions), rotary_dim // 2)`` of flash-attn's ``RotaryEmbedding``
    (non-interleaved, no xPos scaling; computed in float32 as it does)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, rotary_dim, 2, dtype=torch.float32)
                               / rotary_dim))
    freqs = torch.outer(positions.to(torch.float32), inv_freq)
    return torch.cos(freqs).to(dtype), torch.sin(freqs).to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``2 * cos.shape[-1]`` features of ``x`` (..., rows, d) GPT-NeoX style:
    halves ``x1, x2`` become ``x1 cos - x2 sin, x2 cos + x1 sin``."""
    half = cos.shape[-1]
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


# ---------------------------------------------------------------- Flashzoi attention

class _FlashMHA(nn.Module):
    """The parameters of flash-attn's ``MHA`` as Flashzoi builds it (``Wqkv``, ``out_proj``)."""

    def __init__(self, dim: int, heads: int, heads_kv: int) -> None:
        super().__init__()
        self.num_heads, self.num_heads_kv = heads, heads_kv
        self.head_dim = dim // heads
        self.Wqkv = nn.Linear(dim, self.head_dim * (heads + 2 * heads_kv), bias=True)
        self.out_proj = nn.Linear(dim, dim, bias=True)


class FlashzoiAttention(nn.Module):
    """borzoi-pytorch's ``FlashAttention`` on any device: same parameters, plain PyTorch.

    Flashzoi's attention is flash-attn's ``MHA(num_heads=heads, num_heads_kv=heads // 2,
    rotary_emb_dim=128, rotary_emb_base=20000, softmax_scale=(dim / heads) ** -0.5)``:
    ``Wqkv`` projects to ``heads`` query heads then ``heads // 2`` key and value heads,
    the first 128 features of each query and key head are rotated by their row
    position (GPT-NeoX halves), query head ``i`` attends with key/value head
    ``i // 2``, and ``out_proj`` mixes the heads. flash-attn runs it only with CUDA;
    this module computes the same function with ``scaled_dot_product_attention``, so a
    Flashzoi snapshot loads and runs anywhere (its state dict keys are the same).

    Parameters
    ----------
    dim : int
    heads : int
        Query heads; key/value heads are ``heads // 2``.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if heads < 2 or heads % 2 or dim % heads:
            raise ValueError(f"Flashzoi attention needs an even number of heads dividing dim; "
                             f"got dim={dim}, heads={heads}")
        if dim // heads < ROTARY_DIM:
            raise ValueError(f"Flashzoi's rotary embedding rotates {ROTARY_DIM} features per "
                             f"head; dim / heads = {dim // heads} is fewer")
        self.mha = _FlashMHA(dim, heads, heads // 2)
        self.softmax_scale = (dim / heads) ** -0.5
        self.rotary_dim = ROTARY_DIM
        self.rotary_base = ROTARY_BASE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mha
        b, n, _ = x.shape
        h, hkv, d = m.num_heads, m.num_heads_kv, m.head_dim
        qkv = m.Wqkv(x)
        q = qkv[..., :h * d].reshape(b, n, h, d).transpose(1, 2)
        kv = qkv[..., h * d:].reshape(b, n, 2, hkv, d)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        cos, sin = rotary_tables(torch.arange(n, device=x.device), self.rotary_dim,
                                 self.rotary_base, q.dtype)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        k = k.repeat_interleave(h // hkv, dim=1)
        v = v.repeat_interleave(h // hkv, dim=1)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v,
                                                               scale=self.softmax_scale)
        return m.out_proj(out.transpose(1, 2).reshape(b, n, h * d))


class ExportRotaryAttention(nn.Module):
    """:class:`FlashzoiAttention` (its parameters) as MatMul/softmax, optionally row-pruned.

    The query heads are grouped under their key/value head by a reshape (no copy
    of keys or values), and the rotary tables are constants of the graph.
    """

    def __init__(self, attention: FlashzoiAttention) -> None:
        super().__init__()
        self.attention = attention

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B, n, dim) to (B, n, dim), or (B, len(rows), dim) for the rows given."""
        a = self.attention
        m = a.mha
        b, n, _ = x.shape
        h, hkv, d = m.num_heads, m.num_heads_kv, m.head_dim
        g = h // hkv
        weight, bias = m.Wqkv.weight, m.Wqkv.bias
        kv = torch.nn.functional.linear(x, weight[h * d:], bias[h * d:])  # (b, n, 2 hkv d)
        q_in = x if rows is None else x.index_select(1, rows)
        r = q_in.shape[1]
        q = torch.nn.functional.linear(q_in, weight[:h * d], bias[:h * d])
        with torch.no_grad():
            cos, sin = rotary_tables(torch.arange(n), a.rotary_dim, a.rotary_base, x.dtype)
        cos, sin = cos.to(x.device), sin.to(x.device)
        q_cos, q_sin = (cos, sin) if rows is None else (cos[rows], sin[rows])
        q = apply_rotary(q.reshape(b, r, h, d).transpose(1, 2), q_cos, q_sin)  # (b, h, r, d)
        kv = kv.reshape(b, n, 2, hkv, d)
        k = apply_rotary(kv[:, :, 0].transpose(1, 2), cos, sin)  # (b, hkv, n, d)
        v = kv[:, :, 1].transpose(1, 2)
        q = q.reshape(b, hkv, g * r, d) * a.softmax_scale  # query head i -> kv head i // g
        attn = torch.matmul(q, k.transpose(2, 3)).softmax(dim=-1)  # (b, hkv, g r, n)
        out = torch.matmul(attn, v).reshape(b, h, r, d).transpose(1, 2).reshape(b, r, h * d)
        return m.out_proj(out)


def export_attention(module: nn.Module) -> nn.Module:
    """The export form of one Borzoi or Flashzoi attention module."""
    if isinstance(module, FlashzoiAttention):
        return ExportRotaryAttention(module)
    if type(module).__name__ == "Attention":
        return ExportAttention(module, positions=borzoi_positions)
    raise ValueError(f"no export form for the attention module {type(module).__name__}")


# ---------------------------------------------------------------- loading

def _attention_block(layer: nn.Module) -> nn.Sequential:
    return layer[0].fn  # Residual(Sequential(LayerNorm, attention, Dropout))


def build_borzoi(settings: dict[str, Any]) -> nn.Module:
    """A borzoi-pytorch ``Borzoi`` of the given config (random weights), Flashzoi included.

    Parameters
    ----------
    settings : dict
        BorzoiConfig keys (``dim``, ``depth``, ``heads``, ``bins_to_return``,
        ``return_center_bins_only``, ``enable_mouse_head``, ``enable_human_head``,
        ``attn_dim_key``, ``attn_dim_value``) and ``flashed``: Flashzoi's rotary
        attention, as :class:`FlashzoiAttention` (flash-attn is not needed).

    Returns
    -------
    borzoi_pytorch.Borzoi
        In eval mode.
    """
    borzoi_pytorch = import_borzoi()
    from borzoi_pytorch.config_borzoi import BorzoiConfig

    settings = dict(settings)
    flashed = bool(settings.pop("flashed", False))
    config = BorzoiConfig(**settings)
    model = borzoi_pytorch.Borzoi(config)
    if flashed:
        for layer in model.transformer:
            block = _attention_block(layer)
            block[1] = FlashzoiAttention(config.dim, config.heads)
        model.flashed = True
        model.config.flashed = True
    return model.eval()


def snapshot_settings(checkpoint: str | Path) -> dict[str, Any]:
    """The network settings of a borzoi-pytorch snapshot, read without its weights.

    Parameters
    ----------
    checkpoint : str or pathlib.Path
        A ``save_pretrained`` directory (``config.json`` + ``model.safetensors`` or
        ``pytorch_model.bin``), or a weights file with a ``config.json`` beside it.
    """
    path, config, _ = _locate(checkpoint)
    if not config:
        raise ValueError(f"{path}: a Borzoi checkpoint needs its config.json (the "
                         "save_pretrained directory of borzoi-pytorch)")
    model_type = config.get("model_type")
    if model_type not in (None, "borzoi"):
        raise ValueError(f"{path}: config.json describes a {model_type!r} model, not Borzoi "
                         "(borzoi-pytorch's Prime is not supported)")
    return {k: config[k] for k in CONFIG_KEYS if k in config}


def load_borzoi(checkpoint: str | Path) -> nn.Module:
    """Load Borzoi or Flashzoi from a local borzoi-pytorch snapshot (no network).

    Parameters
    ----------
    checkpoint : str or pathlib.Path
        As :func:`snapshot_settings` (e.g. a copy of ``johahi/borzoi-replicate-0``
        or ``johahi/flashzoi-replicate-0``).

    Returns
    -------
    borzoi_pytorch.Borzoi
        In eval mode, on the CPU; Flashzoi's attention as :class:`FlashzoiAttention`.
    """
    settings = snapshot_settings(checkpoint)
    path, _, weights = _locate(checkpoint)
    model = build_borzoi(settings)
    state = _read_state_dict(weights)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[1:2] or [str(exc)]
        raise ValueError(f"{path}: the weights do not fit Borzoi({_describe(settings)}): "
                         f"{first[0].strip()}") from None
    del state
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path}: the weights do not fit Borzoi({_describe(settings)}): "
                         f"missing {result.missing_keys[:3]}, unexpected "
                         f"{result.unexpected_keys[:3]}")
    log.info("loaded %s(%s) from %s", "Flashzoi" if settings.get("flashed") else "Borzoi",
             _describe(settings), path)
    return model.eval()


def _describe(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def heads_of(model: nn.Module) -> dict[str, nn.Conv1d]:
    """The output heads a Borzoi model has (``human``, ``mouse``)."""
    return {name: getattr(model, f"{name}_head") for name in ("human", "mouse")
            if isinstance(getattr(model, f"{name}_head", None), nn.Conv1d)}


# ---------------------------------------------------------------- the export body

class BorzoiBody(nn.Module):
    """Borzoi with one head, bins chosen before the per-bin layers, and its trunk/tower split.

    ``forward`` of the default body is borzoi-pytorch's own ``Borzoi.forward``
    followed by the selection: it is what every graph is verified against.
    ``trunk``/``tower`` compute the same function split at the transformer
    (borzoi-pytorch's modules); with ``export_tower=True`` ``forward`` is
    ``tower(trunk(x))`` with the transformer as MatMul attention
    (:class:`~creme_fast.export.attention.ExportTransformer`), its last layer only
    on the rows the kept bins read, and the upsampling and head only on those
    bins: the body creme-fast traces.

    Parameters
    ----------
    borzoi : borzoi_pytorch.Borzoi
    head : {"human", "mouse"}
    tracks, bins : sequence of int, optional
        Head rows and cropped-output bins to keep (original indices).
    export_tower : bool, default=False
    """

    accepts_tokens = False

    def __init__(self, borzoi: nn.Module, head: str = "human", *,
                 tracks: Sequence[int] | None = None, bins: Sequence[int] | None = None,
                 export_tower: bool = False) -> None:
        super().__init__()
        heads = heads_of(borzoi)
        if head not in heads:
            raise ValueError(f"head {head!r} not in the model's heads: {', '.join(heads)}")
        self.model = borzoi
        self.is_human = head == "human"
        self.crop_target = int(borzoi.crop.target_length)
        conv: nn.Conv1d = heads[head]
        if tracks is not None:
            index = torch.tensor(list(tracks), dtype=torch.long)
            pruned = nn.Conv1d(conv.in_channels, len(index), 1, device=conv.weight.device,
                               dtype=conv.weight.dtype)
            with torch.no_grad():
                pruned.weight.copy_(conv.weight[index])
                pruned.bias.copy_(conv.bias[index])
            conv = pruned
        self.head = conv
        self.unet1_channels = _out_channels(borzoi.unet1)
        self.unet0_channels = _out_channels(borzoi.res_tower)
        self.bins = None if bins is None else [int(b) for b in bins]
        self.tracks = None if tracks is None else [int(t) for t in tracks]
        self.register_buffer("bin_index", None if bins is None else
                             torch.tensor(self.bins, dtype=torch.long), persistent=False)
        self.register_buffer("track_index", None if tracks is None else
                             torch.tensor(self.tracks, dtype=torch.long), persistent=False)
        self.export_transformer = (ExportTransformer(borzoi.transformer,
                                                     attention=export_attention)
                                   if export_tower else None)

    # the split ------------------------------------------------------------
    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot ``(B, W, 4)`` to 128-bp rows ``(B, W / 128, 2 * dim + 4 * C0)``:
        per row its two ``x_unet1`` rows, then its four ``x_unet0`` rows."""
        m = self.model
        b = x.shape[0]
        unet0 = m.res_tower(m.conv_dna(x.transpose(1, 2)))  # (B, C0, W/32)
        unet1 = m.unet1(unet0)  # (B, C1, W/64)
        return torch.cat([unet1.transpose(1, 2).reshape(b, -1, 2 * self.unet1_channels),
                          unet0.transpose(1, 2).reshape(b, -1, 4 * self.unet0_channels)],
                         dim=2)

    def trunk_layers(self) -> list[tuple[int, int, int]]:
        """``(kernel, stride, pad_left)`` of the trunk's spatial layers, in order (the last,
        ``(2, 2, 0)``, gathers two ``x_unet1`` rows into a 128-bp row)."""
        m = self.model
        return local_layers([m.conv_dna, m.res_tower, m.unet1]) + [(2, 2, 0)]

    def tower(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows ``(B, n, 2 * dim + 4 * C0)`` to ``(B, bins, tracks)``."""
        b, n, _ = rows.shape
        c1, c0 = self.unet1_channels, self.unet0_channels
        unet1 = rows[..., :2 * c1].reshape(b, 2 * n, c1)
        unet0 = rows[..., 2 * c1:].reshape(b, 4 * n, c0)
        x = unet1.reshape(b, n, 2, c1).amax(dim=2)  # Borzoi's max pool before the transformer
        n_bins, offset = output_bins(4 * n * BIN_SIZE, self.crop_target)
        kept = list(range(n_bins)) if self.bins is None else self.bins
        positions = [offset + k for k in kept]
        if self.export_transformer is None:  # borzoi-pytorch's modules on every row
            r0, r1 = 0, n
            transformed = self.model.transformer(x)
        else:
            r0, r1 = upsampling_rows(positions, n)
            index = torch.arange(r0, r1, device=rows.device)
            if 2 * (r1 - r0) <= n:
                transformed = self.export_transformer(x, index)
            else:
                transformed = self.export_transformer(x)[:, r0:r1]
        y = self._upsample(transformed, unet1[:, 2 * r0:2 * r1], unet0[:, 4 * r0:4 * r1])
        index = torch.tensor([p - 4 * r0 for p in positions], dtype=torch.long,
                             device=rows.device)
        y = y.index_select(2, index)
        y = self.model.final_softplus(self.head(self.model.final_joined_convs(y)))
        return y.transpose(1, 2)

    def _upsample(self, transformed: torch.Tensor, unet1: torch.Tensor,
                  unet0: torch.Tensor) -> torch.Tensor:
        """Borzoi's U-net upsampling of transformer rows ``(B, r, dim)`` with the skip
        features of the same span: ``(B, dim, 4 r)`` at 32 bp."""
        m = self.model
        y = _repeat2(m.upsampling_unet1[0](transformed.transpose(1, 2)))
        y = m.separable1(y + m.horizontal_conv1(unet1.transpose(1, 2)))
        y = _repeat2(m.upsampling_unet0[0](y))
        return m.separable0(y + m.horizontal_conv0(unet0.transpose(1, 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.export_transformer is not None:
            return self.tower(self.trunk(x))
        y = self.model(x.transpose(1, 2), is_human=self.is_human).transpose(1, 2)
        if self.bin_index is not None:
            y = y.index_select(1, self.bin_index)
        if self.track_index is not None:
            y = y.index_select(2, self.track_index)
        return y


def _repeat2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour upsampling by 2 along the last axis (``nn.Upsample(scale_factor=2)``)."""
    b, c, n = x.shape
    return x.unsqueeze(-1).expand(b, c, n, 2).reshape(b, c, 2 * n)


def _out_channels(module: nn.Module) -> int:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv1d)]
    if not convs:
        raise ValueError(f"no convolution in {type(module).__name__}")
    return int(convs[-1].out_channels)


# ---------------------------------------------------------------- export

def export_borzoi(model: nn.Module | str | Path, out: str | Path, *, head: str = "human",
                  seq_length: int = BORZOI_LENGTH, tracks: Sequence[int] | None = None,
                  bins: Sequence[int] | None = None, targets: str | Path | None = None,
                  **options: Any) -> ExportResult:
    """Export Borzoi or Flashzoi (a model or a borzoi-pytorch snapshot) with a pruned head.

    Parameters
    ----------
    model : borzoi_pytorch.Borzoi, str or pathlib.Path
        A model (e.g. from :func:`build_borzoi`) or a snapshot for :func:`load_borzoi`.
    out : str or pathlib.Path
    head : {"human", "mouse"}, default="human"
        The mouse head exists where the snapshot has it (``enable_mouse_head``).
    seq_length : int, default=524288
    tracks : sequence of int, optional
        Head rows to keep (original indices; e.g. CAGE K562 + and - strands).
    bins : sequence of int, optional
        32-bp bins of the cropped output to keep; the upsampling and head run on
        them alone, and the transformer's last layer on the rows they read.
    targets : str or pathlib.Path, optional
        A targets table for the kept tracks' names. Default for the human head:
        borzoi-pytorch's own (``precomputed/targets.txt``).
    **options
        Passed to :func:`~creme_fast.export.core.export_module` (input_kind, fp16,
        opset, atol, rtol, verify_batch, bin_reduce, incremental).

    Returns
    -------
    creme_fast.export.ExportResult
        Its metadata records ``tss_bins`` (the paper's 8 central bins, as
        positions of the graph's output) where the export keeps them.
    """
    names_from = None if targets is None else Path(targets)
    if names_from is not None:
        read_targets(names_from)  # a bad table fails before the weights load
    loaded_here = isinstance(model, (str, Path))
    source = str(model) if loaded_here else type(model).__name__
    if loaded_here:
        settings = snapshot_settings(model)
        if head == "mouse" and not settings.get("enable_mouse_head", False):
            raise ValueError(f"{model}: the snapshot has no mouse head (enable_mouse_head is "
                             "false in its config.json)")
        model = load_borzoi(model)
    heads = heads_of(model)
    if head not in heads:
        raise ValueError(f"head {head!r} not in the model's heads: {', '.join(heads)}")
    if names_from is None and head == "human":
        names_from = packaged_targets()
    tracks, bins = _int_list(tracks, "tracks"), _int_list(bins, "bins")
    n_tracks = int(heads[head].out_channels)
    n_bins, _ = output_bins(seq_length, int(model.crop.target_length))
    _check_range(tracks, n_tracks, "tracks")
    _check_range(bins, n_bins, "bins")
    body = BorzoiBody(model, head, tracks=tracks, bins=bins).eval()
    graph_body = BorzoiBody(model, head, tracks=tracks, bins=bins, export_tower=True).eval()
    config = model.config
    flashed = bool(getattr(model, "flashed", False))
    extra: dict[str, Any] = {
        "source": source, "architecture": "flashzoi" if flashed else "borzoi",
        "hparams": {k: getattr(config, k) for k in (
            "dim", "depth", "heads", "attn_dim_key", "attn_dim_value", "bins_to_return",
            "return_center_bins_only", "enable_mouse_head") if hasattr(config, k)},
        "head_tracks": n_tracks, "model_bins": n_bins, "bin_size": BIN_SIZE,
        "readout": "the paper sums the 8 central bins (tss_bins) over a cell line's CAGE "
                   "tracks (+ and - strands)"}
    extra["hparams"]["flashed"] = flashed
    paper = tss_bins(n_bins)
    kept = list(range(n_bins)) if bins is None else bins
    if all(b in kept for b in paper):
        extra["tss_bins"] = [kept.index(b) for b in paper]
    else:
        log.warning("the export keeps bins without the paper's TSS bins %s: no default bins "
                    "are recorded (give --bins to every run)", paper)
    if names_from is not None:
        try:
            extra["track_names"] = track_names(names_from, tracks, n_tracks)
            extra["targets"] = names_from.name
        except ValueError as exc:
            if targets is not None:
                raise
            log.info("no track names: borzoi-pytorch's targets table does not fit this "
                        "head (%s)", exc)
    return export_module(body, out, seq_length=seq_length, tracks=tracks, bins=bins,
                         model_name="borzoi", head=head, selection_in_body=True, extra=extra,
                         graph_module=graph_body, release_weights=loaded_here, **options)


#: The family's entry points for ``creme-fast export --model borzoi``.
export = export_borzoi
load = load_borzoi
