"""creme-nn 0.2.5's ``creme.utils`` helpers that the CREME paper's analysis scripts call.

The scripts of ``p-koo/CREME_paper_reproducibility`` (``code/``) use these next to the
CREME tests: result folders and pickles, names of targets and cell lines, a CDF,
p-value stars, and the saliency figures. Same names, signatures and results as
creme-nn 0.2.5; :mod:`creme_fast.compat.utils` exports them all.

Deliberate differences from creme-nn 0.2.5
-------------------------------------------
- ``save_pickle`` on an existing file logs a warning (logger
  ``creme_fast.compat.paper``) instead of printing ``File already exists!``; as in
  the reference the file is left alone.
- ``FastaStringExtractor`` reads through pyfaidx as :class:`~creme_fast.compat.utils.SequenceParser`
  does: a chromosome missing from the FASTA raises
  :class:`~creme_fast.io.genome.GenomeError` naming it (the reference: ``KeyError``),
  and an IUPAC code other than N raises naming its position. ``extract`` takes any
  interval with ``chrom``, ``start`` and ``end`` (a kipoiseq ``Interval`` works;
  kipoiseq is not needed).
- ``grad_times_input_to_df`` builds logomaker's saliency matrix with pandas (logomaker
  is not needed for it); ``plot_attribution_map`` draws with logomaker, which must be
  installed (``pip install logomaker``), on the axes it is given, and returns them
  (the reference returns None and clears the ticks of ``plt.gca()``).
- ``get_saliency_and_creme_mask_overlap`` and ``plot_one_seq_feature_map`` take
  keyword-only ``results_dir``, ``target_bins``, ``tile_size``, ``window`` (and
  ``xstreme_dir``) whose defaults are the reference's hard-coded paper values
  (``../results/motifs_500,50_batch_1,10_shuffle_10_thresh_0.9,0.7``, bins 447-448,
  5,000 bp tiles, the 50 bp pruning window), so they also run on other models and
  folders.
  ``plot_one_seq_feature_map`` returns the figure's saliency and mask as the
  reference, and leaves ``plt.show()`` to matplotlib's backend (a no-op without a
  display) as the reference does.
"""
from __future__ import annotations

import glob
import logging
import os
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creme_fast.io.genome import Genome
from creme_fast.sequence.tokens import decode

log = logging.getLogger(__name__)

__all__ = [
    "FastaStringExtractor", "clean_cell_name", "convert_pvalue_to_asterisks",
    "get_borzoi_targets", "get_saliency_and_creme_mask_overlap", "get_summary",
    "grad_times_input_to_df", "make_dir", "plot_attribution_map", "plot_cdf",
    "plot_one_seq_feature_map", "read_pickle", "save_pickle",
]

#: The paper's pruning results, where ``get_saliency_and_creme_mask_overlap`` reads them.
PAPER_MOTIF_RESULTS = "../results/motifs_500,50_batch_1,10_shuffle_10_thresh_0.9,0.7"
#: The paper's XSTREME results, where ``plot_one_seq_feature_map`` reads them.
PAPER_XSTREME_RESULTS = "../results/XSTREME/FIMO"
PAPER_TARGET_BINS = (447, 448)
PAPER_TILE_SIZE = 5000
PAPER_WINDOW = 50


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------

def make_dir(dir_path: str | os.PathLike) -> str | os.PathLike:
    """Create ``dir_path`` (not its parents) unless it is a directory already.

    Returns
    -------
    str or os.PathLike
        ``dir_path`` itself, so calls nest as in the paper's scripts.

    Raises
    ------
    FileNotFoundError
        The parent directory does not exist.
    FileExistsError
        ``dir_path`` is a file.
    """
    Path(dir_path).mkdir(exist_ok=True)
    return dir_path


def save_pickle(result_path: str | os.PathLike, x: Any) -> None:
    """Pickle ``x`` to ``result_path`` (highest protocol) unless the file exists.

    An existing file is left alone and a warning is logged (the reference prints).
    """
    if os.path.isfile(result_path):
        log.warning("%s: file already exists; not overwritten", result_path)
        return
    with open(result_path, "wb") as handle:
        pickle.dump(x, handle, protocol=pickle.HIGHEST_PROTOCOL)


def read_pickle(result_path: str | os.PathLike) -> Any:
    """The object pickled at ``result_path`` (by this module or by creme-nn)."""
    with open(result_path, "rb") as handle:
        return pickle.load(handle)


# ---------------------------------------------------------------------------
# names and numbers
# ---------------------------------------------------------------------------

def clean_cell_name(t: str) -> str:
    """Cell line of an Enformer target description: ``"CAGE:K562 ENCODE, biol_"`` -> ``"K562"``."""
    return t.split(":")[-1].split(" ENCODE")[0].strip()


def get_summary(row: Any) -> str:
    """``gene_chrom_start_strand`` of a TSS table row (``gene_name``, ``Chromosome``,
    ``Start``, ``Strand``): the paper's result file names."""
    return f"{row['gene_name']}_{row['Chromosome']}_{row['Start']}_{row['Strand']}"


def get_borzoi_targets(target_df: pd.DataFrame,
                       cell_lines: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[int]]:
    """The CAGE tracks of ``cell_lines`` in a Borzoi target table.

    Parameters
    ----------
    target_df : pandas.DataFrame
        With a ``description`` column (``"CAGE:K562 ENCODE, biol_"``, ...).
    cell_lines : sequence of str
        Descriptions after the last ``:``, stripped.

    Returns
    -------
    cell_line_info : dict
        Per cell line: ``"output"``, the positions of its tracks among ``cage_tracks``,
        and ``"target"``, its track rows joined with ``&``.
    cage_tracks : list of int
        Rows of every CAGE track of the cell lines, in table order.
    """
    descriptions = [str(t) for t in target_df["description"]]
    lines = [t.split(":")[-1].strip() for t in descriptions]
    is_cage = ["CAGE" in t for t in descriptions]
    wanted = set(cell_lines)
    cage_tracks = [i for i, (cage, line) in enumerate(zip(is_cage, lines))
                   if cage and line in wanted]
    position = {track: p for p, track in enumerate(cage_tracks)}
    info: dict[str, dict[str, Any]] = {}
    for cell_line in cell_lines:
        targets = [i for i, (cage, line) in enumerate(zip(is_cage, lines))
                   if cage and line == cell_line]
        info[cell_line] = {"output": [np.int64(position[t]) for t in targets],
                           "target": "&".join(str(t) for t in targets)}
    return info, cage_tracks


def plot_cdf(x: Any, bins: int = 1000) -> np.ndarray:
    """The cumulative distribution of ``x`` over ``bins`` histogram bins (it draws nothing,
    as the reference)."""
    count, _ = np.histogram(x, bins=bins)
    return np.cumsum(count / np.sum(count))


def convert_pvalue_to_asterisks(pvalue: float) -> str:
    """Significance stars: ``"****"`` (<= 1e-4), ``"***"`` (<= 1e-3), ``"**"`` (<= 0.01),
    ``"*"`` (<= 0.05), else ``"ns"``."""
    for limit, stars in ((0.0001, "****"), (0.001, "***"), (0.01, "**"), (0.05, "*")):
        if pvalue <= limit:
            return stars
    return "ns"


# ---------------------------------------------------------------------------
# FASTA strings
# ---------------------------------------------------------------------------

class FastaStringExtractor:
    """Upper-case strings of FASTA intervals, padded with N past a chromosome's ends.

    Parameters
    ----------
    fasta_file : str or pathlib.Path
        Plain or bgzip FASTA, read through pyfaidx.
    """

    def __init__(self, fasta_file: str | Path) -> None:
        self.genome = Genome(fasta_file)
        self._chromosome_sizes = dict(self.genome.lengths)

    def extract(self, interval: Any, safe_mode: bool = True, **kwargs: Any) -> str:
        """The interval's forward-strand sequence.

        Parameters
        ----------
        interval : object with ``chrom``, ``start``, ``end``
            0-based, end exclusive (a kipoiseq ``Interval``).
        safe_mode : bool, default=True
            An interval entirely outside the chromosome raises ``ValueError``;
            with False it comes back as N.

        Returns
        -------
        str
        """
        chrom, start, end = interval.chrom, int(interval.start), int(interval.end)
        size = self.genome.check_chrom(chrom)
        if (start < 0 and end < 0) or (start >= size and end > size):
            if safe_mode:
                raise ValueError(f"Interval outside chromosome boundaries: {chrom}:{start}-{end} "
                                 f"(the chromosome has {size:,} bp)")
            return "N" * (end - start)
        if end <= start:
            return ""
        return decode(self.genome.interval(chrom, start, end))

    def close(self) -> None:
        """Close the FASTA."""
        self.genome.close()


# ---------------------------------------------------------------------------
# attribution maps
# ---------------------------------------------------------------------------

def grad_times_input_to_df(x: np.ndarray, grad: np.ndarray, alphabet: str = "ACGT") -> pd.DataFrame:
    """logomaker's saliency matrix of gradient x input: at each position the gradient of
    the observed base (``argmax`` of ``x``) in that base's column.

    Parameters
    ----------
    x : numpy.ndarray, shape=(L, A) (extra axes of size 1 are squeezed)
    grad : numpy.ndarray, shape=(L, A)
    alphabet : str, default="ACGT"

    Returns
    -------
    pandas.DataFrame
        Index ``pos`` (0..L-1), one float column per letter that occurs, sorted.
    """
    x_index = np.argmax(np.squeeze(x), axis=1)
    grad = np.squeeze(grad)
    if grad.ndim != 2 or grad.shape[0] != x_index.shape[0]:
        raise ValueError(f"grad must be (L, A) for the {x_index.shape[0]} positions of x, "
                         f"got {np.shape(grad)}")
    letters = np.array(list(alphabet))[x_index]
    saliency = grad[np.arange(grad.shape[0]), x_index].astype(np.float64)
    columns = sorted(set(letters.tolist()))
    values = (letters[:, None] == np.array(columns)[None, :]) * saliency[:, None]
    return pd.DataFrame(values.astype(np.float64), columns=columns,
                        index=pd.Index(np.arange(grad.shape[0]), name="pos"))


def plot_attribution_map(saliency_df: pd.DataFrame, ax: Any = None,
                         figsize: tuple[float, float] = (20, 1)) -> Any:
    """Draw a saliency matrix as a sequence logo (logomaker), without ticks or top/right
    spines.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        logomaker is not installed.
    """
    try:
        import logomaker
    except ImportError:
        raise ImportError("plot_attribution_map draws with logomaker: pip install "
                          "logomaker") from None
    import matplotlib.pyplot as plt

    logo = logomaker.Logo(saliency_df, figsize=figsize, ax=ax)
    ax = logo.ax if ax is None else ax
    if ax is None:  # pragma: no cover (logomaker always sets it)
        ax = plt.gca()
    ax.spines["right"].set_visible(False)
    ax.spines["top"].set_visible(False)
    ax.yaxis.set_ticks_position("none")
    ax.xaxis.set_ticks_position("none")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def get_saliency_and_creme_mask_overlap(seq_tile_id: str, model: Any, seq_parser: Any,
                                        cell_line: str, track_index: int, *,
                                        results_dir: str | os.PathLike = PAPER_MOTIF_RESULTS,
                                        target_bins: Iterable[int] = PAPER_TARGET_BINS,
                                        tile_size: int = PAPER_TILE_SIZE,
                                        window: int = PAPER_WINDOW) -> tuple[Any, np.ndarray]:
    """Gradient x input over a CRE tile, and the mask of the bases CREME's pruning kept.

    Parameters
    ----------
    seq_tile_id : str
        ``gene_chrom_tss_strand_tilestart_...`` (a pruning result's file name).
    model : custom_model.Enformer
        With ``contribution_input_grad`` (a local enformer-pytorch checkpoint).
    seq_parser : utils.SequenceParser
    cell_line : str
        Subfolder of ``results_dir`` holding the pruning result.
    track_index : int
        Head track of the saliency target.
    results_dir : path, default: the paper's pruning folder
    target_bins : iterable of int, default=(447, 448)
    tile_size : int, default=5000
    window : int, default=50
        The pruning window whose ``insert_coords`` make the mask.

    Returns
    -------
    cre_saliency_scores : custom_model.Attribution, shape=(tile_size,)
        As ``model.contribution_input_grad`` returns (creme-nn: a ``tf.Tensor``);
        ``.numpy()`` gives the array.
    creme_mask : numpy.ndarray of float64, shape=(tile_size,)
        1 on the sub-tiles in pruning window ``window``'s ``insert_coords``.
    """
    chrom, tss, strand, tile_start = seq_tile_id.split("_")[1:5]
    tile_start = int(tile_start)
    creme_res = read_pickle(f"{results_dir}/{cell_line}/{seq_tile_id}")
    wt_seq = seq_parser.extract_seq_centered(chrom, int(tss), strand, model.seq_length)
    half = model.seq_length // 2
    padded = np.pad(wt_seq[np.newaxis].copy(), ((0, 0), (half, half), (0, 0)), "constant")
    predictions = model.predict(wt_seq[np.newaxis])[0]
    target_mask = np.zeros_like(predictions)
    for idx in target_bins:
        target_mask[idx, track_index] = 1
    scores = model.contribution_input_grad(padded, target_mask)[half:-half]
    scores = scores[tile_start:tile_start + tile_size]
    if window not in creme_res:
        raise ValueError(f"{results_dir}/{cell_line}/{seq_tile_id} holds no pruning window "
                         f"{window} (it has {[k for k in creme_res if not isinstance(k, str)]}); "
                         "pass window=")
    creme_mask = np.zeros((tile_size,))
    for interval in creme_res[window]["insert_coords"]:
        interval = np.asarray(interval) - tile_start
        creme_mask[interval[0]:interval[1]] = 1
    return scores, creme_mask


def plot_one_seq_feature_map(seq_tile_id: str, model: Any, seq_parser: Any, cell_line: str,
                             track_index: int, plot_xstreme: bool = True, *,
                             results_dir: str | os.PathLike = PAPER_MOTIF_RESULTS,
                             xstreme_dir: str | os.PathLike = PAPER_XSTREME_RESULTS,
                             target_bins: Iterable[int] = PAPER_TARGET_BINS,
                             tile_size: int = PAPER_TILE_SIZE,
                             window: int = PAPER_WINDOW) -> tuple[Any, np.ndarray]:
    """Plot gradient x input over a CRE tile with CREME's (and XSTREME's) masks.

    XSTREME's mask is read from ``{xstreme_dir}/{cell_line}_enhancers_*/{seq_tile_id}``
    (``motif_mask``). Returns what :func:`get_saliency_and_creme_mask_overlap` returns.
    """
    import matplotlib.pyplot as plt

    scores, creme_mask = get_saliency_and_creme_mask_overlap(
        seq_tile_id, model, seq_parser, cell_line, track_index, results_dir=results_dir,
        target_bins=target_bins, tile_size=tile_size, window=window)
    values = np.asarray(scores)
    _, ax = plt.subplots(1, 1, figsize=[15, 2])
    ax.plot(values, alpha=0.5, label="grad*input")
    max_sal = np.max(values)
    ax.plot(creme_mask * max_sal, label="CREME", color="purple", alpha=0.4)
    if plot_xstreme:
        pattern = f"{xstreme_dir}/{cell_line}_enhancers_*/{seq_tile_id}"
        found = sorted(glob.glob(pattern))
        if not found:
            raise FileNotFoundError(f"no XSTREME result matches {pattern} (pass "
                                    "plot_xstreme=False to plot without it)")
        xstreme_res = read_pickle(found[0])
        ax.plot([max_sal * 0.8 if m else False for m in xstreme_res["motif_mask"]],
                label="XSTREME", alpha=0.4)
    ax.legend()
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.set_title(seq_tile_id.split("_")[0])
    plt.show()
    return scores, creme_mask
