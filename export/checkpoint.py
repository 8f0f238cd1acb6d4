"""Load Enformer from a local checkpoint (no network)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

__all__ = ["ENFORMER_DEFAULTS", "checkpoint_settings", "import_enformer", "load_enformer"]

# enformer-pytorch's EnformerConfig defaults (the published architecture)
ENFORMER_DEFAULTS: dict[str, Any] = {
    "dim": 1536, "depth": 11, "heads": 8, "output_heads": {"human": 5313, "mouse": 1643},
    "target_length": 896, "attn_dim_key": 64, "num_downsamples": 7, "dim_divisible_by": 128,
    "use_tf_gamma": False,
}
_STATE_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def import_enformer() -> Any:
    """Import enformer_pytorch, or explain how to install the export extra."""
    try:
        import enformer_pytorch
    except ImportError:
        raise ImportError("the Enformer export needs enformer-pytorch: "
                          "pip install 'creme-fast[export]'") from None
    return enformer_pytorch


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the model config: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the model config is not a JSON object")
    return data


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise ValueError(f"{path}: not a readable safetensors file: {exc}") from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch state dict (loaded with "
                         f"weights_only=True): {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors")
    return state


def _locate(checkpoint: str | Path) -> tuple[Path, dict[str, Any], Path]:
    """The checkpoint's path, its config (``{}`` if none) and its weights file."""
    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise ValueError(f"{path}: a checkpoint directory needs a config.json "
                             "(the output of save_pretrained)")
        weights = [path / name for name in ("model.safetensors", "pytorch_model.bin")
                   if (path / name).is_file()]
        if not weights:
            raise ValueError(f"{path}: no model.safetensors or pytorch_model.bin in the directory")
        return path, _read_config(config_path), weights[0]
    if path.suffix not in _STATE_SUFFIXES:
        raise ValueError(f"{path}: unknown checkpoint type; expected a save_pretrained "
                         f"directory or one of {', '.join(_STATE_SUFFIXES)}")
    sibling = path.parent / "config.json"
    return path, (_read_config(sibling) if sibling.is_file() else {}), path


def checkpoint_settings(checkpoint: str | Path,
                        hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """The hyperparameters :func:`load_enformer` would build, read without the weights.

    Parameters
    ----------
    checkpoint, hparams
        As :func:`load_enformer`.

    Returns
    -------
    dict
        The published defaults, overridden by the checkpoint's config, then by
        ``hparams`` (None values ignored).
    """
    _, config, _ = _locate(checkpoint)
    overrides = {k: v for k, v in (hparams or {}).items() if v is not None}
    return {**ENFORMER_DEFAULTS,
            **{k: v for k, v in config.items() if k in ENFORMER_DEFAULTS}, **overrides}


def load_enformer(checkpoint: str | Path, hparams: dict[str, Any] | None = None) -> Any:
    """Load an Enformer from a local checkpoint.

    Parameters
    ----------
    checkpoint : str or pathlib.Path
        A directory written by ``save_pretrained`` (``config.json`` and
        weights), or a state-dict file (``.safetensors``, or a torch file read
        with ``weights_only=True``). A state-dict file takes its
        hyperparameters from a ``config.json`` beside it, else from ``hparams``
        on top of the published defaults.
    hparams : dict, optional
        Hyperparameters that override the config (``dim``, ``depth``, ``heads``,
        ``output_heads``, ``target_length``, ``num_downsamples``, ...).

    Returns
    -------
    enformer_pytorch.Enformer
        In eval mode, on the CPU.
    """
    enformer_pytorch = import_enformer()
    settings = checkpoint_settings(checkpoint, hparams)
    path, _, weights = _locate(checkpoint)
    model = enformer_pytorch.Enformer.from_hparams(**settings)
    # the state dict is a second copy of the weights: it lives only inside _load_state
    _load_state(model, weights, path, settings)
    log.info("loaded Enformer(%s) from %s", _describe(settings), path)
    return model.eval()


def _load_state(model: torch.nn.Module, weights: Path, path: Path,
                settings: dict[str, Any]) -> None:
    state = _fill_tied(model, _read_state_dict(weights))
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # size mismatches raise even with strict=False
        first = str(exc).strip().splitlines()[1:2] or [str(exc)]
        raise ValueError(f"{path}: the weights do not fit Enformer({_describe(settings)}): "
                         f"{first[0].strip()}; give the hyperparameters (config.json or flags "
                         "such as --dim/--depth/--heads)") from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path}: the weights do not fit Enformer({_describe(settings)}): "
                         f"missing {result.missing_keys[:3]}, unexpected "
                         f"{result.unexpected_keys[:3]}; give the hyperparameters "
                         "(config.json or flags such as --dim/--depth/--heads)")


def _fill_tied(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Supply keys that alias another (enformer-pytorch's ``_trunk`` shares the
    stem, tower and transformer); deduplicating savers such as
    ``safetensors.torch.save_model`` keep only one name per tensor."""
    groups: dict[tuple[int, int], list[str]] = {}
    for name, tensor in model.state_dict().items():
        groups.setdefault((tensor.data_ptr(), tensor.numel()), []).append(name)
    state = dict(state)
    for names in groups.values():
        present = [n for n in names if n in state]
        if present:
            for name in names:
                state.setdefault(name, state[present[0]])
    return state


def _describe(settings: dict[str, Any]) -> str:
    keys = ("dim", "depth", "heads", "output_heads", "target_length", "num_downsamples")
    return ", ".join(f"{k}={settings[k]}" for k in keys)
