"""creme-nn 0.2.5's ``creme.custom_model.Enformer`` without TF-Hub, and the paper's ``Borzoi``.

``Borzoi`` (:mod:`creme_fast.compat.borzoi`) is the wrapper the CREME paper's scripts
call and creme-nn never shipped.

creme-nn loads Enformer from TF-Hub, which cannot be reached everywhere.
Here the same class (``track_index``, ``bin_index``, ``head``, ``seq_length``,
``predict``) runs a creme-fast export (``creme-fast export``, through
:class:`~creme_fast.runtime.OnnxPredictor`) or a local enformer-pytorch
checkpoint (through PyTorch, ``torch.inference_mode``). The model comes from
``model_path=`` or, so that creme-nn code runs unchanged, from the
``CREME_FAST_ENFORMER`` environment variable.

Deliberate differences from creme-nn 0.2.5
-------------------------------------------
- The weights are enformer-pytorch's, which take 196,608 bp directly; creme-nn's
  TF-Hub wrapper pads the same 196,608 bp to 393,216 with zeros. Predictions
  are close to, not equal to, the TF-Hub model's.
- ``predict(x, batch_size=None)`` runs the batch it is given in one call
  (creme-nn: one sequence at a time by default); pass ``batch_size`` to split it.
  Predictions are float32.
- An export pruned to some tracks or bins answers only those: asking for
  another (``track_index``, ``bin_index``, or ``bin_index=None`` for every bin)
  raises ``ValueError`` naming what the export keeps. ``track_index`` and
  ``bin_index`` index the full head and the full output, as in creme-nn.
- N rows of four 0.25 reach an export with one-hot input as they are; an
  export with token input (``--input tokens``) sees every N as an all-zero row.
- ``contribution_input_grad`` runs on a local enformer-pytorch checkpoint (PyTorch
  autograd); an ONNX export gives no gradients and raises naming that. It takes
  the model's own length, or the paper's input padded to twice it (the TF-Hub
  wrapper's length), whose padding the model does not see: there the result is 0
  (grad x input of a zero row is 0 in either). It returns an :class:`Attribution`,
  a float32 numpy array that also has the ``.numpy()`` of the ``tf.Tensor``
  creme-nn returns (the paper's scripts call it), and pickles as a plain array.
- ``Enformer()`` with no ``track_index`` on an export pruned to some tracks
  refuses, and the message gives the re-export command.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.compat.borzoi import Borzoi
from creme_fast.compat.encoding import decode_one_hot
from creme_fast.compat.selection import kept_positions

log = logging.getLogger(__name__)

__all__ = ["ENV_VAR", "Attribution", "Borzoi", "Enformer", "ModelBase"]

#: Where ``Enformer()`` looks for its model when ``model_path`` is not given.
ENV_VAR = "CREME_FAST_ENFORMER"
_PUBLISHED_LENGTH = 196_608


class Attribution(np.ndarray):
    """A numpy array with ``.numpy()``, as the ``tf.Tensor`` creme-nn's
    ``contribution_input_grad`` returns; slices keep it, pickles drop it."""

    def numpy(self) -> np.ndarray:
        """The values as a plain ``numpy.ndarray``."""
        return self.view(np.ndarray)

    def __reduce__(self) -> Any:
        return self.view(np.ndarray).__reduce__()


class ModelBase:
    """creme-nn's model interface: ``predict(x)`` on ``(N, L, 4)`` or ``(L, 4)`` one-hot."""

    seq_length: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _as_list(value: int | Sequence[int] | None) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [int(v) for v in value]


class Enformer(ModelBase):
    """Enformer with creme-nn's wrapper interface, on a creme-fast export or a local checkpoint.

    Parameters
    ----------
    track_index : int or list of int, optional
        Head tracks to return (e.g. 5111, CAGE K562); default all. An attribute:
        change it between calls as creme-nn's tutorials do.
    bin_index : int or list of int, optional
        Output bins to return (e.g. ``[447, 448]``); default all. An attribute too.
        An int given here becomes a one-element list (as creme-nn); an int set
        as an attribute later drops that axis, as numpy indexing (and creme-nn) does.
    head : {"human", "mouse"}, default="human"
    model_path : str or pathlib.Path, optional
        A creme-fast ``.onnx`` export, or an enformer-pytorch checkpoint (a
        ``save_pretrained`` directory, ``.safetensors`` or a torch state dict;
        needs ``creme-fast[export]``). Default: ``$CREME_FAST_ENFORMER``.
    seq_length : int, optional
        Input length of a checkpoint (default 196,608); an export records its own.
    providers : str or list of str, optional
        ONNX Runtime providers for an export (see ``OnnxPredictor``).

    Attributes
    ----------
    seq_length : int
    target_length : int
        Bins of the full output.
    predictor : OnnxPredictor or TorchPredictor
    """

    def __init__(self, track_index: int | Sequence[int] | None = None,
                 bin_index: int | Sequence[int] | None = None, head: str = "human", *,
                 model_path: str | Path | None = None, seq_length: int | None = None,
                 providers: str | list[str] | None = None) -> None:
        path = model_path if model_path is not None else os.environ.get(ENV_VAR)
        if not path:
            raise ValueError("Enformer needs a model: TF-Hub is not used. Pass model_path= (a "
                             "creme-fast .onnx export or a local enformer-pytorch checkpoint) "
                             f"or set {ENV_VAR}")
        self.path = Path(path)
        self.head = head
        self.track_index = _as_list(track_index)
        self.bin_index = _as_list(bin_index)
        if self.path.suffix == ".onnx":
            self._open_export(seq_length, providers)
        else:
            self._open_checkpoint(seq_length)
        self._select(self.track_index, self._tracks, self._n_tracks, "track_index", "track")
        self._select(self.bin_index, self._bins, self.target_length, "bin_index", "bin")

    def _open_export(self, seq_length: int | None, providers: str | list[str] | None) -> None:
        from creme_fast.runtime.ort import OnnxPredictor

        self.predictor = OnnxPredictor(self.path, providers=providers)
        meta = self.predictor.metadata
        if meta is None:
            raise ValueError(f"{self.path}: not a creme-fast export (no creme_fast metadata), "
                             "so its tracks and bins are unknown; export it with "
                             "`creme-fast export`")
        if meta.head is not None and meta.head != self.head:
            raise ValueError(f"{self.path}: exported with head {meta.head!r}, not {self.head!r}")
        if meta.bin_reduce != "none":
            raise ValueError(f"{self.path}: the export averages its bins inside the graph "
                             f"(bin_reduce={meta.bin_reduce!r}); export it without that")
        if seq_length is not None and int(seq_length) != meta.seq_length:
            raise ValueError(f"seq_length={seq_length} but {self.path} takes "
                             f"{meta.seq_length:,} bp")
        self.seq_length = meta.seq_length
        self._meta = meta
        self._tracks, self._bins = meta.tracks, meta.bins
        self._n_tracks = int(meta.extra.get("head_tracks", meta.n_tracks))
        self.target_length = int(meta.extra.get("model_bins", meta.n_bins))

    def _open_checkpoint(self, seq_length: int | None) -> None:
        from creme_fast.export.checkpoint import checkpoint_settings, load_enformer
        from creme_fast.export.modules import EnformerBody, enformer_output_bins
        from creme_fast.export.positional import apply_tf_gamma, resolve_tf_gamma
        from creme_fast.runtime.torch_backend import TorchPredictor

        self.seq_length = int(seq_length or _PUBLISHED_LENGTH)
        # the same decision as creme-fast export: TF gammas for the published weights
        choice = resolve_tf_gamma(checkpoint_settings(self.path, None), self.seq_length)
        log.info("%s: positional features: %s", self.path, choice.reason)
        model = load_enformer(self.path)
        apply_tf_gamma(model, choice)
        self.predictor = TorchPredictor(EnformerBody(model, self.head),
                                        seq_length=self.seq_length, name=str(self.path))
        self._tracks = self._bins = None
        self._meta = None
        self._n_tracks = int(model.heads[self.head][0].out_features)
        self.target_length = enformer_output_bins(self.seq_length, model.config.target_length,
                                                  model.config.num_downsamples)

    def _export_command(self, every: str) -> str:
        """The ``creme-fast export`` command that makes this export with every ``every``
        (``"bin"`` or ``"track"``), keeping its other selection and input kind."""
        meta = self._meta
        extra = meta.extra if meta is not None else {}
        source = extra.get("source")
        source = source if source and source != "Enformer" else "CHECKPOINT"
        out = self.path.with_name(f"{self.path.stem}.all{every}s.onnx")
        parts = ["creme-fast export", f"--checkpoint {source}", f"--out {out}"]
        if meta is not None:
            if meta.seq_length != _PUBLISHED_LENGTH:
                parts.append(f"--seq-length {meta.seq_length}")
            if every != "track" and meta.tracks is not None:
                parts.append("--tracks " + ",".join(map(str, meta.tracks)))
            if every != "bin" and meta.bins is not None:
                parts.append("--bins " + ",".join(map(str, meta.bins)))
            parts.append(f"--input {meta.input_kind}")
        return " ".join(parts)

    def _select(self, wanted: list[int] | None, kept: list[int] | None, size: int, name: str,
                what: str) -> Any:
        """Positions in the backend's output of the wanted tracks/bins."""
        how = (f"make an export with every bin: {self._export_command(what)}"
               if what == "bin" else
               f"re-export every track: creme-fast export --checkpoint CHECKPOINT "
               f"--out {self.path} --seq-length {self.seq_length}")
        return kept_positions(wanted, kept, size, name, what, self.path.name, how)

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Predictions for one-hot sequences.

        Parameters
        ----------
        x : numpy.ndarray, shape=(N, L, 4) or (L, 4)
            One-hot; N as all-zero or 0.25 rows.
        batch_size : int, optional
            Sequences per backend call; default all of ``x`` at once.

        Returns
        -------
        numpy.ndarray of float32, shape=(N, bins, tracks)
            ``bins`` and ``tracks`` as ``bin_index`` and ``track_index`` select (an
            int attribute drops its axis).
        """
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[np.newaxis]
        if x.ndim != 3 or x.shape[1:] != (self.seq_length, 4):
            raise ValueError(f"x must be one-hot ({self.seq_length}, 4) or (N, "
                             f"{self.seq_length}, 4) for this model, got {x.shape}")
        tracks = self._select(_as_list(self.track_index), self._tracks, self._n_tracks,
                              "track_index", "track")
        bins = self._select(_as_list(self.bin_index), self._bins, self.target_length,
                            "bin_index", "bin")
        if x.shape[0] == 0:
            raise ValueError("x holds no sequences")
        if self.predictor.input_kind == "tokens":
            batch = decode_one_hot(x)[0]
        else:
            batch = np.ascontiguousarray(x, dtype=np.float32)
        step = len(batch) if not batch_size else int(batch_size)
        preds = np.concatenate([self.predictor.predict(batch[i:i + step])
                                for i in range(0, len(batch), step)])
        preds = preds[:, bins][:, :, tracks]
        # an int set as an attribute after construction indexes as numpy (creme-nn) does
        if isinstance(self.track_index, (int, np.integer)):
            preds = preds[:, :, 0]
        if isinstance(self.bin_index, (int, np.integer)):
            preds = preds[:, 0]
        return np.ascontiguousarray(preds)

    def contribution_input_grad(self, x: np.ndarray, target_mask: np.ndarray,
                                head: str | None = None, mult_by_input: bool = True) -> Any:
        """Gradient (times input) of the masked mean output, on the model's input.

        The target is ``sum(target_mask * prediction) / sum(target_mask)`` over the
        full head output (every bin and track, whatever ``bin_index`` and
        ``track_index`` select), as creme-nn's.

        Parameters
        ----------
        x : numpy.ndarray, shape=(1, L, 4) or (L, 4)
            One-hot; ``L`` is ``seq_length``, or ``2 * seq_length`` for the paper's
            input (``seq_length // 2`` zero rows on each side, as creme-nn's TF-Hub
            model takes), whose padding the model does not see.
        target_mask : numpy.ndarray, shape=(target_length, n_tracks)
            Weights of the full output (e.g. 1 at bins 447-448 of one track).
        head : str, optional
            Must be this model's ``head`` (the default).
        mult_by_input : bool, default=True
            Multiply by ``x`` and sum over the 4 bases.

        Returns
        -------
        Attribution of float32
            ``(L,)`` with ``mult_by_input``, else the gradient ``(1, L, 4)``; 0 on
            the padding of a padded input.

        Raises
        ------
        ValueError
            The model is an ONNX export (no gradients), or a shape is wrong.
        """
        if not hasattr(self.predictor, "module"):
            raise ValueError(f"contribution_input_grad needs gradients, which ONNX Runtime "
                             f"does not give: {self.path.name} is an export. Open a local "
                             "enformer-pytorch checkpoint instead (model_path= a save_pretrained "
                             "directory, .safetensors or torch state dict; needs "
                             "creme-fast[export])")
        if head is not None and head != self.head:
            raise ValueError(f"head={head!r} but this model runs head {self.head!r}; open it "
                             f"with Enformer(head={head!r})")
        x = np.asarray(x)
        x = x[np.newaxis] if x.ndim == 2 else x
        length = self.seq_length
        if x.ndim != 3 or x.shape[0] != 1 or x.shape[1] not in (length, 2 * length) \
                or x.shape[2] != 4:
            raise ValueError(f"x must be one-hot (1, {length}, 4), or the paper's padded "
                             f"(1, {2 * length}, 4), got {x.shape}")
        full = (self.target_length, self._n_tracks)
        mask = np.asarray(target_mask, dtype=np.float32)
        if mask.shape != full:
            raise ValueError(f"target_mask must cover the full output {full} (bins, tracks), "
                             f"got {mask.shape}")
        if not mask.sum():
            raise ValueError("target_mask is all zero: it selects no output")
        import torch  # a checkpoint is open, so torch is installed

        pad = (x.shape[1] - length) // 2
        module = self.predictor.module
        param = next(module.parameters())
        inputs = torch.tensor(np.ascontiguousarray(x[:, pad:pad + length], dtype=np.float32),
                              device=param.device, dtype=param.dtype, requires_grad=True)
        weights = torch.from_numpy(mask).to(device=param.device, dtype=param.dtype)
        with torch.enable_grad():
            target = (module(inputs) * weights).sum() / weights.sum()
            (grad,) = torch.autograd.grad(target, inputs)
        grad = np.pad(grad.detach().float().cpu().numpy(), ((0, 0), (pad, pad), (0, 0)))
        if mult_by_input:
            grad = (grad * np.asarray(x, dtype=np.float32)).sum(-1)[0]
        return grad.astype(np.float32, copy=False).view(Attribution)

    def __repr__(self) -> str:
        return (f"Enformer({str(self.path)!r}, head={self.head!r}, track_index="
                f"{self.track_index}, bin_index={self.bin_index})")
