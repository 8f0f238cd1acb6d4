"""Enformer (enformer-pytorch checkpoints): the model family's entry for ``creme-fast export``.

Its parts predate this package and stay where they are: loading in
:mod:`creme_fast.export.checkpoint`, the body and geometry in
:mod:`creme_fast.export.modules`, the positional features in
:mod:`creme_fast.export.positional`, the export in
:func:`creme_fast.export.core.export_enformer`.
"""
from __future__ import annotations

from creme_fast.export.checkpoint import load_enformer as load
from creme_fast.export.core import export_enformer as export

__all__ = ["DEFAULT_LENGTH", "export", "load"]

#: The published input length (bp).
DEFAULT_LENGTH = 196_608
