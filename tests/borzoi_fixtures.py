"""Small Borzoi and Flashzoi models written by the tests themselves.

borzoi-pytorch fixes the convolution widths (512 .. 1280 channels) in its
constructor; :func:`make_small_borzoi` builds its ``Borzoi`` with a small ``dim``
and depth 1, then swaps the convolutions for narrow ones made of borzoi-pytorch's
own ``ConvBlock`` (so ``Borzoi.forward``, the reference, is unchanged) and the
head for one of 12 tracks. A random Borzoi predicts nearly the same for every
input (and borzoi-pytorch zeroes the attention's output projection), so every
parameter gets N(0, noise) and the batch norms random statistics; tests assert
that outputs depend on the input before asserting that two paths agree.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SEQ_LENGTH = 8192  # 256 bins of 32 bp before the crop, 64 transformer rows
SMALL = dict(dim=32, depth=1, heads=2, attn_dim_key=8, attn_dim_value=16, bins_to_return=128)
# Flashzoi's rotary attention rotates 128 features per head: dim / heads >= 128
SMALL_FLASH = dict(dim=256, depth=1, heads=2, bins_to_return=128, flashed=True)
CHANNELS = (8, 12, 12, 16, 16, 24)  # conv_dna, then the res tower's five blocks
FINAL, N_TRACKS, N_MOUSE = 16, 12, 5
NOISE = {"borzoi": 0.2, "flashzoi": 0.12}  # spread 2x and 0.17x between random inputs
# the attention's output projection scaled up, so that sequence 3 kb from the TSS bins
# moves them by 3e-3 (Borzoi) and 6e-3 (Flashzoi) relative: 30x the export's tolerance
ATTENTION_GAIN = {"borzoi": 10.0, "flashzoi": 1.0}


def make_small_borzoi(seed: int = 0, settings: dict | None = None,
                      noise: float | None = None, narrow: bool = True):
    """A small, input-sensitive borzoi-pytorch Borzoi (Flashzoi with ``SMALL_FLASH``).

    ``narrow=False`` keeps borzoi-pytorch's own convolution widths (a model a
    snapshot of the same config loads into).
    """
    import torch
    from borzoi_pytorch.pytorch_borzoi_model import ConvBlock
    from torch import nn

    from creme_fast.export.models.borzoi import build_borzoi

    torch.manual_seed(seed)
    settings = dict(SMALL if settings is None else settings)
    if noise is None:
        noise = NOISE["flashzoi" if settings.get("flashed") else "borzoi"]
    model = build_borzoi(settings)
    dim = model.config.dim
    if narrow:
        c = CHANNELS
        model.conv_dna.conv_layer = nn.Conv1d(4, c[0], 15, padding="same")
        pool = model._max_pool
        model.res_tower = nn.Sequential(
            ConvBlock(c[0], c[1], 5), pool, ConvBlock(c[1], c[2], 5), pool,
            ConvBlock(c[2], c[3], 5), pool, ConvBlock(c[3], c[4], 5), pool,
            ConvBlock(c[4], c[5], 5))
        model.unet1 = nn.Sequential(pool, ConvBlock(c[5], dim, 5))
        model.horizontal_conv0 = ConvBlock(c[5], dim, 1)
        model.final_joined_convs = nn.Sequential(ConvBlock(dim, FINAL, 1), nn.Dropout(0.1),
                                                 nn.GELU(approximate="tanh"))
        model.human_head = nn.Conv1d(FINAL, N_TRACKS, 1)
        if getattr(model, "mouse_head", None) is not None:
            model.mouse_head = nn.Conv1d(FINAL, N_MOUSE, 1)
    model.eval()
    kind = "flashzoi" if settings.get("flashed") else "borzoi"
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * noise)
        for layer in model.transformer:
            attention = layer[0].fn[1]
            out = attention.mha.out_proj if kind == "flashzoi" else attention.to_out
            out.weight.mul_(ATTENTION_GAIN[kind] if noise else 1.0)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return model


def input_spread(pred_a: np.ndarray, pred_b: np.ndarray) -> float:
    """Largest relative difference between predictions for different inputs."""
    a, b = np.asarray(pred_a, np.float64), np.asarray(pred_b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def borzoi_reference(model, tokens: np.ndarray, tracks=None, bins=None,
                     head: str = "human") -> np.ndarray:
    """borzoi-pytorch's own forward ``(N, 4, L) -> (N, tracks, bins)``, then numpy selection."""
    import torch

    from creme_fast.sequence import one_hot

    x = torch.from_numpy(one_hot(tokens)).transpose(1, 2)
    with torch.no_grad():
        out = model(x, is_human=head == "human").transpose(1, 2).numpy()
    if bins is not None:
        out = out[:, bins]
    if tracks is not None:
        out = out[:, :, tracks]
    return out


def write_snapshot(model, root: Path) -> Path:
    """The model as borzoi-pytorch's ``save_pretrained`` writes it (config.json + weights)."""
    model.save_pretrained(root)
    return root
