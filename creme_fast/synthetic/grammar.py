"""The written-down regulatory rules of the synthetic ground-truth model.

Every rule is visible to one CREME test, so every test has a known right answer:

- a core **promoter** motif near the centre gives the TSS its intrinsic activity
  (a multiplier: without it there is no expression);
- **enhancer** motifs add to the drive and **silencer** motifs multiply it by
  ``exp(-sigma * n)``; both are weighted by a distance kernel
  ``exp(-|d| / decay_bp)`` from the TSS (distance test);
- **cell-type specificity**: each track reads its own enhancer motifs
  (``enh_A`` track 0, ``enh_B`` track 1, ``enh_U`` every track);
- a **cooperative** pair (``coop_1``/``coop_2``): a small solo effect each plus a
  synergy term ``v * tanh(a n1) * tanh(a n2)`` (the pair contributes more than the
  sum of its parts: super-additive);
- a **redundant** pair (``red_1``/``red_2``): one saturating term
  ``r * tanh(b (n1 + n2))`` (either element alone does most of the job:
  sub-additive);
- a smooth **ceiling**: activity ``C s / (1 + s^4)^(1/4)`` with ``s = drive / C``, so
  added copies of an enhancer saturate at ``C`` (multiplicity test).

Motifs are exact 16-mers (an accidental match in a shuffled 196 kb background
is rare: about 1e-3 per background for all motifs together) scanned on both strands. Counts are kernel-weighted
sums over occurrences, so the whole model is smooth in the counts and
non-negative. :func:`combine` is written once for NumPy and PyTorch alike (the
exported graph and the recovery tests use the same formula).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from creme_fast.sequence.tokens import encode, reverse_complement

__all__ = ["DEFAULT_GRAMMAR", "MOTIF_LENGTH", "Grammar", "combine", "kmer_keys", "motif_keys"]

MOTIF_LENGTH = 16
# k-mer keys are base-5 numbers of the digits A=1, C=2, G=3, T=4 (N=0 never
# appears in a motif, so a window holding N never matches)
_DIGIT = np.array([1, 2, 3, 4, 0], dtype=np.int64)


def kmer_keys(tokens: np.ndarray, k: int = MOTIF_LENGTH) -> np.ndarray:
    """Base-5 key of every k-mer start: ``(..., L) -> (..., L - k + 1)`` int64."""
    digits = _DIGIT[np.asarray(tokens)]
    n = digits.shape[-1] - k + 1
    if n <= 0:
        return np.zeros(digits.shape[:-1] + (0,), dtype=np.int64)
    key = np.zeros(digits.shape[:-1] + (n,), dtype=np.int64)
    for j in range(k):  # k steps of Horner's rule, each vectorised over positions
        key = key * 5 + digits[..., j:j + n]
    return key


def motif_strands(motifs: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens ``(2 * n_motifs, MOTIF_LENGTH)`` of every motif on both strands, and the
    motif index of each row."""
    fwd = [encode(seq) for seq in motifs.values()]
    strands = np.stack([s for f in fwd for s in (f, reverse_complement(f))])
    return strands, np.repeat(np.arange(len(fwd), dtype=np.int64), 2)


def motif_keys(motifs: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Keys of every motif on both strands and the motif index each key counts for."""
    strands, index = motif_strands(motifs)
    return kmer_keys(strands)[:, 0], index


@dataclass(frozen=True)
class Grammar:
    """Motifs and weights of the synthetic model (see the module docstring).

    Attributes
    ----------
    motifs : dict of str to str
        Name -> 16-mer (forward strand). Order fixes the count vector's columns.
    tracks : tuple of str
        Output track names (cell types).
    enhancer_weight : dict of str to tuple of float
        Per-track linear weight of each additive motif (enhancers and the
        cooperative pair's solo effect).
    coop_synergy, coop_slope : float
        ``v`` and ``a`` of the cooperative term (same on every track).
    redundant_weight, redundant_slope : float
        ``r`` and ``b`` of the redundant term.
    silencer_strength : float
        ``sigma``.
    basal : float
        Drive of the promoter alone.
    ceiling : float
        ``C``, the activity no number of enhancers can exceed.
    decay_bp : float
        Distance kernel length for enhancers and silencers.
    promoter_width_bp : float
        Width of the Gaussian window around the centre that reads the promoter.
    seq_length, bin_size, n_bins : int
        Enformer's geometry: 196,608 bp in, 896 bins of 128 bp out.
    tss_bins : tuple of int
        The two bins either side of the centre, where the profile is 1.
    profile_width_bins : float
        Gaussian width of the output profile beyond the TSS bins.
    """

    motifs: dict[str, str] = field(default_factory=lambda: {
        "promoter": "CTATAAAAGGCGCCGA",
        "enh_A": "AGATAAGGCTGATAAC",
        "enh_B": "GGTCAAAGGTCACGTA",
        "enh_U": "ATGACTCATCGCAGTC",
        "silencer": "TTCAGCACCATGGACA",
        "coop_1": "CACGTGACCTGACGGT",
        "coop_2": "CCAATCAGCGATTGCA",
        "red_1": "GGGACTTTCCAGCGTA",
        "red_2": "TGCGCATGCGACTTAG",
    })
    tracks: tuple[str, ...] = ("cell_A", "cell_B", "cell_C")
    enhancer_weight: dict[str, tuple[float, ...]] = field(default_factory=lambda: {
        "enh_A": (4.0, 0.0, 0.0),
        "enh_B": (0.0, 6.0, 0.0),
        "enh_U": (8.0, 8.0, 8.0),
        "coop_1": (1.0, 1.0, 1.0),
        "coop_2": (1.0, 1.0, 1.0),
    })
    coop_synergy: float = 6.0
    coop_slope: float = 2.0
    redundant_weight: float = 6.0
    redundant_slope: float = 1.5
    silencer_strength: float = 1.0
    basal: float = 0.05
    ceiling: float = 20.0
    decay_bp: float = 40_000.0
    promoter_width_bp: float = 200.0
    seq_length: int = 196_608
    bin_size: int = 128
    n_bins: int = 896
    tss_bins: tuple[int, int] = (447, 448)
    profile_width_bins: float = 1.5

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    def index(self, motif: str) -> int:
        """Column of ``motif`` in the count vector."""
        names = list(self.motifs)
        if motif not in names:
            raise ValueError(f"unknown motif {motif!r}; the grammar has {', '.join(names)}")
        return names.index(motif)

    def weights(self) -> dict[str, np.ndarray]:
        """The numeric parameters :func:`combine` takes (float32 arrays)."""
        linear = np.zeros((len(self.motifs), self.n_tracks), dtype=np.float32)
        for name, per_track in self.enhancer_weight.items():
            linear[self.index(name)] = per_track
        return {"linear": linear,
                "scalars": np.array([self.coop_synergy, self.coop_slope, self.redundant_weight,
                                     self.redundant_slope, self.silencer_strength, self.basal,
                                     self.ceiling], dtype=np.float32)}

    def kernel(self, distance_bp: Any) -> np.ndarray:
        """Distance kernel ``exp(-|d| / decay_bp)`` of enhancers and silencers."""
        return np.exp(-np.abs(np.asarray(distance_bp, dtype=np.float64)) / self.decay_bp)

    def promoter_kernel(self, distance_bp: Any) -> np.ndarray:
        """Gaussian window ``exp(-(d / w)^2)`` that reads the promoter."""
        d = np.asarray(distance_bp, dtype=np.float64) / self.promoter_width_bp
        return np.exp(-d * d)

    @property
    def promoter_start(self) -> int:
        """Where the promoter motif starts in a locus (centred on the sequence)."""
        return self.seq_length // 2 - MOTIF_LENGTH // 2

    def motif_center_offset(self, start: Any) -> np.ndarray:
        """Distance from the sequence centre of a motif starting at ``start``."""
        return np.asarray(start, dtype=np.float64) + (MOTIF_LENGTH - 1) / 2 - self.seq_length / 2

    def profile(self) -> np.ndarray:
        """Output profile over bins: 1 on the TSS bins, a Gaussian shoulder beyond."""
        bins = np.arange(self.n_bins, dtype=np.float64)
        lo, hi = self.tss_bins
        gap = np.maximum(np.maximum(lo - bins, bins - hi), 0.0) / self.profile_width_bins
        return np.exp(-0.5 * gap * gap).astype(np.float32)

    def counts(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kernel-weighted motif counts of sequences (NumPy reference of the graph).

        Returns ``(counts (..., n_motifs), promoter (...,))``.
        """
        keys, index = motif_keys(self.motifs)
        kmers = kmer_keys(tokens)
        dist = self.motif_center_offset(np.arange(kmers.shape[-1]))
        hit = kmers[..., None] == keys  # (..., positions, keys)
        per_key = np.einsum("...pk,p->...k", hit, self.kernel(dist))
        counts = np.zeros(per_key.shape[:-1] + (len(self.motifs),))
        np.add.at(counts.T, index, np.moveaxis(per_key, -1, 0))
        prom = self.index("promoter")
        promoter = np.einsum("...pk,p->...", hit[..., index == prom],
                             self.promoter_kernel(dist))
        return counts, promoter

    def activity(self, counts: np.ndarray, promoter: np.ndarray) -> np.ndarray:
        """TSS activity per track from counts (the model's read-out, NumPy)."""
        return combine(np.asarray(counts, dtype=np.float64),
                       np.asarray(promoter, dtype=np.float64),
                       {k: v.astype(np.float64) for k, v in self.weights().items()},
                       self, np)


def combine(counts: Any, promoter: Any, weights: dict[str, Any], grammar: Grammar,
            xp: Any) -> Any:
    """Counts to TSS activity, for NumPy (``xp=numpy``) and PyTorch (``xp=torch``).

    Parameters
    ----------
    counts : array (..., n_motifs)
        Kernel-weighted counts of every motif.
    promoter : array (...,)
        Promoter count under the promoter window.
    weights : dict
        :meth:`Grammar.weights`, as arrays of ``xp``.
    grammar : Grammar
        Column layout.
    xp : module
        ``numpy`` or ``torch``.

    Returns
    -------
    array (..., n_tracks)
    """
    synergy, a, red_w, b, sigma, basal, ceiling = (weights["scalars"][i] for i in range(7))

    def col(name: str) -> Any:
        return counts[..., grammar.index(name)]

    linear = counts @ weights["linear"]
    coop = synergy * xp.tanh(a * col("coop_1")) * xp.tanh(a * col("coop_2"))
    redundant = red_w * xp.tanh(b * (col("red_1") + col("red_2")))
    silence = xp.exp(-sigma * col("silencer"))
    drive = (xp.tanh(2.0 * promoter) * silence)[..., None] * (
        basal + linear + (coop + redundant)[..., None])
    s = drive / ceiling
    return ceiling * s / (1.0 + s ** 4) ** 0.25


DEFAULT_GRAMMAR = Grammar()
