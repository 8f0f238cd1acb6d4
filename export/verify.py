"""Compare an ONNX graph with the PyTorch module it came from."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Verification", "compare_outputs", "verification_inputs"]


@dataclass(frozen=True)
class Verification:
    """Result of comparing ONNX Runtime outputs with PyTorch's.

    Attributes
    ----------
    max_abs, max_rel : float
        Largest absolute difference, and largest ``|ort - torch| / |torch|``
        over elements with ``|torch| > atol``.
    atol, rtol : float
        Tolerances: every element must satisfy ``|ort - torch| <= atol + rtol * |torch|``.
    n_failed : int
        Elements outside the tolerance.
    worst_index : tuple of int
        Where the largest violation (or difference) is.
    batch : int
        Batch size compared.
    """

    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    n_failed: int
    worst_index: tuple[int, ...]
    batch: int

    @property
    def ok(self) -> bool:
        """All elements within tolerance (and no NaN)."""
        return self.n_failed == 0

    def as_dict(self) -> dict:
        """Plain-JSON form for the metadata."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        """One line for logs and errors."""
        return (f"max |ort - torch| = {self.max_abs:.3g}, max relative = {self.max_rel:.3g} "
                f"(atol {self.atol:g}, rtol {self.rtol:g}; {self.n_failed} element(s) outside, "
                f"worst at {self.worst_index}, batch {self.batch})")


def compare_outputs(ort_out: np.ndarray, torch_out: np.ndarray, *, atol: float,
                    rtol: float) -> Verification:
    """Compare every element; NaN anywhere counts as a failure."""
    if ort_out.shape != torch_out.shape:
        raise ValueError(f"ONNX output shape {ort_out.shape} differs from PyTorch's "
                         f"{torch_out.shape}")
    a = ort_out.astype(np.float64)
    b = torch_out.astype(np.float64)
    diff = np.abs(a - b)
    diff[np.isnan(a) | np.isnan(b)] = np.inf
    excess = diff - (atol + rtol * np.abs(b))
    significant = np.abs(b) > atol
    rel = np.where(significant, diff / np.where(significant, np.abs(b), 1.0), 0.0)
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
    return Verification(max_abs=float(diff.max(initial=0.0)), max_rel=float(rel.max(initial=0.0)),
                        atol=atol, rtol=rtol, n_failed=int((excess > 0).sum()),
                        worst_index=tuple(int(i) for i in worst), batch=int(a.shape[0]))


def verification_inputs(seq_length: int, batch: int, seed: int = 0) -> np.ndarray:
    """Random token sequences with a run of N, for checking an export."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(batch, seq_length), dtype=np.uint8)
    tokens[:, : max(1, seq_length // 64)] = 4
    return tokens
