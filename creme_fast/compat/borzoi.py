"""``custom_model.Borzoi``: the Borzoi wrapper the CREME paper's scripts call.

creme-nn 0.2.5 never shipped it (the paper's scripts import a local
``borzoi_custom_model``); its calling convention is read off those scripts
(``code/`` of p-koo/CREME_paper_reproducibility)::

    model = custom_model.Borzoi('../data/borzoi/*/*', track_index=cage_tracks, aggregate=True)
    model.bin_index = list(np.arange(model.target_lengths // 2 - 4,
                                     model.target_lengths // 2 + 4, 1))
    model.seq_length                    # 524,288
    model.predict(x)                    # aggregate=True: (N, bins, tracks), the replicates' mean
                                        # aggregate=False: (N, replicates, bins, tracks)

Here each replicate is a creme-fast export (``creme-fast export --model borzoi``,
through ONNX Runtime) or a borzoi-pytorch snapshot (through PyTorch; needs
``creme-fast[export]`` and borzoi-pytorch). The paper reads out the 8 central bins
summed, halved, and summed over a cell line's CAGE tracks (``process_borzoi_results``):
that arithmetic stays in the scripts.
"""
from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.compat.encoding import decode_one_hot
from creme_fast.compat.selection import kept_positions

log = logging.getLogger(__name__)

__all__ = ["BORZOI_ENV_VAR", "Borzoi"]

#: Where ``Borzoi()`` looks for its replicates when ``model_path`` is not given.
BORZOI_ENV_VAR = "CREME_FAST_BORZOI"
_PUBLISHED_LENGTH = 524_288
_PIECES = (".trunk.onnx", ".tower.onnx")
_SNAPSHOT_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")


def _as_list(value: int | Sequence[int] | None) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [int(v) for v in value]


def replicate_paths(model_path: str | Path | Sequence[str | Path]) -> list[Path]:
    """The replicates a path, a glob or a list names: exports (their ``.trunk``/``.tower``
    pieces skipped) and snapshot directories (a file inside one names the directory)."""
    items = [model_path] if isinstance(model_path, (str, Path)) else list(model_path)
    found: list[Path] = []
    for item in items:
        text = str(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise FileNotFoundError(f"model_path {text!r} matches nothing")
        for match in map(Path, matches):
            if match.name.endswith(_PIECES):
                continue
            if match.is_file() and match.name in _SNAPSHOT_FILES:
                match = match.parent
            if match not in found:
                found.append(match)
    if not found:
        raise FileNotFoundError(f"model_path {model_path!r} names no export or snapshot")
    return found


class _Replicate:
    """One replicate: predictions of the wanted bins and tracks (original indices)."""

    def __init__(self, path: Path, head: str, seq_length: int | None,
                 providers: str | list[str] | None) -> None:
        self.path = path
        if path.suffix == ".onnx":
            from creme_fast.runtime.ort import OnnxPredictor

            self.predictor = OnnxPredictor(path, providers=providers)
            meta = self.predictor.metadata
            if meta is None or meta.model != "borzoi":
                raise ValueError(f"{path}: not a creme-fast Borzoi export (export it with "
                                 "`creme-fast export --model borzoi`)")
            if meta.head is not None and meta.head != head:
                raise ValueError(f"{path}: exported with head {meta.head!r}, not {head!r}")
            if meta.bin_reduce != "none":
                raise ValueError(f"{path}: the export averages its bins inside the graph; "
                                 "export it without --bin-reduce")
            if seq_length is not None and int(seq_length) != meta.seq_length:
                raise ValueError(f"seq_length={seq_length} but {path} takes "
                                 f"{meta.seq_length:,} bp")
            self.seq_length = meta.seq_length
            self.kept_tracks, self.kept_bins = meta.tracks, meta.bins
            self.n_tracks = int(meta.extra.get("head_tracks", meta.n_tracks))
            self.n_bins = int(meta.extra.get("model_bins", meta.n_bins))
        else:
            from creme_fast.export.models.borzoi import BorzoiBody, load_borzoi, output_bins
            from creme_fast.runtime.torch_backend import TorchPredictor

            self.seq_length = int(seq_length or _PUBLISHED_LENGTH)
            model = load_borzoi(path)
            body = BorzoiBody(model, head)
            self.predictor = TorchPredictor(body, seq_length=self.seq_length, name=str(path))
            self.kept_tracks = self.kept_bins = None
            self.n_tracks = int(body.head.out_channels)
            self.n_bins = output_bins(self.seq_length, body.crop_target)[0]

    def positions(self, wanted: list[int] | None, kept: list[int] | None, size: int,
                  name: str, what: str) -> Any:
        return kept_positions(wanted, kept, size, name, what, self.path.name)

    def predict(self, batch: np.ndarray, bins: list[int] | None,
                tracks: list[int] | None) -> np.ndarray:
        b = self.positions(bins, self.kept_bins, self.n_bins, "bin_index", "bin")
        t = self.positions(tracks, self.kept_tracks, self.n_tracks, "track_index", "track")
        return self.predictor.predict(batch)[:, b][:, :, t]


class Borzoi:
    """Borzoi replicates with the paper's wrapper interface, on creme-fast exports or snapshots.

    Parameters
    ----------
    model_path : str, pathlib.Path or list, optional
        A path, a glob (the paper's ``'../data/borzoi/*/*'``) or a list: each match an
        export (``.onnx``) or a borzoi-pytorch snapshot directory. Default:
        ``$CREME_FAST_BORZOI``.
    track_index : int or list of int, optional
        Head tracks (original indices, e.g. the CAGE tracks of ``get_borzoi_targets``);
        default all. An attribute.
    aggregate : bool, default=True
        Average the replicates (``predict`` returns ``(N, bins, tracks)``); False keeps
        them (``(N, replicates, bins, tracks)``).
    bin_index : int or list of int, optional
        Output bins (of the cropped output, 32 bp each); default all. An attribute:
        the paper sets it after construction.
    head : {"human", "mouse"}, default="human"
    seq_length : int, optional
        Input length of a snapshot (default 524,288); an export records its own.
    providers : str or list of str, optional
        ONNX Runtime providers for exports.

    Attributes
    ----------
    seq_length : int
    target_lengths : int
        Bins of the full cropped output (6,144 for the published model).
    replicates : list
    """

    def __init__(self, model_path: str | Path | Sequence[str | Path] | None = None,
                 track_index: int | Sequence[int] | None = None, aggregate: bool = True,
                 bin_index: int | Sequence[int] | None = None, head: str = "human", *,
                 seq_length: int | None = None,
                 providers: str | list[str] | None = None) -> None:
        path = model_path if model_path is not None else os.environ.get(BORZOI_ENV_VAR)
        if not path:
            raise ValueError("Borzoi needs its models: pass model_path= (creme-fast exports or "
                             "borzoi-pytorch snapshots, a glob for replicates) or set "
                             f"{BORZOI_ENV_VAR}")
        self.replicates = [_Replicate(p, head, seq_length, providers)
                           for p in replicate_paths(path)]
        lengths = {r.seq_length for r in self.replicates}
        bins = {r.n_bins for r in self.replicates}
        if len(lengths) > 1 or len(bins) > 1:
            raise ValueError(f"the replicates disagree on their input length ({sorted(lengths)}) "
                             f"or output bins ({sorted(bins)})")
        self.seq_length = lengths.pop()
        self.target_lengths = bins.pop()
        self.head = head
        self.track_index = _as_list(track_index)
        self.bin_index = _as_list(bin_index)
        self.aggregate = bool(aggregate)
        log.info("Borzoi: %d replicate(s), %s bp", len(self.replicates), f"{self.seq_length:,}")

    @property
    def target_length(self) -> int:
        """Alias of ``target_lengths`` (compat's Enformer spells it so)."""
        return self.target_lengths

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Predictions for one-hot sequences.

        Parameters
        ----------
        x : numpy.ndarray, shape=(N, L, 4) or (L, 4)
        batch_size : int, optional
            Sequences per backend call; default all of ``x`` at once.

        Returns
        -------
        numpy.ndarray of float32
            ``(N, bins, tracks)`` with ``aggregate``, else ``(N, replicates, bins,
            tracks)``.
        """
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[np.newaxis]
        if x.ndim != 3 or x.shape[1:] != (self.seq_length, 4):
            raise ValueError(f"x must be one-hot ({self.seq_length}, 4) or (N, "
                             f"{self.seq_length}, 4) for this model, got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("x holds no sequences")
        bins, tracks = _as_list(self.bin_index), _as_list(self.track_index)
        step = len(x) if not batch_size else int(batch_size)
        per_replicate = []
        for replicate in self.replicates:
            kind = replicate.predictor.input_kind
            batch = decode_one_hot(x)[0] if kind == "tokens" else np.ascontiguousarray(
                x, dtype=np.float32)
            per_replicate.append(np.concatenate([
                replicate.predict(batch[i:i + step], bins, tracks)
                for i in range(0, len(batch), step)]))
        stacked = np.stack(per_replicate, axis=1)  # (N, replicates, bins, tracks)
        out = stacked.mean(axis=1) if self.aggregate else stacked
        return np.ascontiguousarray(out, dtype=np.float32)

    def __repr__(self) -> str:
        return (f"Borzoi({[str(r.path) for r in self.replicates]}, track_index="
                f"{self.track_index}, bin_index={self.bin_index}, aggregate={self.aggregate})")
