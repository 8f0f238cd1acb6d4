"""Which trunk rows an edit changes, and the input windows that recompute them exactly.

A model's convolutional trunk (Enformer: stem + conv tower) is a chain of local
layers: convolutions with ``'same'`` zero padding and poolings. Output row ``r``
of such a chain reads input positions ``[r*stride - left, (r+1)*stride + right)``
and nothing else. :class:`TrunkGeometry` holds those three numbers (derived from
the layers' kernel sizes, strides and paddings by :func:`compose_layers`), so

* the rows a mutant changes follow from the positions where it differs from
  its parent sequence, and
* running the trunk on the window ``[w0, w1)`` (``w0``, ``w1`` multiples of
  ``stride``, so every pooling boundary falls where it does in the full pass)
  reproduces the full pass's rows whose whole receptive field lies inside the
  window; at a sequence edge the window edge *is* the sequence edge, so the
  zero padding is the same as in the full pass.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["TrunkGeometry", "compose_layers"]


@dataclass(frozen=True)
class TrunkGeometry:
    """Receptive field of a local trunk.

    Attributes
    ----------
    stride : int
        Input positions per output row (Enformer: 128).
    left, right : int
        Halo: row ``r`` reads ``[r*stride - left, (r+1)*stride + right)``.
    rows : int
        Output rows of a full-length input.
    channels : int
        Features per row.
    """

    stride: int
    left: int
    right: int
    rows: int
    channels: int

    @property
    def seq_length(self) -> int:
        return self.rows * self.stride

    def as_dict(self) -> dict[str, int]:
        return {"stride": self.stride, "left": self.left, "right": self.right,
                "rows": self.rows, "channels": self.channels}

    def windows(self, tokens: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, ...]:
        """Changed rows of mutants and the windows that recompute them, vectorised.

        Parameters
        ----------
        tokens, parents : numpy.ndarray of uint8, shape=(B, L)
            Each mutant and its parent's sequence.

        Returns
        -------
        (mutant, row_lo, row_hi, w0, w1) : numpy.ndarray of int64
            One entry per run of changed rows, in mutant order: the mutant, rows
            ``[row_lo, row_hi)`` and the aligned input window ``[w0, w1)``.
        """
        s = self.stride
        diff = tokens != parents
        counts = np.zeros((diff.shape[0], diff.shape[1] + 1), dtype=np.int32)
        np.cumsum(diff, axis=1, out=counts[:, 1:])
        r = np.arange(self.rows, dtype=np.int64)
        lo = np.clip(r * s - self.left, 0, diff.shape[1])
        hi = np.clip((r + 1) * s + self.right, 0, diff.shape[1])
        changed = (counts[:, hi] - counts[:, lo]) > 0  # a difference inside row r's field
        edges = np.diff(np.pad(changed.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        mutant, row_lo = np.nonzero(edges == 1)
        _, row_hi = np.nonzero(edges == -1)
        w0 = np.maximum(0, (row_lo * s - self.left) // s * s)
        w1 = np.minimum(self.seq_length, -(-(row_hi * s + self.right) // s) * s)
        return (mutant.astype(np.int64), row_lo.astype(np.int64), row_hi.astype(np.int64),
                w0.astype(np.int64), w1.astype(np.int64))


def compose_layers(layers: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Stride and halo of a chain of local layers.

    Parameters
    ----------
    layers : iterable of (kernel, stride, pad_left)
        In application order. A layer's output ``i`` reads its input
        ``[i*stride - pad_left, i*stride - pad_left + kernel)``.

    Returns
    -------
    (stride, left, right) : tuple of int
        Output row ``r`` of the chain reads input
        ``[r*stride - left, (r+1)*stride + right)``.
    """
    jump, left, right = 1, 0, 0
    for kernel, stride, pad in layers:
        if kernel < 1 or stride < 1 or pad < 0:
            raise ValueError(f"bad layer (kernel={kernel}, stride={stride}, pad={pad})")
        # output i reads layer input [i*s - pad, i*s - pad + k), each of which reads
        # [j*jump - left, (j+1)*jump + right) of the chain's input
        left = pad * jump + left
        right = (kernel - pad - stride) * jump + right
        jump *= stride
    if right < 0 or left < 0:
        raise ValueError("a layer reads less than its stride; not a local trunk")
    return jump, left, right
