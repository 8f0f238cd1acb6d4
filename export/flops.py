"""Count the multiply-add FLOPs of an ONNX graph (see :mod:`creme_fast.runtime.flops`,
which needs no torch, so the runtime counts them too)."""
from __future__ import annotations

from creme_fast.runtime.flops import count_flops

__all__ = ["count_flops"]
