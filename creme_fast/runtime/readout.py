"""The TSS readout: which output bins the CREME tests average into a gene's activity.

One default for the Python API, the CLI (``creme-fast run``) and the workflow: the
bins the model records as its TSS readout. An export says so in its metadata
(``extra["tss_bins"]``, output positions: what ``bins=`` and ``--bins`` take);
Enformer exports made before that key existed are read from their geometry (the
bins either side of the window's centre, 447 and 448 at 196,608 bp: the paper's);
a model with a single output bin reads that bin; a ``CallablePredictor`` or
``TorchPredictor`` is told with ``tss_bins=`` (or reads every bin it was built to
select with ``bins=``). Anything else records none, and the caller must say: a
list of output bins, or ``"all"`` to average every bin. Nothing is guessed.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ALL_BINS", "centre_bins", "kept_centre_bins", "metadata_tss_bins",
           "recorded_tss_bins", "resolve_bins", "selected_readout"]

#: ``bins="all"`` / ``--bins all``: average every output bin (said, never assumed)
ALL_BINS = "all"


def centre_bins(seq_length: int, n_bins: int, bin_size: int) -> list[int]:
    """Output bins that touch the window's centre base (index ``seq_length // 2``, the TSS).

    The output's ``n_bins`` bins of ``bin_size`` bp are centred in the window (the
    model crops equally from both ends, as Enformer does). When the centre base is
    a bin's first base, the bin before it touches the TSS too and both are
    returned: ``[447, 448]`` for Enformer at 196,608 bp (896 bins of 128 bp), the
    bins the CREME paper reads.

    Parameters
    ----------
    seq_length : int
        Input length in bp.
    n_bins : int
        Output bins.
    bin_size : int
        bp per output bin.

    Returns
    -------
    list of int
        One or two output bin indices.

    Raises
    ------
    ValueError
        When the bins do not fit in the window.
    """
    covered = n_bins * bin_size
    if n_bins < 1 or bin_size < 1 or covered > seq_length:
        raise ValueError(f"{n_bins} bins of {bin_size} bp do not fit in {seq_length} bp")
    offset = (seq_length - covered) // 2
    centre = seq_length // 2 - offset
    first = min(centre // bin_size, n_bins - 1)
    if centre % bin_size == 0 and 0 < first:
        return [first - 1, first]
    return [first]


def selected_readout(bins: Sequence[int] | None, bin_reduce: str,
                     tss_bins: Sequence[int] | None) -> list[int] | None:
    """A predictor's TSS readout: ``tss_bins`` when given; else every bin it was
    built to select (``bins``; the one bin under ``bin_reduce="mean"``); else None."""
    if tss_bins is not None:
        out = [int(b) for b in tss_bins]
        if not out or any(b < 0 for b in out) or len(set(out)) != len(out):
            raise ValueError(f"tss_bins must be distinct output bins >= 0, got {list(tss_bins)}")
        return out
    if bin_reduce == "mean":
        return [0]
    return None if bins is None else list(range(len(bins)))


def kept_centre_bins(seq_length: int, n_bins: int, bin_size: int,
                     kept: Sequence[int] | None) -> list[int] | None:
    """:func:`centre_bins` of a model's full output, as positions among the ``kept``
    bins of an export (None: every bin kept); None when the export did not keep
    them all."""
    wanted = centre_bins(seq_length, n_bins, bin_size)
    kept = list(range(n_bins)) if kept is None else [int(b) for b in kept]
    if not all(b in kept for b in wanted):
        return None
    return [kept.index(b) for b in wanted]


def _enformer_bins(meta: Any) -> list[int] | None:
    """The TSS bins of an Enformer export from the geometry its metadata records."""
    hparams = meta.extra.get("hparams") or {}
    model_bins = meta.extra.get("model_bins")
    if model_bins is None or "num_downsamples" not in hparams:
        return None
    return kept_centre_bins(meta.seq_length, int(model_bins),
                            2 ** int(hparams["num_downsamples"]), meta.bins)


def recorded_tss_bins(predictor: Any) -> list[int] | None:
    """The output bins ``predictor``'s model records as its TSS readout, or None.

    In order: the predictor's own ``tss_bins`` attribute; an export's
    ``extra["tss_bins"]``; an Enformer export's centre bins (:func:`centre_bins`,
    for exports written before the key existed); ``[0]`` for an output known to
    have one bin (an export averaging its bins in the graph, or a graph whose
    output shape says so). Output positions.
    """
    own = getattr(predictor, "tss_bins", None)
    if own is not None:
        return [int(b) for b in own]
    meta = getattr(predictor, "metadata", None)
    if meta is not None and hasattr(meta, "extra"):
        return metadata_tss_bins(meta)
    return [0] if _static_bins(predictor) == 1 else None


def metadata_tss_bins(meta: Any) -> list[int] | None:
    """The TSS bins an export's :class:`~creme_fast.runtime.ModelMetadata` records (see
    :func:`recorded_tss_bins`), as output positions; None when it records none."""
    if meta.extra.get("tss_bins") is not None:
        return [int(b) for b in meta.extra["tss_bins"]]
    if meta.model == "enformer" and meta.bin_reduce == "none":
        found = _enformer_bins(meta)
        if found is not None:
            return found
    return [0] if int(meta.n_bins) == 1 else None


def _static_bins(predictor: Any) -> int | None:
    """Output bins known without running the model: an export's metadata, or an ONNX
    graph's static output shape."""
    meta = getattr(predictor, "metadata", None)
    if meta is not None and hasattr(meta, "n_bins"):
        return int(meta.n_bins)
    session = getattr(predictor, "session", None)
    if session is not None and hasattr(session, "get_outputs"):
        shape = session.get_outputs()[0].shape
        if len(shape) == 3 and isinstance(shape[1], int):
            return int(shape[1])
    return None


def resolve_bins(predictor: Any, bins: Sequence[int] | str | None,
                 option: str = "bins") -> list[int] | None:
    """The output bins to average: ``bins`` as given, the model's TSS readout when
    ``bins`` is None, every bin (None) for ``"all"``.

    Parameters
    ----------
    predictor : Predictor
    bins : sequence of int, "all" or None
        Output positions (an export pruned with ``--bins 447,448`` has positions
        0 and 1); None: the model's recorded TSS bins.
    option : str, default="bins"
        The argument's name in messages (``"bins"``, ``"--bins"``).

    Returns
    -------
    list of int or None
        The bins; None means every output bin.

    Raises
    ------
    ValueError
        ``bins`` is None and the model records no TSS readout (naming ``option``),
        or ``bins`` is a string other than ``"all"``.
    """
    if isinstance(bins, str):
        if bins != ALL_BINS:
            raise ValueError(f"{option} must be a list of output bins, None (the model's TSS "
                             f"bins) or {ALL_BINS!r}, got {bins!r}")
        return None
    if bins is not None:
        return list(bins)
    recorded = recorded_tss_bins(predictor)
    if recorded is not None:
        return recorded
    path = getattr(predictor, "path", None)
    name = (getattr(predictor, "name", None) or getattr(path, "name", None)
            or type(predictor).__name__)
    n_bins = _static_bins(predictor)
    span = f" (0..{n_bins - 1})" if n_bins else ""
    if option.startswith("--"):
        say = f"give {option} with the output bins to average{span}, e.g. {option} 447,448, " \
              f"or {option} {ALL_BINS} to average every bin"
    else:
        say = f"pass {option}= with the output bins to average{span}, e.g. {option}=[447, " \
              f"448], or {option}={ALL_BINS!r} to average every bin"
    raise ValueError(f"{name} records no TSS bins (the output bins that read the gene's "
                     f"activity), and creme-fast does not guess them: {say}")
