"""Small deterministic models with creme-nn's interface (``predict``, ``seq_length``)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class ConvToy:
    """One-hot (B, L, 4) -> (B, L // bin_size, tracks): random filters, ReLU, pooling.

    Row-independent and deterministic, so batched and unbatched predictions are
    identical; non-linear, so every base can matter.
    """

    def __init__(self, seq_length: int = 2000, bin_size: int = 100, tracks: int = 3,
                 width: int = 8, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.seq_length = seq_length
        self.bin_size = bin_size
        self.filters = rng.normal(size=(width, 4, 6)).astype(np.float64)
        self.mix = rng.normal(size=(6, tracks)) * 0.5
        self.calls = 0

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            x = x[np.newaxis]
        windows = sliding_window_view(x, self.filters.shape[0], axis=1)  # (B, L-w+1, 4, w)
        act = np.maximum(np.einsum("blcw,wcf->blf", windows, self.filters), 0.0)
        act = np.pad(act, ((0, 0), (0, x.shape[1] - act.shape[1]), (0, 0)))
        pooled = act.reshape(x.shape[0], -1, self.bin_size, act.shape[-1]).mean(axis=2)
        return np.log1p(np.exp(pooled @ self.mix)) + 0.1
