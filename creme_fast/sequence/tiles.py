"""Tile layouts: the TSS tile and the non-overlapping tiles that fit beside it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from creme_fast._validate import check_int

__all__ = ["TileLayout", "tile_layout"]


@dataclass(frozen=True)
class TileLayout:
    """Tiles of a sequence.

    Attributes
    ----------
    tss : tuple of int
        ``(start, end)`` of the tile centred on the midpoint.
    tiles : numpy.ndarray of int64, shape=(n_tiles, 2)
        The other tiles, left to right, ``[start, end)``.
    """

    tss: tuple[int, int]
    tiles: np.ndarray

    @property
    def n_tiles(self) -> int:
        return int(self.tiles.shape[0])


def tile_layout(length: int, tile_size: int = 5000) -> TileLayout:
    """The paper's layout (creme-nn's ``set_tile_range``).

    The TSS tile is ``[L // 2 - w // 2, L // 2 - w // 2 + w)``; tiles of width
    ``w`` continue to its left down to the first whole one, and to its right
    while they end strictly before ``L`` (the reference's rule). For
    L = 196,608 and w = 5,000 that is 19 tiles each side, 38 in all.

    Parameters
    ----------
    length : int
    tile_size : int, default=5000

    Returns
    -------
    TileLayout
    """
    length = check_int(length, "length", minimum=1)
    tile_size = check_int(tile_size, "tile_size", minimum=1)
    if tile_size > length:
        raise ValueError(f"tile_size {tile_size} is longer than the sequence ({length})")
    center_start = length // 2 - tile_size // 2
    center_end = center_start + tile_size
    left = np.arange(center_start % tile_size, center_start, tile_size)
    right = np.arange(center_end, length, tile_size)
    right = right[right + tile_size < length]
    starts = np.concatenate([left, right]).astype(np.int64)
    return TileLayout(tss=(int(center_start), int(center_end)),
                      tiles=np.stack([starts, starts + tile_size], axis=1))
