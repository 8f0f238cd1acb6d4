"""creme-nn 0.2.5's ``creme.creme`` functions on creme-fast's engine.

Same names, arguments and return structures; the models are creme-nn-style
objects (``model.predict(x)`` on one-hot batches, ``model.seq_length``).
Every function takes two extra keywords: ``rng`` (a
``numpy.random.RandomState`` the dinucleotide shuffles draw from, in
exactly the reference's order, so a reference whose ``dinuc_shuffle`` draws
from a RandomState with the same seed gives the same mutants) and
``batch_size`` (mutants per model call). Shuffles, splicing and one-hot run
natively; the model sees batches instead of one sequence per call.

Reproducible runs: pass ``rng=``
--------------------------------
``np.random.seed(0)`` makes neither creme-nn nor this layer reproducible:
both draw every shuffle from a fresh, entropy-seeded ``RandomState`` when
none is given. Pass ``rng=np.random.RandomState(seed)`` to each test (one
stream per call, or one shared stream for a whole notebook run in order).
``distance_test(seed=True)`` is reproducible on its own.

Memory: ``batch_size``
----------------------
``batch_size=8`` (the default) hands the model 8 sequences per call. A model
written for one sequence at a time pays for that: creme-nn's tutorial
``make_a_prediction`` on enformer-pytorch keeps autograd state (no
``torch.no_grad``), and a small Enformer's peak memory rose from 0.9 GB to
3.5 GB at batch 8. When a model's first batched call raises the process's
peak resident memory (its high-water mark, so a process that has already
peaked higher is not warned) by more than ``MEMORY_WARNING_BYTES`` (1 GiB) a
``CremeFastWarning`` says so; pass ``batch_size=1`` (or wrap the forward in
``torch.no_grad``) when memory is short. Results do not depend on it. Only
caller-supplied models are watched: compat's own ``custom_model.Enformer``
batches by design, and its runtime's working memory is not a leak.

Progress: ``verbose``
---------------------
Every test takes ``verbose``: ``None`` (the default) shows a tqdm bar once
the call has run ``PROGRESS_DELAY_S`` (2) seconds, ``True`` at once,
``False`` never. Bars count mutants predicted; ``higher_order_interaction_test``
also counts rounds, ``multiplicity_test`` copies and ``prune_sequence``
pruning steps (with the score), as creme-nn's bars and prints do.

Shuffles of a region with a single arrangement
----------------------------------------------
A shuffled region shorter than 3 bp, or holding one token repeated (an all-N
tile past a chromosome end, say), has only itself as a shuffle. Each test
call warns once (``CremeFastWarning``), naming how many such regions it met
and where they lie in the sequence (the reference copies them silently).

Deliberate differences from creme-nn 0.2.5
-------------------------------------------
- ``rng=None`` draws from one fresh ``RandomState`` per call; the reference
  makes a fresh, entropy-seeded one for every single shuffle (irreproducible).
- ``distance_test(seed=True)`` seeds background ``n`` with ``RandomState(n)``
  for every ``n``; the reference's ``if seed:`` leaves background 0 unseeded.
- N: a row of four 0.25 (what creme-nn's ``one_hot_encode`` and
  ``SequenceParser`` write, e.g. past a chromosome end) and an all-zero row
  are both N. The model receives N as the caller wrote it: when an input
  holds 0.25 rows, every N of every mutant reaches the model as a 0.25 row
  (and returned sequences write N so), else as zeros. Results therefore equal
  the reference's whenever no N lies inside a shuffled region. Inside one, the
  reference reads a 0.25 row as T (the last nonzero column) and shuffles it as
  a T; compat shuffles it as N (keeping all 25 dinucleotide counts, N
  included), so shuffled N stay N; a whole-sequence shuffle (context,
  sufficiency, distance and multiplicity backgrounds) always includes them.
- Tiles that run past the sequence end are clipped as numpy slicing (and so
  the reference) clips them, with a ``CremeFastWarning`` naming the tile and
  the length. A tile that starts outside the sequence, ends before it starts,
  or a fixed-width tile placed where it does not fit (``distance_test``
  positions, ``multiplicity_test`` coordinates, where the reference fails
  inside numpy) raises ``ValueError`` naming it.
- ``sufficiency_test(tile_seq=...)`` works; the reference's ``if tile_seq:``
  raises on an array. With ``return_seqs`` and no tiles it returns an empty
  array instead of failing.
- ``higher_order_interaction_test`` removes each selected tile from the
  caller's list, as the reference does (a tuple or array is left alone);
  ``num_rounds=0`` means zero rounds, not all, and more rounds than tiles
  raises up front.
- ``generate_tile_shuffles`` with an empty tile set returns copies of ``x``
  (the reference returns uninitialised memory).
- ``prune_sequence`` stops when every sub-tile has been pruned (the reference
  crashes on an empty array there), logs its progress instead of printing it, and matches
  already-removed sub-tiles by exact coordinates (the reference's ``in`` on an
  array matches on any equal coordinate, which is the same on its regular grid).
- Inputs must be one-hot with 4 columns; a malformed row raises naming it.
- Models receive float32 one-hot batches (the reference passes the caller's
  dtype); 0/1/0.25 values are exact in either. Predictions pass through
  float32 and come back in the dtype the model returned (``multiplicity_test``'s
  prediction table is float64 as the reference's), so results agree with the
  reference to float32 precision; where the reference decides by an exact tie
  (``higher_order_interaction_test`` with ``num_shuffle=2``: both shuffles are
  equally far from their mean) the tie can break the other way.
- ``set_tile_range`` returns the centre tile as ints and the other tiles as
  ``numpy.int64``, as the reference.
"""
from __future__ import annotations

import logging
import operator
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tqdm.auto import tqdm

from creme_fast.compat.custom_model import Enformer as CompatEnformer
from creme_fast.compat.encoding import decode_one_hot, encode_one_hot
from creme_fast.errors import CremeFastWarning
from creme_fast.pipeline import PlanBuilder, run_plan
from creme_fast.runtime.callable import CallablePredictor
from creme_fast.sequence.shuffle import dinuc_shuffle
from creme_fast.sequence.tiles import tile_layout

try:  # peak memory of the first batched model call (not on Windows)
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

__all__ = [
    "context_dependence_test", "context_effect_on_tss", "context_swap_test", "distance_test",
    "fold_change_over_control", "generate_tile_shuffles", "higher_order_interaction_test",
    "multiplicity_test", "necessity_test", "normalized_tile_effect", "prune_sequence",
    "reduce_pred_index", "remove_tss_tile", "set_tile_range", "sufficiency_test",
]

#: Peak-memory growth (bytes) of a model's first batched call above which a
#: ``CremeFastWarning`` suggests a smaller ``batch_size``.
MEMORY_WARNING_BYTES = 1 << 30

#: With ``verbose=None`` (the default) a test's progress bar appears once it has
#: run this many seconds.
PROGRESS_DELAY_S = 2.0

# the engine's warning for one region; compat collects these and warns once per call
_DEGENERATE = r".*(is too short|holds a single token): it has only one arrangement"

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _rng(rng: np.random.RandomState | None) -> np.random.RandomState:
    return np.random.RandomState() if rng is None else rng


def _progress(total: int | None, desc: str, verbose: bool | None, unit: str) -> Any:
    """A tqdm bar: none with ``verbose=False``, at once with True, after
    :data:`PROGRESS_DELAY_S` seconds with None."""
    if verbose is False:
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=False,
                delay=0 if verbose else PROGRESS_DELAY_S)


class _Shuffles:
    """The reference's shuffles, drawn from one stream, noting the regions (in sequence
    coordinates) that admit a single arrangement, for one warning per test call."""

    def __init__(self, rng: np.random.RandomState | None, length: int) -> None:
        self.rng = _rng(rng)
        self.length = length
        self.degenerate: set[tuple[int, int]] = set()

    def region(self, tokens: np.ndarray, start: int, end: int, num: int = 1,
               rng: np.random.RandomState | None = None) -> np.ndarray:
        """``num`` shuffles of ``tokens[start:end]`` (``(num, end - start)``)."""
        part = tokens[start:end]
        if part.shape[0] and (part.shape[0] < 3 or part.min() == part.max()):
            self.degenerate.add((int(start), int(end)))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DEGENERATE, category=CremeFastWarning)
            return dinuc_shuffle(part, num, mode="creme", rng=self.rng if rng is None else rng)

    def one(self, tokens: np.ndarray, start: int, end: int) -> np.ndarray:
        return self.region(tokens, start, end)[0]

    def full(self, tokens: np.ndarray, rng: np.random.RandomState | None = None) -> np.ndarray:
        return self.region(tokens, 0, tokens.shape[0], 1, rng)[0]

    def report(self, stacklevel: int = 3) -> None:
        """Warn once for every region noted so far."""
        if not self.degenerate:
            return
        regions = sorted(self.degenerate)
        shown = ", ".join(f"[{a:,}, {b:,})" for a, b in regions[:5])
        more = f" and {len(regions) - 5} more" if len(regions) > 5 else ""
        warnings.warn(f"{len(regions)} shuffled region{'s' if len(regions) > 1 else ''} of the "
                      f"{self.length:,} bp sequence admit{'' if len(regions) > 1 else 's'} a "
                      f"single arrangement (shorter than 3 bp, or one token repeated, e.g. all "
                      f"N): {shown}{more}; every shuffle of such a region is a copy",
                      CremeFastWarning, stacklevel=stacklevel)
        self.degenerate.clear()


def _clip(tile: Sequence[int], length: int, name: str) -> tuple[int, int]:
    """``[start, end)`` clipped to the sequence as numpy slicing (creme-nn) does, with a
    warning; a tile that starts outside the sequence or ends before it starts raises."""
    try:
        start, end = (int(v) for v in tile)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be [start, end], got {tile!r}") from None
    if start < 0 or end < start:
        raise ValueError(f"{name} [{start}, {end}) is not a tile: need 0 <= start <= end")
    if start >= length:
        raise ValueError(f"{name} [{start}, {end}) starts past the end of the {length:,} bp "
                         "sequence")
    if end > length:
        warnings.warn(f"{name} [{start}, {end}) runs past the end of the {length:,} bp "
                      f"sequence; clipped to [{start}, {length}) as creme-nn's slicing does",
                      CremeFastWarning, stacklevel=3)
        end = length
    return start, end


def _clip_all(tiles: Sequence[Sequence[int]], length: int, name: str) -> list[tuple[int, int]]:
    return [_clip(t, length, f"{name}[{i}]") for i, t in enumerate(tiles)]


def _check_place(start: int, width: int, length: int, name: str) -> int:
    """Where a ``width`` bp tile goes; it must fit (creme-nn fails inside numpy)."""
    start = int(start)
    if start < 0 or start + width > length:
        raise ValueError(f"{name}: a {width:,} bp tile placed at {start:,} does not fit in the "
                         f"{length:,} bp sequence")
    return start


def _peak_rss() -> int | None:
    """The process's peak resident memory in bytes, or None where unknown.

    Linux: ``VmHWM``, this process's own high-water mark (``ru_maxrss`` also
    carries the parent's peak across ``fork``/``exec``); elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if resource is None:  # pragma: no cover
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


class _ModelCall:
    """``model.predict`` on engine batches, N written as the caller wrote it.

    Records the dtype the model returns, advances ``progress`` (a tqdm bar, when
    set) by each batch, and warns once when the first batched call of a
    caller-supplied model raises the process's peak memory by more than
    :data:`MEMORY_WARNING_BYTES` (a model written for one sequence at a time,
    e.g. a PyTorch forward without ``torch.no_grad``). compat's own
    :class:`~creme_fast.compat.custom_model.Enformer` is not watched: it runs
    batches by design (ONNX Runtime or ``torch.inference_mode``), and what its
    first batch allocates is the runtime's working memory, which a smaller
    ``batch_size`` only shrinks at a cost in speed.
    """

    def __init__(self, model: Any, n_value: float, batch_size: int) -> None:
        self._fn = model.predict if callable(getattr(model, "predict", None)) else model
        self.n_value = n_value
        self.batch_size = batch_size
        self.dtype: np.dtype | None = None
        self.raw_shape: tuple[int, ...] | None = None  # set for outputs beyond 3-D
        self.progress: Any = None
        self._watched = batch_size <= 1 or isinstance(model, CompatEnformer)

    def __call__(self, batch: np.ndarray) -> Any:
        if self.n_value:  # a new array: the engine's batch buffers are its own
            batch = np.where(batch.any(axis=-1, keepdims=True), batch,
                             np.asarray(self.n_value, dtype=batch.dtype))
        if self._watched or batch.shape[0] == 1:
            out = self._fn(batch)
        else:
            self._watched = True
            before = _peak_rss()
            out = self._fn(batch)
            after = _peak_rss()
            grown = 0 if before is None or after is None else after - before
            if grown > MEMORY_WARNING_BYTES:
                warnings.warn(
                    f"the model's first call on a batch of {batch.shape[0]} raised peak memory "
                    f"by {grown / 2**30:.1f} GiB (batch_size={self.batch_size}); a model "
                    "written for one sequence at a time (a PyTorch forward without "
                    "torch.no_grad, say) holds that much per batch: pass a smaller batch_size "
                    "if memory is short", CremeFastWarning, stacklevel=2)
        dtype = getattr(out, "dtype", None)
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            self.dtype = dtype
        shape = np.shape(out)
        if len(shape) > 3:  # e.g. (N, replicates, bins, tracks): restored by the runner
            self.raw_shape = tuple(shape[1:])
            out = np.reshape(out, (shape[0], -1, shape[-1]))
        if self.progress is not None:
            self.progress.update(batch.shape[0])
        return out


class _Runner:
    """Predict token plans with a creme-nn-style model, restoring its output shape and dtype."""

    def __init__(self, model: Any, length: int, batch_size: int, verbose: bool | None,
                 n_value: float = 0.0) -> None:
        self.call = _ModelCall(model, n_value, batch_size)
        self.predictor = CallablePredictor(self.call, seq_length=length,
                                           name=type(model).__name__)
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_value = n_value

    def __call__(self, builder: PlanBuilder, desc: str = "mutants") -> np.ndarray:
        plan = builder.build()
        if plan.n_rows == 0:
            return np.zeros((0,), dtype=np.float32)
        self.call.progress = _progress(plan.n_rows, desc, self.verbose, "seq")
        try:
            pred = run_plan(plan, self.predictor, batch_size=self.batch_size, verbose=False)
        finally:
            if self.call.progress is not None:
                self.call.progress.close()
            self.call.progress = None
        raw = self.call.raw_shape or self.predictor.raw_shape
        if raw is not None and int(np.prod(raw)) == int(np.prod(pred.shape[1:])):
            pred = pred.reshape((pred.shape[0],) + raw)
        if self.call.dtype is not None and self.call.dtype != pred.dtype:
            pred = pred.astype(self.call.dtype)
        return pred

    def tokens(self, seqs: np.ndarray, desc: str = "mutants") -> np.ndarray:
        builder = PlanBuilder()
        builder.rows_of(seqs)
        return self(builder, desc)


# ---------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------

def context_dependence_test(model: Any, x: np.ndarray, tile_pos: Sequence[int], num_shuffle: int,
                            mean: bool = True, drop_wt: bool = False, *,
                            rng: np.random.RandomState | None = None, batch_size: int = 8,
                            verbose: bool | None = None) -> tuple:
    """The TSS tile in ``num_shuffle`` dinucleotide-shuffled contexts.

    Returns ``(pred_wt[0], mean, std)`` with ``mean=True``, else ``(pred_wt,
    pred_mut)``; ``pred_wt`` is ``[None]`` with ``drop_wt``.
    """
    tokens, n_value = decode_one_hot(x)
    shuffles = _Shuffles(rng, len(tokens))
    pred_wt = [None] if drop_wt else model.predict(x[np.newaxis])
    start, end = _clip(tile_pos, len(tokens), "tile_pos")
    builder = PlanBuilder()
    tile = builder.source(tokens[start:end])
    for n in range(num_shuffle):
        row = builder.rows(1, builder.base(shuffles.full(tokens)), shuffle=n)
        builder.copy(row, start, end, tile)
    shuffles.report()
    pred_mut = _Runner(model, tokens.shape[0], batch_size, verbose, n_value)(builder, "context")
    if mean:
        return pred_wt[0], np.mean(pred_mut, axis=0), np.std(pred_mut, axis=0)
    return pred_wt, pred_mut


def context_swap_test(model: Any, x_source: np.ndarray, x_target: np.ndarray,
                      tile_pos: Sequence[int], *, batch_size: int = 8,
                      verbose: bool | None = None) -> np.ndarray:
    """Target sequences with the source's tile ``[start, end)``; one prediction each."""
    source, n_source = decode_one_hot(x_source, "x_source")
    target, n_target = decode_one_hot(x_target, "x_target")
    source = source[None] if source.ndim == 1 else source
    target = target[None] if target.ndim == 1 else target
    start, end = _clip(tile_pos, target.shape[1], "tile_pos")
    try:
        tiles = np.broadcast_to(source[:, start:end], (target.shape[0], end - start))
    except ValueError:
        raise ValueError(f"{source.shape[0]} source sequences cannot be placed into "
                         f"{target.shape[0]} targets") from None
    builder = PlanBuilder()
    for j in range(target.shape[0]):
        row = builder.rows(1, builder.base(target[j]), target=j)
        builder.copy(row, start, end, builder.source(tiles[j]))
    runner = _Runner(model, target.shape[1], batch_size, verbose, max(n_source, n_target))
    return runner(builder, "swap")


def generate_tile_shuffles(x: np.ndarray, tile_set: Sequence[Sequence[int]], num_shuffle: int, *,
                           rng: np.random.RandomState | None = None) -> np.ndarray:
    """``num_shuffle`` copies of ``x`` with every tile of ``tile_set`` shuffled in turn.

    Returns float64 one-hot ``(num_shuffle, L, 4)``, N written as in ``x``.
    """
    tokens, n_value = decode_one_hot(x)
    shuffles = _Shuffles(rng, len(tokens))
    tile_set = _clip_all(tile_set, len(tokens), "tile_set")
    out = np.tile(tokens, (num_shuffle, 1))
    for n in range(num_shuffle):
        for start, end in tile_set:
            out[n, start:end] = shuffles.one(out[n], start, end)
    shuffles.report()
    return encode_one_hot(out, n_value)


def necessity_test(model: Any, x: np.ndarray, tiles: Sequence[Sequence[int]], num_shuffle: int,
                   mean: bool = True, return_seqs: bool = False, *,
                   rng: np.random.RandomState | None = None, batch_size: int = 8,
                   verbose: bool | None = None) -> list:
    """Shuffle each tile ``num_shuffle`` times in the wild type.

    Returns ``[pred_wt, mean, std]`` or ``[pred_wt, pred_mut]`` (pred_mut:
    ``(n_tiles, num_shuffle, ...)``), plus the float64 mutants with ``return_seqs``.
    """
    tokens, _ = decode_one_hot(x)
    shuffles = _Shuffles(rng, len(tokens))
    result = _necessity(model, x, tiles, num_shuffle, mean, return_seqs, shuffles, batch_size,
                        verbose)
    shuffles.report()
    return result


def _necessity(model: Any, x: np.ndarray, tiles: Sequence[Sequence[int]], num_shuffle: int,
               mean: bool, return_seqs: bool, shuffles: _Shuffles, batch_size: int,
               verbose: bool | None) -> list:
    tokens, n_value = decode_one_hot(x)
    tiles = _clip_all(tiles, len(tokens), "tiles")
    pred_wt = model.predict(x[np.newaxis])
    builder = PlanBuilder()
    base = builder.base(tokens)
    for t, (start, end) in enumerate(tiles):
        for n in range(num_shuffle):
            row = builder.rows(1, base, tile=t, shuffle=n)
            builder.copy(row, start, end, builder.source(shuffles.one(tokens, start, end)))
    runner = _Runner(model, tokens.shape[0], batch_size, verbose, n_value)
    pred = runner(builder, "necessity")
    pred_mut = pred.reshape((len(tiles), num_shuffle) + pred.shape[1:])
    result = ([pred_wt, np.mean(pred_mut, axis=1), np.std(pred_mut, axis=1)] if mean
              else [pred_wt, pred_mut])
    if return_seqs:
        plan = builder.build()
        seqs = plan.materialize(0, plan.n_rows) if plan.n_rows else np.zeros((0, len(tokens)),
                                                                               np.uint8)
        result.append(encode_one_hot(seqs, n_value).reshape(len(tiles), num_shuffle,
                                                             len(tokens), 4))
    return result


def sufficiency_test(model: Any, x: np.ndarray, tss_tile: Sequence[int],
                     tiles: Sequence[Sequence[int]], num_shuffle: int,
                     tile_seq: np.ndarray | None = None, mean: bool = True,
                     return_seqs: bool = False, *, rng: np.random.RandomState | None = None,
                     batch_size: int = 8, verbose: bool | None = None) -> list:
    """Each tile with the TSS tile in fresh shuffled backgrounds.

    Returns ``[pred_wt[0], mean_mut, std_mut, mean_control, std_control]`` or
    ``[pred_wt, pred_mut, pred_control]``, plus the last tile's control
    sequences with ``return_seqs`` (as the reference).
    """
    tokens, n_value = decode_one_hot(x)
    shuffles = _Shuffles(rng, len(tokens))
    tss_tile = _clip(tss_tile, len(tokens), "tss_tile")
    tiles = _clip_all(tiles, len(tokens), "tiles")
    pred_wt = model.predict(x[np.newaxis])
    insert = None
    if tile_seq is not None:
        insert, n_insert = decode_one_hot(tile_seq, "tile_seq")
        n_value = max(n_value, n_insert)
    builder = PlanBuilder()
    tss_src = builder.source(tokens[tss_tile[0]:tss_tile[1]])
    wt_src = builder.source(tokens)
    insert_src = None if insert is None else builder.source(insert)
    last_controls: list[int] = []
    for t, (start, end) in enumerate(tiles):
        last_controls = []
        for n in range(num_shuffle):
            base = builder.base(shuffles.full(tokens))
            control = builder.rows(1, base, tile=t, shuffle=n, role=0)
            builder.copy(control, tss_tile[0], tss_tile[1], tss_src)
            last_controls.append(int(control[0]))
            mutant = builder.rows(1, base, tile=t, shuffle=n, role=1)
            builder.copy(mutant, tss_tile[0], tss_tile[1], tss_src)
            if insert_src is None:
                builder.copy(mutant, start, end, wt_src + start)
            else:
                if insert.shape[0] != end - start:
                    raise ValueError(f"tile_seq has {insert.shape[0]} bp but tile [{start}, "
                                     f"{end}) has {end - start}")
                builder.copy(mutant, start, end, insert_src)
    shuffles.report()
    plan = builder.build()
    pred = _Runner(model, tokens.shape[0], batch_size, verbose, n_value)(builder, "sufficiency")
    pred = pred.reshape((len(tiles), num_shuffle, 2) + pred.shape[1:])
    pred_control, pred_mut = pred[:, :, 0], pred[:, :, 1]
    if mean:
        result = [pred_wt[0], np.mean(pred_mut, axis=1), np.std(pred_mut, axis=1),
                  np.mean(pred_control, axis=1), np.std(pred_control, axis=1)]
    else:
        result = [pred_wt, pred_mut, pred_control]
    if return_seqs:
        seqs = (np.stack([plan.materialize(r, r + 1)[0] for r in last_controls])
                if last_controls else np.zeros((0, len(tokens)), np.uint8))
        result.append(encode_one_hot(seqs, n_value))
    return result


def distance_test(model: Any, x: np.ndarray, tile_fixed_coord: Sequence[int],
                  tile_var_coord: Sequence[int], test_positions: Sequence[int], num_shuffle: int,
                  mean: bool = True, seed: bool = False, *,
                  rng: np.random.RandomState | None = None, batch_size: int = 8,
                  verbose: bool | None = None) -> dict:
    """The variable tile at each test position, the fixed tile in place.

    Returns ``{"mean_control", "std_control", "mean_mut", "std_mut"}`` or
    ``{"control", "mut"}``. With ``seed=True`` background ``n`` is
    ``RandomState(n)``'s shuffle at every position.
    """
    tokens, n_value = decode_one_hot(x)
    length = len(tokens)
    shuffles = _Shuffles(rng, length)
    fixed = _clip(tile_fixed_coord, length, "tile_fixed_coord")
    var = _clip(tile_var_coord, length, "tile_var_coord")
    width = var[1] - var[0]
    positions = [_check_place(s, width, length, f"test_positions[{p}]")
                 for p, s in enumerate(test_positions)]
    builder = PlanBuilder()
    fixed_src = builder.source(tokens[fixed[0]:fixed[1]])
    var_src = builder.source(tokens[var[0]:var[1]])
    seeded = ([builder.base(shuffles.full(tokens, np.random.RandomState(n)))
               for n in range(num_shuffle)] if seed else None)

    def background(n: int) -> int:
        return seeded[n] if seeded is not None else builder.base(shuffles.full(tokens))

    for n in range(num_shuffle):
        row = builder.rows(1, background(n), position=-1, shuffle=n)
        builder.copy(row, fixed[0], fixed[1], fixed_src)
        builder.copy(row, var[0], var[1], var_src)
    for p, start in enumerate(positions):
        for n in range(num_shuffle):
            row = builder.rows(1, background(n), position=p, shuffle=n)
            builder.copy(row, fixed[0], fixed[1], fixed_src)
            builder.copy(row, start, start + width, var_src)
    shuffles.report()
    pred = _Runner(model, length, batch_size, verbose, n_value)(builder, "distance")
    control = pred[:num_shuffle]
    mut = pred[num_shuffle:].reshape((len(positions), num_shuffle) + pred.shape[1:])
    if mean:
        return {"mean_control": np.mean(control, axis=0), "std_control": np.std(control, axis=0),
                "mean_mut": np.mean(mut, axis=1), "std_mut": np.std(mut, axis=1)}
    return {"control": control, "mut": mut}


def higher_order_interaction_test(model: Any, x: np.ndarray,
                                  cre_tiles_to_test: Sequence[Sequence[int]],
                                  optimization: Callable[[np.ndarray], Any],
                                  num_shuffle: int = 10, num_rounds: int | None = None, *,
                                  rng: np.random.RandomState | None = None, batch_size: int = 8,
                                  verbose: bool | None = None) -> dict:
    """Greedy search over tile shuffles (``optimization``: ``np.argmin`` or ``np.argmax``).

    As the reference, each selected tile is removed from ``cre_tiles_to_test``
    when it is a list (pass ``tiles.copy()`` to keep yours).

    Returns ``{round: {"initial_pred", "preds", "selected_tile",
    "selected_mean_pred"}}`` as the reference.
    """
    shuffles = _Shuffles(rng, decode_one_hot(x)[0].shape[0])
    tiles = cre_tiles_to_test if isinstance(cre_tiles_to_test, list) else list(cre_tiles_to_test)
    num_rounds = len(tiles) if num_rounds is None else int(num_rounds)
    if num_rounds > len(tiles):
        raise ValueError(f"num_rounds={num_rounds} but only {len(tiles)} tiles to test")
    current = x
    summary: dict[int, dict[str, Any]] = {}
    progress = _progress(num_rounds, "higher-order rounds", verbose, "round")
    try:
        for r in range(num_rounds):
            current = _greedy_round(model, current, tiles, optimization, num_shuffle, shuffles,
                                    batch_size, verbose, summary, r)
            if progress is not None:
                progress.update(1)
    finally:
        if progress is not None:
            progress.close()
    shuffles.report()
    return summary


def _greedy_round(model: Any, current: np.ndarray, tiles: list, optimization: Callable,
                  num_shuffle: int, shuffles: _Shuffles, batch_size: int,
                  verbose: bool | None, summary: dict[int, dict[str, Any]],
                  r: int) -> np.ndarray:
    """Round ``r`` of :func:`higher_order_interaction_test`: writes its summary entry,
    removes the chosen tile from ``tiles``, returns the next round's sequence."""
    pred_wt, pred_mut, all_muts = _necessity(model, current, tiles, num_shuffle, False, True,
                                             shuffles, batch_size, verbose)
    per_tile = pred_mut[..., 0].mean(-1)
    per_tile_mean = per_tile.mean(axis=-1)
    chosen = int(optimization(per_tile_mean))
    best = per_tile[chosen]
    summary[r] = {"initial_pred": pred_wt.mean(), "preds": per_tile,
                  "selected_tile": tiles[chosen],
                  "selected_mean_pred": per_tile_mean[chosen]}
    nxt = all_muts[chosen, int(np.argmin(np.abs(best - per_tile_mean[chosen])))]
    del tiles[chosen]
    return nxt


def multiplicity_test(model: Any, x: np.ndarray, tss_tile_coord: Sequence[int],
                      cre_tile_coord: Sequence[int], cre_tile_seq: np.ndarray,
                      test_coords: Sequence[Sequence[int]], num_shuffle: int, num_copies: int,
                      optimization: Callable[[np.ndarray], Any], *,
                      rng: np.random.RandomState | None = None, batch_size: int = 8,
                      verbose: bool | None = None) -> dict:
    """Copies of a CRE inserted one at a time at the greedily best position.

    Returns ``{"only_tss_pred", "tss_and_cre_pred", "best_tss_signal",
    "selected_tile_order", "all_mutants"}`` as the reference: ``all_mutants``
    and ``best_tss_signal`` float64, the two scalars in the model's dtype.
    """
    tokens, n_value = decode_one_hot(x)
    shuffles = _Shuffles(rng, len(tokens))
    cre, n_cre = decode_one_hot(cre_tile_seq, "cre_tile_seq")
    length, width = len(tokens), len(cre)
    tss = _clip(tss_tile_coord, length, "tss_tile_coord")
    cre_at = _clip(cre_tile_coord, length, "cre_tile_coord")
    if cre_at[1] - cre_at[0] != width:
        raise ValueError(f"cre_tile_coord [{cre_at[0]}, {cre_at[1]}) has {cre_at[1] - cre_at[0]} "
                         f"bp but cre_tile_seq has {width}")
    positions = list(test_coords)  # the caller's coordinates, as the reference returns them
    for i, (start, end) in enumerate(positions):
        _check_place(start, width, length, f"test_coords[{i}]")
        if int(end) - int(start) != width:
            raise ValueError(f"test_coords[{i}] [{start}, {end}) has {int(end) - int(start)} bp "
                             f"but cre_tile_seq has {width}")
    runner = _Runner(model, length, batch_size, verbose, max(n_value, n_cre))
    shuffled = shuffles.region(tokens, 0, length, num_shuffle)
    shuffles.report()
    shuffled[:, tss[0]:tss[1]] = tokens[tss[0]:tss[1]]
    only_tss = runner.tokens(shuffled).mean()
    with_cre = shuffled.copy()
    with_cre[:, cre_at[0]:cre_at[1]] = cre
    tss_and_cre = runner.tokens(with_cre).mean()
    current = shuffled
    all_mutants, best_signal, order = [], [], []
    progress = _progress(num_copies, "multiplicity copies", verbose, "copy")
    for _ in range(num_copies):
        builder = PlanBuilder()
        bases = [builder.base(s) for s in current]
        cre_src = builder.source(cre)
        for s, base in enumerate(bases):
            for t, (start, end) in enumerate(positions):
                builder.copy(builder.rows(1, base, background=s, position=t), int(start),
                             int(end), cre_src)
        plan = builder.build()
        pred = runner(builder, "multiplicity")
        # float64 as the reference's prediction table, whatever the model returns
        preds = pred.reshape(len(bases), len(positions), -1).astype(np.float64).mean(axis=-1)
        means = preds.mean(axis=0)
        best = int(optimization(means))
        best_signal.append(means[best])
        order.append(positions.pop(best))
        all_mutants.append(preds)
        current = plan.materialize(0, plan.n_rows).reshape(len(bases), len(means), -1)[:, best]
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    return {"only_tss_pred": only_tss, "tss_and_cre_pred": tss_and_cre,
            "best_tss_signal": best_signal, "selected_tile_order": order,
            "all_mutants": all_mutants}


def prune_sequence(model: Any, wt_seq: np.ndarray, control_sequences: np.ndarray, mut: float,
                   whole_tile_start: int, whole_tile_end: int, scales: Sequence[int],
                   thresholds: Sequence[float], frac: float, N_batches: Sequence[int],
                   cre_type: str = "enhancer", *, batch_size: int = 8,
                   verbose: bool | None = None) -> dict:
    """Greedy pruning of a CRE into the sub-tiles that keep its effect (see the reference).

    Returns ``{window: {"scores", "bps", "all_removed_tiles", "insert_coords"}}``.
    """
    if cre_type not in ("enhancer", "silencer"):
        raise ValueError(f"cre_type must be 'enhancer' or 'silencer', got {cre_type!r}")
    wt, n_wt = decode_one_hot(wt_seq, "wt_seq")
    controls, n_controls = decode_one_hot(control_sequences, "control_sequences")
    whole_tile_start, whole_tile_end = _clip([whole_tile_start, whole_tile_end], wt.shape[0],
                                             "[whole_tile_start, whole_tile_end]")
    runner = _Runner(model, wt.shape[0], batch_size, verbose, max(n_wt, n_controls))
    comp = operator.gt if cre_type == "enhancer" else operator.lt
    insert_coords: Any = [[whole_tile_start, whole_tile_end]]
    pruned = controls.copy()
    bps = np.zeros(whole_tile_end - whole_tile_start)
    summary: dict[int, dict[str, Any]] = {}
    progress = _progress(None, "prune steps", verbose, "step")
    for window, threshold, n_batch in zip(scales, thresholds, N_batches):
        summary[window] = {"scores": [], "bps": []}
        step = int(window * frac)
        test_coords: Any = []
        for start, end in insert_coords:
            pruned[:, start:end] = wt[start:end]
            bps[start - whole_tile_start:end - whole_tile_start] = 1
            test_coords += [[s, s + window] for s in range(start, end - step + 1, step)]
        score = runner.tokens(pruned).mean() / mut
        log.info("window %d, threshold %s: starting score %.4f, %d sub-tiles", window,
                 threshold, score, len(test_coords))
        test_coords = np.array(test_coords)
        final = pruned.copy()
        removed_all = np.array([[], []]).T
        while comp(score, threshold) and len(test_coords):
            pruned = final.copy()
            removed_set = {tuple(int(v) for v in r) for r in removed_all}
            test_coords = [c for c in test_coords if tuple(int(v) for v in c) not in removed_set]
            if not test_coords:  # everything pruned: the reference crashes here
                break
            builder = PlanBuilder()
            bases = [builder.base(s) for s in pruned]
            ctrl_src = [builder.source(c) for c in controls]
            for i, (start, end) in enumerate(test_coords):
                for n, base in enumerate(bases):
                    row = builder.rows(1, base, coord=i, background=n)
                    builder.copy(row, start, end, ctrl_src[n] + start)
            pred = runner(builder, "prune")
            results = pred.reshape(len(test_coords), -1).mean(axis=1)
            order = np.argsort(results)
            chosen = order[-n_batch:] if cre_type == "enhancer" else order[:n_batch]
            remove = np.array(test_coords)[chosen]
            removed_all = np.concatenate([removed_all, remove])
            final = pruned.copy()
            for start, end in remove:
                final[:, start:end] = controls[:, start:end]
                bps[start - whole_tile_start:end - whole_tile_start] = 0
            score = runner.tokens(final).mean() / mut
            log.info("%d sub-tiles tested, score %.4f, %d bp kept", len(test_coords), score,
                     bps.sum())
            summary[window]["scores"].append(score)
            summary[window]["bps"].append(bps.sum())
            if progress is not None:
                progress.set_postfix(window=window, score=f"{score:.3f}", bp=int(bps.sum()),
                                     refresh=False)
                progress.update(1)
        summary[window]["all_removed_tiles"] = removed_all
        insert_coords = test_coords.copy()
        summary[window]["insert_coords"] = insert_coords
    if progress is not None:
        progress.close()
    return summary


# ---------------------------------------------------------------------------
# normalisation helpers and tiles
# ---------------------------------------------------------------------------

def context_effect_on_tss(pred_wt: np.ndarray, pred_mut: np.ndarray) -> np.ndarray:
    """``(wt - mut) / wt``."""
    return (pred_wt - pred_mut) / pred_wt


def fold_change_over_control(pred_wt: np.ndarray, pred_mut: np.ndarray, bin_index: Any) -> Any:
    """``mut[bin] / wt[bin]`` (``mut`` one prediction or a stack)."""
    if pred_mut.ndim == 1:
        return pred_mut[bin_index] / pred_wt[bin_index]
    return pred_mut[:, bin_index] / pred_wt[bin_index]


def normalized_tile_effect(pred_wt: np.ndarray, pred_mut: np.ndarray, pred_control: np.ndarray,
                           bin_index: Any) -> np.ndarray:
    """``(mut[:, bin] - control[:, bin]) / wt[bin]`` (the sufficiency normalisation)."""
    return (pred_mut[:, bin_index] - pred_control[:, bin_index]) / pred_wt[bin_index]


def reduce_pred_index(pred: np.ndarray, bin_index: Any) -> np.ndarray:
    """``pred[:, bin]``."""
    return pred[:, bin_index]


def remove_tss_tile(tiles: list, tile_index: int) -> None:
    """Delete ``tiles[tile_index]`` in place (as the reference)."""
    del tiles[tile_index]


def set_tile_range(L: int, window: int) -> tuple[list[int], list[list[np.int64]]]:
    """``(center_tile, other_tiles)``, the paper's layout, typed as the reference's.

    Returns
    -------
    center_tile : list of int
        ``[start, end)`` of the tile centred on ``L // 2``.
    other_tiles : list of [numpy.int64, numpy.int64]
        The tiles to its left and right (numpy integers, as creme-nn returns them).
    """
    layout = tile_layout(L, window)
    return list(layout.tss), [[np.int64(s), np.int64(e)] for s, e in layout.tiles]
