"""creme-nn 0.2.5's ``creme.utils``, on creme-fast's parts.

Every helper of the reference's module is here: those its tutorials use (below)
and those the CREME paper's analysis scripts call (``make_dir``,
``save_pickle``/``read_pickle``, ``clean_cell_name``, ``get_summary``,
``get_borzoi_targets``, ``FastaStringExtractor``, ``plot_cdf``,
``convert_pvalue_to_asterisks``, ``grad_times_input_to_df``,
``plot_attribution_map``, ``get_saliency_and_creme_mask_overlap`` and
``plot_one_seq_feature_map``, from :mod:`creme_fast.compat.paper`, whose
docstring lists their differences).

``SequenceParser`` reads FASTA windows through pyfaidx (:class:`creme_fast.io.genome.Genome`),
``one_hot_encode`` writes one-hot with N as ``[0.25, 0.25, 0.25, 0.25]`` (as
creme-nn's kipoiseq encoding), ``plot_track`` draws with matplotlib and
``set_tile_range`` is the compat one.

Deliberate differences from creme-nn 0.2.5
-------------------------------------------
- No kipoiseq: windows are the same intervals (kipoiseq's ``resize`` of
  ``[midpoint, midpoint + 1)``: the midpoint sits at index ``seq_len // 2 - 1``
  for an even length), read through pyfaidx, padded with N past a chromosome end.
- A chromosome missing from the FASTA, or an interval entirely outside it, raises
  :class:`~creme_fast.io.genome.GenomeError` naming it (the reference: a
  ``KeyError`` or a bare "Interval outside chromosome boundaries"); a bad strand
  raises ``ValueError`` (the reference: ``assert``).
- An IUPAC code other than N in the FASTA or in ``one_hot_encode``'s input raises
  naming its position; lowercase (soft-masked) bases are read as bases.
- ``plot_track`` draws on the axes it is given or creates (never on whatever
  ``plt.gca()`` is), and accepts array ``marks``.
- ``plot_attribution_map`` needs logomaker (``pip install logomaker``); nothing else
  here does.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.compat.creme import set_tile_range
from creme_fast.compat.encoding import QUARTER, encode_one_hot
from creme_fast.compat.paper import (
                                     FastaStringExtractor,
                                     clean_cell_name,
                                     convert_pvalue_to_asterisks,
                                     get_borzoi_targets,
                                     get_saliency_and_creme_mask_overlap,
                                     get_summary,
                                     grad_times_input_to_df,
                                     make_dir,
                                     plot_attribution_map,
                                     plot_cdf,
                                     plot_one_seq_feature_map,
                                     read_pickle,
                                     save_pickle,
)
from creme_fast.io.genome import Genome
from creme_fast.sequence.tokens import decode, encode, reverse_complement

__all__ = [
    "FastaStringExtractor", "SequenceParser", "clean_cell_name", "convert_pvalue_to_asterisks",
    "get_borzoi_targets", "get_saliency_and_creme_mask_overlap", "get_summary",
    "grad_times_input_to_df", "make_dir", "one_hot_encode", "plot_attribution_map", "plot_cdf",
    "plot_one_seq_feature_map", "plot_track", "rc_dna", "read_pickle", "save_pickle",
    "set_tile_range",
]


def one_hot_encode(sequence: str) -> np.ndarray:
    """float32 ``(L, 4)`` one-hot of a DNA string, N as a row of four 0.25.

    Raises
    ------
    ValueError
        On a character other than A, C, G, T or N (either case), naming it.
    """
    return encode_one_hot(encode(sequence), QUARTER, np.float32)


def rc_dna(seq: str) -> str:
    """Upper-case reverse complement of a DNA string (``"tatcg"`` -> ``"CGATA"``)."""
    return decode(reverse_complement(encode(seq)))


def _resized(start: int, end: int, width: int) -> tuple[int, int]:
    """``[start, end)`` resized to ``width`` about its centre, as kipoiseq's
    unstranded ``Interval.resize`` (an odd-width centre rounds up)."""
    centre = (start + end) // 2 + (start + end) % 2
    return centre - width // 2 - width % 2, centre + width // 2


class SequenceParser:
    """Model-length windows of a FASTA genome, one-hot or as strings.

    Parameters
    ----------
    fasta_path : str or pathlib.Path
        Plain or bgzip FASTA; its ``.fai`` is built beside it when missing.
    """

    def __init__(self, fasta_path: str | Path) -> None:
        self.genome = Genome(fasta_path)

    def close(self) -> None:
        """Close the FASTA."""
        self.genome.close()

    def _read(self, chrom: str, start: int, end: int, strand: str, onehot: bool) -> Any:
        if strand not in ("+", "-"):
            raise ValueError(f"strand must be '+' or '-', got {strand!r}")
        tokens = self.genome.interval(chrom, int(start), int(end))
        if strand == "-":
            tokens = reverse_complement(tokens)
        return encode_one_hot(tokens, QUARTER, np.float32) if onehot else decode(tokens)

    def extract_seq_centered(self, chrom: str, midpoint: int, strand: str, seq_len: int,
                             onehot: bool = True) -> np.ndarray | str:
        """The ``seq_len`` bp window around ``midpoint`` (0-based), reverse complemented
        on ``-``.

        Parameters
        ----------
        chrom : str
        midpoint : int
            The TSS; it lands at index ``seq_len // 2 - 1`` (even ``seq_len``), on the
            forward strand, as in creme-nn.
        strand : {"+", "-"}
        seq_len : int
        onehot : bool, default=True
            float32 ``(seq_len, 4)`` one-hot (N as 0.25 rows), else an upper-case string.

        Returns
        -------
        numpy.ndarray or str
        """
        start, end = _resized(int(midpoint), int(midpoint) + 1, int(seq_len))
        return self._read(chrom, start, end, strand, onehot)

    def extract_seq_interval(self, chrom: str, start: int, end: int, strand: str,
                             seq_len: int | None = None, onehot: bool = True) -> np.ndarray | str:
        """``[start, end)`` (resized to ``seq_len`` about its centre when given),
        reverse complemented on ``-``; returns as :meth:`extract_seq_centered`."""
        if seq_len:
            start, end = _resized(int(start), int(end), int(seq_len))
        return self._read(chrom, start, end, strand, onehot)


def plot_track(tracks: Iterable[Sequence[float]], alpha: float = 0.6, color: Any = None,
               zoom: Sequence[int] | None = None, marks: Iterable[float] | None = None,
               ax: Any = None, **kwargs: Any) -> Any:
    """Plot coverage tracks as lines, as creme-nn's ``plot_track``.

    Parameters
    ----------
    tracks : iterable of 1-D arrays
        One line each (pass ``[track]`` for a single one).
    alpha : float, default=0.6
    color : matplotlib color, optional
    zoom : [start, end], optional
        x limits.
    marks : iterable of float, optional
        x positions of dashed vertical lines (e.g. the TSS bins).
    ax : matplotlib.axes.Axes, optional
        Draw here; default: a new 20 x 2 inch figure.
    **kwargs
        Passed to ``Axes.plot`` (``label``, ``linewidth``, ...).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(1, figsize=[20, 2])
    style = dict(kwargs, alpha=alpha)
    if color is not None:
        style["c"] = color
    for coverage in tracks:
        ax.plot(np.asarray(coverage), **style)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    if zoom is not None:
        ax.set_xlim(zoom[0], zoom[1])
    if marks is not None:
        marks = list(marks)
        if marks:
            ax.vlines(marks, 0, ax.get_ylim()[1], color="k", linestyle="--")
    return ax
