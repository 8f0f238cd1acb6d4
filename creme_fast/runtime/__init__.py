"""Predictors: ONNX Runtime (TensorRT > CUDA > CPU), PyTorch, or any callable.

Importing this package needs neither torch nor onnxruntime; each backend
imports its framework when it is constructed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from creme_fast.runtime.base import Predictor, check_batch, select_output
from creme_fast.runtime.callable import CallablePredictor
from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata
from creme_fast.runtime.ort import OnnxPredictor
from creme_fast.runtime.torch_backend import TorchPredictor

__all__ = [
    "METADATA_KEY",
    "CallablePredictor",
    "ModelMetadata",
    "OnnxPredictor",
    "Predictor",
    "TorchPredictor",
    "check_batch",
    "load_predictor",
    "select_output",
]


def load_predictor(model: Any, **options: Any) -> Predictor:
    """A Predictor from a path, a Predictor, or a model object.

    Parameters
    ----------
    model : str, pathlib.Path, Predictor, callable or object with ``predict``
        A ``.onnx`` path gives an :class:`OnnxPredictor`; a Predictor is
        returned as is; anything else is wrapped in a :class:`CallablePredictor`.
    **options
        Passed to the predictor's constructor.

    Returns
    -------
    Predictor
    """
    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.suffix != ".onnx":
            raise ValueError(f"{path}: expected an .onnx file (export one with "
                             "`creme-fast export`)")
        return OnnxPredictor(path, **options)
    if isinstance(model, Predictor) and not options:
        return model
    return CallablePredictor(model, **options)
