"""The synthetic ground-truth model as a PyTorch module, and its export.

The rules live in :mod:`creme_fast.synthetic.grammar`; this module only scans
for motifs and calls the shared :func:`~creme_fast.synthetic.grammar.combine`.
Scanning is O(L) with small constants (no convolution over motifs): every
12-mer becomes a base-5 integer key by Horner's rule, one modular lookup table
maps keys to motifs, and a scatter-add sums the distance kernel per motif.

Re-create the shipped graph with::

    python -m creme_fast.export.synthetic creme_fast/data/synthetic.onnx
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from creme_fast.synthetic.grammar import (
    DEFAULT_GRAMMAR,
    MOTIF_LENGTH,
    Grammar,
    combine,
    motif_strands,
)

__all__ = ["SyntheticModel", "export_synthetic", "synthetic_metadata"]

log = logging.getLogger(__name__)


_N_DIGIT = float(2 ** 32)  # above every motif key: a window holding N never matches
_PROMOTER_REACH = 1024  # the promoter window is negligible (< e^-26) beyond this


def _lookup_size(keys: np.ndarray) -> int:
    """Smallest table size >= 64 under which every key has its own slot."""
    size = 64
    while len(set((keys % size).tolist())) < len(keys):
        size += 1
    return size


def _base4_keys(motifs: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Base-4 keys (A=0 .. T=3, first base least significant) of both strands."""
    strands, index = motif_strands(motifs)
    return strands.astype(np.int64) @ (4 ** np.arange(MOTIF_LENGTH, dtype=np.int64)), index


class SyntheticModel(nn.Module):
    """Tokens ``(B, L)`` (or one-hot ``(B, L, 4)``) -> ``(B, n_bins, n_tracks)``.

    A 16-mer's key ``sum_j t_j 4^j`` is below 2**32, so float64 computes it
    exactly (four doubling steps of Horner's rule); a window holding N gets a
    key of at least 2**32 and so never matches.
    """

    accepts_tokens = True

    def __init__(self, grammar: Grammar = DEFAULT_GRAMMAR) -> None:
        super().__init__()
        self.grammar = grammar
        keys, motif_of_key = _base4_keys(grammar.motifs)
        size = _lookup_size(keys)
        table_key = np.full(size, -1.0, dtype=np.float64)  # -1: an empty slot
        table_key[keys % size] = keys
        to_motif = np.zeros((size, len(grammar.motifs)), dtype=np.float32)
        to_motif[keys % size, motif_of_key] = 1.0
        n = grammar.seq_length - MOTIF_LENGTH + 1
        dist = grammar.motif_center_offset(np.arange(n))
        centre = int(np.argmin(np.abs(dist)))
        lo, hi = max(centre - _PROMOTER_REACH, 0), min(centre + _PROMOTER_REACH, n)
        self.size, self.window = size, (lo, hi)
        buffers = {
            "table_key": torch.from_numpy(table_key),
            "to_motif": torch.from_numpy(to_motif),
            "is_promoter": torch.from_numpy(to_motif[:, grammar.index("promoter")].copy()),
            "kernel": torch.from_numpy(grammar.kernel(dist).astype(np.float32)),
            "promoter_kernel": torch.from_numpy(
                grammar.promoter_kernel(dist[lo:hi]).astype(np.float32)),
            "profile": torch.from_numpy(grammar.profile()),
            "onehot_digit": torch.tensor([0.0, 1.0, 2.0, 3.0]),
            "n_offset": torch.tensor(_N_DIGIT - 4.0, dtype=torch.float64),
            "onehot_n": torch.tensor(_N_DIGIT, dtype=torch.float64),
        }
        buffers.update({f"w_{k}": torch.from_numpy(v) for k, v in grammar.weights().items()})
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    def _digits(self, x: torch.Tensor) -> torch.Tensor:
        """float64 digits: A..T -> 0..3, N (or an all-zero one-hot row) -> 2**32."""
        if x.dim() == 2:
            t = x.to(torch.float64)
            return t + (t > 3.0).to(torch.float64) * self.n_offset
        x = x.to(torch.float32)
        digit = (x * self.onehot_digit).sum(-1).to(torch.float64)
        return digit + (1.0 - x.sum(-1)).to(torch.float64) * self.onehot_n

    def motif_counts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kernel-weighted counts ``(B, n_motifs)`` and promoter count ``(B,)``."""
        d = self._digits(x)
        k2 = d[:, :-1] + 4.0 * d[:, 1:]
        k4 = k2[:, :-2] + 16.0 * k2[:, 2:]
        k8 = k4[:, :-4] + 256.0 * k4[:, 4:]
        n = d.shape[1] - MOTIF_LENGTH + 1
        key = (k8[:, :n] + 65536.0 * k8[:, 8:8 + n]).clamp(max=_N_DIGIT)
        slot = torch.remainder(key, float(self.size)).to(torch.int64)
        # every motif key has a slot of its own: a hit is a window whose key is
        # the one its slot holds, and counts are summed per slot
        weight = (self.table_key[slot] == key).to(torch.float32)
        batch = d.shape[0]
        zeros = torch.zeros(batch, self.size, dtype=torch.float32, device=d.device)
        per_slot = zeros.scatter_add(1, slot, weight * self.kernel)
        lo, hi = self.window
        near = zeros.scatter_add(1, slot[:, lo:hi], weight[:, lo:hi] * self.promoter_kernel)
        return per_slot @ self.to_motif, near @ self.is_promoter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts, promoter = self.motif_counts(x)
        weights = {"linear": self.w_linear, "scalars": self.w_scalars}
        act = combine(counts, promoter, weights, self.grammar, torch)
        return act[:, None, :] * self.profile[None, :, None]


def synthetic_metadata(grammar: Grammar = DEFAULT_GRAMMAR) -> dict[str, Any]:
    """What the graph's metadata records about its grammar (for reading it back)."""
    return {"track_names": list(grammar.tracks), "tss_bins": list(grammar.tss_bins),
            "motifs": dict(grammar.motifs), "ceiling": grammar.ceiling,
            "decay_bp": grammar.decay_bp}


def export_synthetic(out: str | Path, *, grammar: Grammar = DEFAULT_GRAMMAR,
                     **options: Any) -> Any:
    """Export the synthetic model as a token-input graph (verified against PyTorch).

    Parameters
    ----------
    out : str or Path
    grammar : Grammar, default=DEFAULT_GRAMMAR
    **options
        Passed to :func:`creme_fast.export.export_module`.

    Returns
    -------
    ExportResult
    """
    from creme_fast.export.core import export_module

    from creme_fast.synthetic.loci import generate_loci

    module = SyntheticModel(grammar).eval()
    options.setdefault("input_kind", "tokens")
    if "verify_tokens" not in options:  # sequences that hold every motif, and an N run
        tokens = generate_loci(grammar).tokens.copy()
        tokens[1, 1000:1100] = 4
        options["verify_tokens"] = tokens
    return export_module(module, out, seq_length=grammar.seq_length, model_name="synthetic",
                         extra=synthetic_metadata(grammar), **options)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m creme_fast.export.synthetic OUT``: write the shipped graph."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    export_synthetic(args.out)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
