"""Metadata that an exported ONNX graph carries, readable without torch or onnx.

The export step stores one JSON document under the ONNX metadata key
``creme_fast``; ONNX Runtime exposes it as ``custom_metadata_map``, so the
runtime can check a batch against the graph before running it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from creme_fast.runtime.checksum import CHECKSUM_VERSION

METADATA_KEY = "creme_fast"
# 2: the checksum covers every tensor and node of the graph (checksum_version 2); a
# creme-fast that knows only format 1 refuses such a file instead of calling it altered
FORMAT_VERSION = 2

InputKind = Literal["onehot", "tokens"]


@dataclass(frozen=True)
class ModelMetadata:
    """What an exported graph computes.

    Attributes
    ----------
    model : str
        Model name, e.g. ``"enformer"``.
    seq_length : int
        Input length in bp.
    input_kind : {"onehot", "tokens"}
        ``(B, L, 4)`` float one-hot, or ``(B, L)`` uint8 tokens one-hot encoded
        inside the graph.
    input_name, output_name : str
        Graph input and output names.
    input_dtype : str
        ``"float32"``, ``"float16"`` or ``"uint8"``.
    n_bins, n_tracks : int
        Output shape ``(B, n_bins, n_tracks)``.
    tracks : list of int or None
        Original head rows kept, in output order (None: all).
    bins : list of int or None
        Original output bins kept, in output order (None: all).
    bin_reduce : {"none", "mean"}
        Whether the kept bins are averaged inside the graph (then n_bins == 1).
    dtype : str
        Compute dtype of the weights (``"float32"``, ``"float16"`` or
        ``"bfloat16"``); the output is always float32.
    head : str or None
        Enformer head (``"human"``/``"mouse"``) when relevant.
    checksum : str
        sha256 of the graph's tensors and nodes (see :mod:`creme_fast.runtime.checksum`);
        every load checks it.
    checksum_version : int
        What ``checksum`` covers: 2 every tensor and node (initializers, ``Constant``
        values, attributes); 1 the initializers only (exports written before it
        existed: a key absent from the stored JSON reads as 1).
    versions : dict
        Versions of the exporter's packages.
    verification : dict
        Largest absolute and relative ORT-vs-PyTorch differences measured before
        the file was written, with the tolerances used.
    incremental : dict or None
        The trunk and tower graphs beside this one (see
        :mod:`creme_fast.export.incremental`): ``geometry`` (stride, left,
        right, rows, channels), ``trunk``/``tower`` (``file``, ``sha256``) and
        their ``verification``; None when the export has none.
    extra : dict
        Anything else (model hyperparameters, exporter choice, opset).
    """

    model: str
    seq_length: int
    input_kind: InputKind
    input_name: str
    output_name: str
    input_dtype: str
    n_bins: int
    n_tracks: int
    tracks: list[int] | None = None
    bins: list[int] | None = None
    bin_reduce: str = "none"
    dtype: str = "float32"
    head: str | None = None
    checksum: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    incremental: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    checksum_version: int = CHECKSUM_VERSION

    def to_json(self) -> str:
        """Serialise to the JSON stored in the graph."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMetadata:
        """Parse the stored JSON; a clear error names ``source`` if it is not ours."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: creme_fast metadata is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{source}: creme_fast metadata is not a JSON object")
        version = data.get("format_version", 0)
        if version > FORMAT_VERSION:
            raise ValueError(f"{source}: metadata format {version} is newer than this "
                             f"creme-fast understands ({FORMAT_VERSION}); upgrade creme-fast")
        data = {"checksum_version": 1, **data}  # absent: an export from before version 2
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.name not in data and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ValueError(f"{source}: creme_fast metadata lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})


def describe_gate(gate: dict[str, dict[str, Any]]) -> str:
    """One line for a fidelity gate's figures: each necessity path, then context."""
    parts = []
    for path, g in gate.items():
        if "spearman" in g:
            rho = ", ".join(f"{r:.5f}" for r in g["spearman"])
            parts.append(f"{path}: max effect diff {g['max_abs_effect_diff']:.3g} (largest "
                         f"effect {g['max_abs_effect']:.3g}), Spearman per track {rho}, "
                         f"{g['flips']} of {g['tiles'] * len(g['spearman'])} tile categories "
                         "flipped at +-0.3")
        else:
            parts.append(f"{path}: max effect diff {g['max_abs_effect_diff']:.3g} (largest "
                         f"effect {g['max_abs_effect']:.3g}), {g['flips']} of {g['pairs']} "
                         "locus-track categories flipped at 0.95 / 0.05 / -0.3")
    return "; ".join(parts)


def describe_precision(entry: dict[str, Any] | None) -> str:
    """One line for an export's ``extra["precision"]`` entry (None or empty: fp32)."""
    if not entry:
        return "fp32"
    if entry.get("gate_run") is False:
        return f"{entry['format']} (GATE NOT RUN: a benchmark export, not for results)"
    state = ("GATE FAILED, written with --force" if entry.get("forced") else
             "gate passed" if entry.get("passed") else "gate not run")
    return f"{entry['format']} ({state}; {describe_gate(entry.get('gate', {}))})"
