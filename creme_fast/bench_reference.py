"""``creme-fast bench`` against PyTorch: the loop creme-fast replaces, timed on this machine.

How much faster creme-fast is depends on the CPU (issue 33: ONNX Runtime ran 2.7x
faster than PyTorch on one 2-core VM and 1.3-1.5x on another), so ``bench``
measures it where the user runs: one PyTorch eager pass of the exported model
(enformer-pytorch, the model creme-nn calls once per mutant) and one ONNX Runtime
full pass on the same input, one incremental tile mutant, and from those the
expected time per gene of each test. Imports torch only when a reference is built.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.bench import NullPredictor
from creme_fast.pipeline import PipelineStats
from creme_fast.runtime.base import check_batch
from creme_fast.runtime.geometry import TrunkGeometry
from creme_fast.runtime.metadata import InputKind, ModelMetadata
from creme_fast.sequence.tiles import tile_layout
from creme_fast.sequence.tokens import one_hot

log = logging.getLogger(__name__)

__all__ = ["NullIncremental", "PassTimes", "Reference", "check_reference", "load_reference",
           "path_counts",
           "per_gene", "tile_mutant_seconds", "time_reference"]


@dataclass(frozen=True)
class Reference:
    """A PyTorch model to time against, and where its weights came from."""

    module: Any
    description: str


@dataclass(frozen=True)
class PassTimes:
    """Seconds of one pass of each kind at batch 1 on this machine.

    Attributes
    ----------
    full_s : float
        ONNX Runtime, the export's main graph.
    tile_s : float or None
        ONNX Runtime, one incremental 5 kb tile mutant (trunk windows + tower);
        None without pieces.
    torch_s : float or None
        PyTorch eager, the whole model (None: no reference).
    """

    full_s: float
    tile_s: float | None = None
    torch_s: float | None = None


def check_reference(metadata: ModelMetadata | None, choice: str) -> None:
    """Refuse a ``--reference`` that cannot be timed, before any measurement starts.

    Raises
    ------
    ValueError
        A checkpoint that does not exist, or one named for a model that is not an
        Enformer export.
    """
    if choice in ("auto", "none"):
        return
    if metadata is None or metadata.model != "enformer":
        raise ValueError(f"--reference {choice}: the model is not an Enformer export; a "
                         "checkpoint can only be timed against an Enformer export (use "
                         "--reference auto or none)")
    if not Path(choice).exists():
        raise ValueError(f"--reference {choice}: no such checkpoint")


def load_reference(metadata: ModelMetadata | None, choice: str) -> Reference | None:
    """The PyTorch model an export came from, for timing.

    Parameters
    ----------
    metadata : ModelMetadata or None
        The export's metadata (its ``model`` and ``extra``: source checkpoint and
        hyperparameters).
    choice : str
        ``"none"``: no reference. ``"auto"``: for an Enformer export, the
        checkpoint it recorded when that path exists here, else an Enformer of
        the recorded hyperparameters with random weights (the time of a dense
        pass does not depend on the weights' values: benchmarks/RESULTS.md, issue
        33); nothing for other models or without torch/enformer-pytorch. Any other
        value: a checkpoint directory or file to load.

    Returns
    -------
    Reference or None

    Raises
    ------
    ValueError
        A named checkpoint that cannot be loaded, or one given for an export
        that is not an Enformer export.
    """
    if choice == "none":
        return None
    check_reference(metadata, choice)
    if metadata is None or metadata.model != "enformer":
        log.info("bench: no PyTorch reference for this model (only Enformer exports have one)")
        return None
    try:
        import torch  # noqa: F401  (the reference needs both)
        from creme_fast.export.checkpoint import load_enformer
        from creme_fast.export.positional import GammaChoice, apply_tf_gamma
    except ImportError as exc:
        if choice != "auto":
            raise ValueError(f"--reference {choice}: PyTorch and enformer-pytorch are needed "
                             f"(pip install 'creme-fast[export]'): {exc}") from None
        log.info("bench: PyTorch or enformer-pytorch is not installed; no PyTorch reference "
                 "(pip install 'creme-fast[export]')")
        return None
    extra = metadata.extra or {}
    hparams = dict(extra.get("hparams") or {})
    source = choice if choice != "auto" else extra.get("source")
    if source and Path(str(source)).exists():
        try:
            model = load_enformer(source).eval()
        except (OSError, ValueError) as exc:
            raise ValueError(f"--reference {source}: {exc}") from None
        where = f"enformer-pytorch, weights from {source}"
    elif hparams:
        from enformer_pytorch import Enformer

        model = Enformer.from_hparams(**hparams).eval()
        where = ("enformer-pytorch with the export's hyperparameters and random weights "
                 f"(its checkpoint {source or '(none recorded)'} is not here)")
    else:
        log.info("bench: the export records no Enformer hyperparameters; no PyTorch reference")
        return None
    gamma = extra.get("positional_features", {})
    if "tf_gamma" in gamma:  # the export's choice, for the same function
        apply_tf_gamma(model, GammaChoice(bool(gamma["tf_gamma"]), "as the export"))
    return Reference(model, where)


#: A first PyTorch pass shorter than this is timed again: its one-time setup would
#: weigh on the figure (the published Enformer's first pass is within 4% of its second).
REPEAT_BELOW_S = 5.0


def time_reference(reference: Reference, tokens: np.ndarray, head: str | None,
                   threads: int | None) -> float:
    """Seconds of one PyTorch eager pass of ``reference`` on ``tokens`` (L,), batch 1.

    The whole model on float one-hot, under ``torch.inference_mode``, as creme-nn
    calls it for each mutant; ``threads`` sets ``torch.set_num_threads``. A pass
    shorter than :data:`REPEAT_BELOW_S` is run and timed a second time.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(int(threads))
    x = torch.from_numpy(one_hot(tokens[None]))
    kwargs = {} if head is None else {"head": head}
    with torch.inference_mode():
        for _ in range(2):
            start = time.perf_counter()
            reference.module(x, **kwargs)
            seconds = time.perf_counter() - start
            if seconds >= REPEAT_BELOW_S:
                break
    return seconds


def tile_mutant_seconds(predictor: Any, tokens: np.ndarray, tile_size: int = 5000) -> float | None:
    """Seconds of one incremental tile mutant: the trunk on the windows a tile next to
    the TSS changes, spliced into the parent's rows, then the tower (after one
    untimed call of each). None when the predictor has no incremental pieces."""
    from creme_fast.runtime.incremental import incremental_of

    inc = incremental_of(predictor)
    if inc is None:
        return None
    layout = tile_layout(len(tokens), tile_size)
    tile = layout.tiles[int(np.argmin(np.abs(layout.tiles[:, 0] - layout.tss[1])))]
    mutant = tokens.copy()
    mutant[tile[0]:tile[1]] = np.random.default_rng(0).permutation(mutant[tile[0]:tile[1]])
    g = inc.geometry
    _, row_lo, row_hi, w0, w1 = g.windows(mutant[None], tokens[None])

    def feed(seq: np.ndarray) -> np.ndarray:
        return (seq[None] if inc.input_kind == "tokens"
                else one_hot(seq[None], dtype=np.dtype(inc.input_dtype)))

    parent = inc.trunk(feed(tokens))
    window = feed(mutant)[:, int(w0[0]):int(w1[0])]
    inc.trunk(window)
    inc.tower(parent)
    start = time.perf_counter()
    rows = parent.copy()
    for lo, hi, a, b in zip(row_lo, row_hi, w0, w1):
        new = inc.trunk(feed(mutant)[:, int(a):int(b)])
        skip = int(lo - a // g.stride)
        rows[:, lo:hi] = new[:, skip:skip + int(hi - lo)]
    inc.tower(rows)
    return time.perf_counter() - start


class NullIncremental:
    """A model that costs nothing and offers incremental evaluation with a given geometry:
    run a test's plan through the engine to count which path each mutant takes."""

    def __init__(self, geometry: TrunkGeometry, input_kind: InputKind) -> None:
        self.seq_length = geometry.seq_length
        self.input_kind: InputKind = input_kind
        self.input_dtype = np.dtype(np.uint8 if input_kind == "tokens" else np.float32)
        # one channel: which rows change depends on the geometry, not the width
        self.geometry = TrunkGeometry(geometry.stride, geometry.left, geometry.right,
                                      geometry.rows, 1)
        self.incremental = self

    def predict(self, batch: np.ndarray) -> np.ndarray:
        check_batch(batch, self.seq_length, self.input_kind, "null model")
        return np.ones((batch.shape[0], 1, 1), dtype=np.float32)

    def trunk(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((batch.shape[0], batch.shape[1] // self.geometry.stride, 1),
                        dtype=np.float32)

    def tower(self, rows: np.ndarray) -> np.ndarray:
        return np.ones((rows.shape[0], 1, 1), dtype=np.float32)


def path_counts(run_test: Callable[..., int], test: str, geometry: TrunkGeometry | None,
                input_kind: InputKind, tokens: np.ndarray, *, num_shuffles: int,
                tile_size: int) -> tuple[int, int]:
    """``(full passes, incremental mutants)`` one gene of ``test`` takes.

    ``run_test(test, predictor, tokens, num_shuffles=, tile_size=, batch_size=,
    stats=, incremental=)`` runs the test and returns its mutant count
    (``creme-fast bench``'s own runner); it runs here on a model that costs
    nothing (:class:`NullIncremental` with the export's trunk ``geometry``, or,
    for a model without pieces, one that runs every mutant in a full pass), so
    only the engine works.
    """
    stats = PipelineStats()
    if geometry is None:
        n = run_test(test, NullPredictor(len(tokens), input_kind), tokens,
                     num_shuffles=num_shuffles, tile_size=tile_size, batch_size=8,
                     stats=stats, incremental=False)
        return int(n), 0
    run_test(test, NullIncremental(geometry, input_kind), tokens, num_shuffles=num_shuffles,
             tile_size=tile_size, batch_size=8, stats=stats, incremental=True)
    return int(stats.n_full_path), int(stats.n_incremental)


def per_gene(times: PassTimes, n_full: int, n_incremental: int) -> dict[str, float | None]:
    """Expected seconds a gene takes: PyTorch one pass per mutant, ONNX Runtime full
    passes only, and ONNX Runtime with incremental evaluation."""
    n = n_full + n_incremental
    return {"mutants": n, "full_passes": n_full, "incremental": n_incremental,
            "torch_s": None if times.torch_s is None else n * times.torch_s,
            "ort_full_s": n * times.full_s,
            "ort_incremental_s": (None if times.tile_s is None else
                                  n_full * times.full_s + n_incremental * times.tile_s)}
