"""The export step: a PyTorch model to a verified ONNX graph (installed as creme_fast.export).

This is the only part of creme-fast that needs PyTorch. ``export_enformer``
and ``export_module`` share :func:`export_module`'s pipeline: wrap, run
PyTorch, export, check the batch axis is symbolic, run ONNX Runtime on the
same inputs, compare every output, and only then write the file with its
metadata.
"""
from creme_fast.export.checkpoint import load_enformer
from creme_fast.export.core import ExportError, ExportResult, export_enformer, export_module

__all__ = ["ExportError", "ExportResult", "export_enformer", "export_module", "load_enformer"]
