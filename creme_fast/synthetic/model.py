"""The shipped ONNX export of the synthetic ground-truth model."""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["load_synthetic", "synthetic_model_path"]


def synthetic_model_path() -> Path:
    """Path of the shipped ``synthetic.onnx`` (regenerate it with
    ``python -m creme_fast.export.synthetic``)."""
    path = Path(str(resources.files("creme_fast") / "data" / "synthetic.onnx"))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the synthetic model is missing from this install")
    return path


def load_synthetic(**options: Any) -> Any:
    """An :class:`~creme_fast.runtime.OnnxPredictor` of the shipped synthetic model.

    Parameters
    ----------
    **options
        Passed to :func:`creme_fast.runtime.load_predictor` (e.g. ``providers``,
        ``threads``).
    """
    from creme_fast.runtime import load_predictor

    return load_predictor(synthetic_model_path(), **options)
