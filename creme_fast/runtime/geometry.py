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

    def changed_rows(self, diff: np.ndarray) -> np.ndarray:
        """Boolean mask ``(rows,)`` of the rows whose receptive field holds a True of ``diff``.

        Parameters
        ----------
        diff : numpy.ndarray of bool, shape=(L,)
            Where a mutant differs from its parent.
        """
        pos = np.flatnonzero(diff)
        mask = np.zeros(self.rows, dtype=bool)
        if pos.size == 0:
            return mask
        # row r changes iff r*stride - left <= p < (r+1)*stride + right for some p
        lo = np.maximum((pos - self.right - self.stride) // self.stride + 1, 0)
        hi = np.minimum((pos + self.left) // self.stride + 1, self.rows)
        delta = np.zeros(self.rows + 1, dtype=np.int64)
        np.add.at(delta, lo, 1)
        np.add.at(delta, hi, -1)
        mask[:] = np.cumsum(delta[:-1]) > 0
        return mask

    def window(self, row_lo: int, row_hi: int) -> tuple[int, int]:
        """The aligned input window ``[w0, w1)`` that computes rows ``[row_lo, row_hi)`` exactly."""
        s = self.stride
        w0 = max(0, (row_lo * s - self.left) // s * s)
        w1 = min(self.seq_length, -(-(row_hi * s + self.right) // s) * s)
        return w0, w1

    def segments(self, changed: np.ndarray, *, gap: int | None = None) -> np.ndarray:
        """Runs of changed rows ``(n, 2)`` (``[lo, hi)``), merging runs whose windows overlap.

        Two runs closer than ``gap`` rows (default: the halo in rows, where two
        windows would overlap anyway) become one.
        """
        idx = np.flatnonzero(changed)
        if idx.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        if gap is None:
            gap = 2 * (-(-(self.left + self.right) // self.stride)) + 1
        breaks = np.flatnonzero(np.diff(idx) > gap)
        starts = np.r_[idx[0], idx[breaks + 1]]
        ends = np.r_[idx[breaks], idx[-1]] + 1
        return np.stack([starts, ends], axis=1).astype(np.int64)


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
