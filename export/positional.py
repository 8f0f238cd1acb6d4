"""Which gamma positional features an Enformer export uses, decided explicitly.

enformer-pytorch computes the gamma-distribution basis of Enformer's relative
positional features with ``torch.xlogy``/``lgamma``, which differ from
TensorFlow's, and ships TensorFlow's values precomputed (``TF_GAMMAS``, used when
``use_tf_gamma=True``). Its ``from_pretrained`` turns them on for the official
weights, but a ``save_pretrained`` snapshot's ``config.json`` keeps
``use_tf_gamma: false``. The features are constants in the exported graph, so
the choice costs nothing at run time; it only decides which numbers come out.

The precomputed values exist for one shape only: 1,536 transformer rows
(196,608 bp at 128 bp a row) and 32 basis functions per class, i.e. a positional
feature size ``dim // heads`` of 192.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

log = logging.getLogger(__name__)

__all__ = ["PUBLISHED", "TF_GAMMA_FEATURES", "TF_GAMMA_ROWS", "GammaChoice", "apply_tf_gamma",
           "is_published", "model_uses_tf_gamma", "resolve_tf_gamma"]

TF_GAMMA_ROWS = 1536
TF_GAMMA_FEATURES = 192  # 6 feature classes x 32 basis functions
#: The published Enformer (EleutherAI/enformer-official-rough, the CREME paper's model).
PUBLISHED: dict[str, Any] = {"dim": 1536, "depth": 11, "heads": 8,
                             "output_heads": {"human": 5313, "mouse": 1643}}


@dataclass(frozen=True)
class GammaChoice:
    """The gamma positional features of an export, and why.

    Attributes
    ----------
    tf_gamma : bool
        True: enformer-pytorch's precomputed TensorFlow gammas; False: gammas
        computed by PyTorch.
    reason : str
        One line for the log and the metadata.
    """

    tf_gamma: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form for the metadata."""
        return {"gammas": "tensorflow" if self.tf_gamma else "pytorch",
                "tf_gamma": self.tf_gamma, "reason": self.reason}


def is_published(settings: Mapping[str, Any]) -> bool:
    """Whether hyperparameters are the published Enformer's (dim, depth, heads, output heads)."""
    return all(settings.get(k) == v for k, v in PUBLISHED.items())


def _shape(settings: Mapping[str, Any], seq_length: int) -> tuple[int | None, int]:
    factor = 2 ** int(settings["num_downsamples"])
    rows = seq_length // factor if seq_length % factor == 0 else None
    return rows, int(settings["dim"]) // int(settings["heads"])


def resolve_tf_gamma(settings: Mapping[str, Any], seq_length: int,
                     requested: bool | None = None) -> GammaChoice:
    """Decide the gamma positional features of an export.

    Parameters
    ----------
    settings : mapping
        Enformer hyperparameters (``dim``, ``depth``, ``heads``, ``output_heads``,
        ``num_downsamples``, ``use_tf_gamma``): a checkpoint's config, read
        before any weights are loaded.
    seq_length : int
        Input length in bp.
    requested : bool, optional
        ``--tf-gamma`` (True) or ``--no-tf-gamma`` (False). None: TF gammas
        for the published architecture at 196,608 bp, else the config's
        ``use_tf_gamma``.

    Returns
    -------
    GammaChoice

    Raises
    ------
    ValueError
        TF gammas asked for (by ``requested`` or the config) where they do not
        exist: another length or another feature size.
    """
    rows, features = _shape(settings, seq_length)
    available = rows == TF_GAMMA_ROWS and features == TF_GAMMA_FEATURES
    bp = TF_GAMMA_ROWS * 2 ** int(settings["num_downsamples"])
    has = "a length that is not a whole number of rows" if rows is None else f"{rows:,} rows"
    where = (f"TF gammas exist only for {TF_GAMMA_ROWS:,} transformer rows ({bp:,} bp at "
             f"{2 ** int(settings['num_downsamples'])} bp a row) and a positional feature size "
             f"(dim / heads) of {TF_GAMMA_FEATURES}; this export has {has} ({seq_length:,} bp) "
             f"and feature size {features}")
    if requested is True:
        if not available:
            raise ValueError(f"--tf-gamma (tf_gamma=True): {where}")
        return GammaChoice(True, "TF gammas, as asked (--tf-gamma)")
    if requested is False:
        return GammaChoice(False, "PyTorch-computed gammas, as asked (--no-tf-gamma)")
    published = is_published(settings)
    if published and available:
        return GammaChoice(True, "TF gammas by default for the published Enformer architecture "
                           f"at {seq_length:,} bp, as enformer-pytorch's from_pretrained uses "
                           "for the official weights (--no-tf-gamma for a model trained with "
                           "PyTorch gammas)")
    if settings.get("use_tf_gamma"):
        if not available:
            raise ValueError(f"the checkpoint's config sets use_tf_gamma, but {where}; "
                             "pass --no-tf-gamma to export with PyTorch-computed gammas")
        return GammaChoice(True, "TF gammas, as the checkpoint's config sets use_tf_gamma")
    if published:
        return GammaChoice(False, f"PyTorch-computed gammas: {where}, so outputs differ from "
                           "the TensorFlow model's (enformer-pytorch issue 31)")
    return GammaChoice(False, "PyTorch-computed gammas (not the published architecture and "
                       "the config does not set use_tf_gamma; --tf-gamma to choose TF's)")


def _attention_modules(model: nn.Module) -> list[nn.Module]:
    from enformer_pytorch.modeling_enformer import Attention

    return [m for m in model.modules() if isinstance(m, Attention)]


def model_uses_tf_gamma(model: nn.Module) -> bool:
    """Whether any attention layer of an enformer-pytorch model uses TF gammas
    (``from_pretrained`` sets them on the layers, not in the config)."""
    return any(bool(m.use_tf_gamma) for m in _attention_modules(model))


def apply_tf_gamma(model: nn.Module, choice: GammaChoice) -> None:
    """Set the choice on every attention layer and in the model's config."""
    for module in _attention_modules(model):
        module.use_tf_gamma = choice.tf_gamma
    model.use_tf_gamma = choice.tf_gamma
    model.config.use_tf_gamma = choice.tf_gamma
