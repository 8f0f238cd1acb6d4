"""Small Enformer checkpoints written by the tests themselves."""
from __future__ import annotations

from pathlib import Path

import numpy as np

SMALL = dict(dim=96, depth=1, heads=2, output_heads=dict(human=16, mouse=4), target_length=8,
             attn_dim_key=16, num_downsamples=7, dim_divisible_by=16)
SEQ_LENGTH = 2048  # 16 bins before the crop, 8 after


NOISE = 0.07  # N(0, NOISE) added to every parameter: see make_small_enformer


def make_small_enformer(seed: int = 0, noise: float = NOISE, hparams: dict | None = None):
    """A small Enformer whose outputs depend on its input.

    A randomly initialised Enformer predicts nearly the same value for every
    sequence (an equality test on it could not fail), so N(0, ``noise``) is
    added to every parameter; :func:`input_spread` measures the effect.
    """
    import torch
    from enformer_pytorch import Enformer

    torch.manual_seed(seed)
    model = Enformer.from_hparams(**(SMALL if hparams is None else hparams)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * noise)
        # spread the head so track selection shows
        model.heads["human"][0].bias.add_(torch.linspace(-2, 2, 16))
    return model


def input_spread(pred_a: np.ndarray, pred_b: np.ndarray) -> float:
    """Largest relative difference between predictions for different inputs."""
    a, b = np.asarray(pred_a, np.float64), np.asarray(pred_b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def write_checkpoints(model, root: Path) -> dict[str, Path]:
    """The same weights as a save_pretrained directory, .safetensors and .pt."""
    import safetensors.torch
    import torch

    paths = {"hf_dir": root / "hf", "safetensors": root / "weights.safetensors",
             "torch": root / "weights.pt"}
    model.save_pretrained(paths["hf_dir"], safe_serialization=False)
    safetensors.torch.save_model(model, str(paths["safetensors"]))
    torch.save(model.state_dict(), paths["torch"])
    return paths


def torch_reference(model, tokens: np.ndarray, tracks=None, bins=None) -> np.ndarray:
    """enformer-pytorch's own forward, then numpy selection: independent of the export."""
    import torch

    from creme_fast.sequence import one_hot

    with torch.no_grad():
        out = model(torch.from_numpy(one_hot(tokens)), head="human").numpy()
    if bins is not None:
        out = out[:, bins]
    if tracks is not None:
        out = out[:, :, tracks]
    return out
