"""creme-nn 0.2.5's ``creme.creme`` functions on creme-fast's engine.

Same names, arguments and return structures; the models are creme-nn-style
objects (``model.predict(x)`` on one-hot batches, ``model.seq_length``).
Every function takes two extra keywords: ``rng`` (a
``numpy.random.RandomState`` the dinucleotide shuffles draw from, in
exactly the reference's order, so a reference whose ``dinuc_shuffle`` draws
from a RandomState with the same seed gives the same mutants) and
``batch_size`` (mutants per model call). Shuffles, splicing and one-hot run
natively; the model sees batches instead of one sequence per call.

Deliberate differences from creme-nn 0.2.5
-------------------------------------------
- ``rng=None`` draws from one fresh ``RandomState`` per call; the reference
  makes a fresh, entropy-seeded one for every single shuffle (irreproducible).
- ``distance_test(seed=True)`` seeds background ``n`` with ``RandomState(n)``
  for every ``n``; the reference's ``if seed:`` leaves background 0 unseeded.
- ``sufficiency_test(tile_seq=...)`` works; the reference's ``if tile_seq:``
  raises on an array. With ``return_seqs`` and no tiles it returns an empty
  array instead of failing.
- ``higher_order_interaction_test`` does not remove tiles from the caller's
  list (the reference mutates it); ``num_rounds=0`` means zero rounds, not all.
- ``generate_tile_shuffles`` with an empty tile set returns copies of ``x``
  (the reference returns uninitialised memory).
- ``prune_sequence`` stops when every sub-tile has been pruned (the reference
  crashes on an empty array there), logs its progress instead of printing it, and matches
  already-removed sub-tiles by exact coordinates (the reference's ``in`` on an
  array matches on any equal coordinate, which is the same on its regular grid).
- Inputs must be one-hot with 4 columns; a malformed row raises naming it.
- Models receive float32 one-hot batches (the reference passes the caller's
  dtype); 0/1 values are exact in either. Predictions are kept as float32, so
  results agree with the reference to float32 precision; where the reference
  decides by an exact tie (``higher_order_interaction_test`` with
  ``num_shuffle=2``: both shuffles are equally far from their mean) the tie
  can break the other way.
"""
from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from creme_fast.pipeline import PlanBuilder, run_plan
from creme_fast.runtime.callable import CallablePredictor
from creme_fast.sequence.shuffle import dinuc_shuffle
from creme_fast.sequence.tiles import tile_layout
from creme_fast.sequence.tokens import from_one_hot, one_hot

log = logging.getLogger(__name__)

__all__ = [
    "context_dependence_test", "context_effect_on_tss", "context_swap_test", "distance_test",
    "fold_change_over_control", "generate_tile_shuffles", "higher_order_interaction_test",
    "multiplicity_test", "necessity_test", "normalized_tile_effect", "prune_sequence",
    "reduce_pred_index", "remove_tss_tile", "set_tile_range", "sufficiency_test",
]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _tokens(x: np.ndarray, name: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (2, 3) or x.shape[-1] != 4:
        raise ValueError(f"{name} must be one-hot (L, 4) or (N, L, 4), got shape {x.shape}")
    return from_one_hot(x)


def _rng(rng: np.random.RandomState | None) -> np.random.RandomState:
    return np.random.RandomState() if rng is None else rng


def _full_shuffle(tokens: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    return dinuc_shuffle(tokens, 1, mode="creme", rng=rng)[0]


def _region_shuffle(region: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    return dinuc_shuffle(region, 1, mode="creme", rng=rng)[0]


class _Runner:
    """Predict token plans with a creme-nn-style model, restoring its output shape."""

    def __init__(self, model: Any, length: int, batch_size: int, verbose: bool) -> None:
        self.predictor = CallablePredictor(model, seq_length=length,
                                           name=type(model).__name__)
        self.batch_size = batch_size
        self.verbose = verbose

    def __call__(self, builder: PlanBuilder, desc: str = "mutants") -> np.ndarray:
        plan = builder.build()
        if plan.n_rows == 0:
            return np.zeros((0,), dtype=np.float32)
        pred = run_plan(plan, self.predictor, batch_size=self.batch_size, verbose=self.verbose,
                        desc=desc)
        raw = self.predictor.raw_shape
        if raw is not None and int(np.prod(raw)) == int(np.prod(pred.shape[1:])):
            pred = pred.reshape((pred.shape[0],) + raw)
        return pred

    def tokens(self, seqs: np.ndarray, desc: str = "mutants") -> np.ndarray:
        builder = PlanBuilder()
        builder.rows_of(seqs)
        return self(builder, desc)


def _length(model: Any, x: np.ndarray) -> int:
    return int(getattr(model, "seq_length", x.shape[-2]))


# ---------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------

def context_dependence_test(model: Any, x: np.ndarray, tile_pos: Sequence[int], num_shuffle: int,
                            mean: bool = True, drop_wt: bool = False, *,
                            rng: np.random.RandomState | None = None, batch_size: int = 8,
                            verbose: bool = False) -> tuple:
    """The TSS tile in ``num_shuffle`` dinucleotide-shuffled contexts.

    Returns ``(pred_wt[0], mean, std)`` with ``mean=True``, else ``(pred_wt,
    pred_mut)``; ``pred_wt`` is ``[None]`` with ``drop_wt``.
    """
    tokens, rng = _tokens(x), _rng(rng)
    pred_wt = [None] if drop_wt else model.predict(x[np.newaxis])
    start, end = tile_pos
    builder = PlanBuilder()
    tile = builder.source(tokens[start:end])
    for n in range(num_shuffle):
        row = builder.rows(1, builder.base(_full_shuffle(tokens, rng)), shuffle=n)
        builder.copy(row, start, end, tile)
    pred_mut = _Runner(model, tokens.shape[0], batch_size, verbose)(builder, "context")
    if mean:
        return pred_wt[0], np.mean(pred_mut, axis=0), np.std(pred_mut, axis=0)
    return pred_wt, pred_mut


def context_swap_test(model: Any, x_source: np.ndarray, x_target: np.ndarray,
                      tile_pos: Sequence[int], *, batch_size: int = 8,
                      verbose: bool = False) -> np.ndarray:
    """Target sequences with the source's tile ``[start, end)``; one prediction each."""
    source = _tokens(x_source, "x_source")
    target = _tokens(x_target, "x_target")
    source = source[None] if source.ndim == 1 else source
    target = target[None] if target.ndim == 1 else target
    start, end = tile_pos
    try:
        tiles = np.broadcast_to(source[:, start:end], (target.shape[0], end - start))
    except ValueError:
        raise ValueError(f"{source.shape[0]} source sequences cannot be placed into "
                         f"{target.shape[0]} targets") from None
    builder = PlanBuilder()
    for j in range(target.shape[0]):
        row = builder.rows(1, builder.base(target[j]), target=j)
        builder.copy(row, start, end, builder.source(tiles[j]))
    return _Runner(model, target.shape[1], batch_size, verbose)(builder, "swap")


def generate_tile_shuffles(x: np.ndarray, tile_set: Sequence[Sequence[int]], num_shuffle: int, *,
                           rng: np.random.RandomState | None = None) -> np.ndarray:
    """``num_shuffle`` copies of ``x`` with every tile of ``tile_set`` shuffled in turn.

    Returns float64 one-hot ``(num_shuffle, L, 4)``.
    """
    tokens, rng = _tokens(x), _rng(rng)
    out = np.tile(tokens, (num_shuffle, 1))
    for n in range(num_shuffle):
        for start, end in tile_set:
            out[n, start:end] = _region_shuffle(out[n, start:end], rng)
    return one_hot(out, dtype=np.float64)


def necessity_test(model: Any, x: np.ndarray, tiles: Sequence[Sequence[int]], num_shuffle: int,
                   mean: bool = True, return_seqs: bool = False, *,
                   rng: np.random.RandomState | None = None, batch_size: int = 8,
                   verbose: bool = False) -> list:
    """Shuffle each tile ``num_shuffle`` times in the wild type.

    Returns ``[pred_wt, mean, std]`` or ``[pred_wt, pred_mut]`` (pred_mut:
    ``(n_tiles, num_shuffle, ...)``), plus the float64 mutants with ``return_seqs``.
    """
    tokens, rng = _tokens(x), _rng(rng)
    pred_wt = model.predict(x[np.newaxis])
    builder = PlanBuilder()
    base = builder.base(tokens)
    for t, (start, end) in enumerate(tiles):
        for n in range(num_shuffle):
            row = builder.rows(1, base, tile=t, shuffle=n)
            builder.copy(row, start, end, builder.source(_region_shuffle(tokens[start:end], rng)))
    runner = _Runner(model, tokens.shape[0], batch_size, verbose)
    pred = runner(builder, "necessity")
    pred_mut = pred.reshape((len(tiles), num_shuffle) + pred.shape[1:])
    result = ([pred_wt, np.mean(pred_mut, axis=1), np.std(pred_mut, axis=1)] if mean
              else [pred_wt, pred_mut])
    if return_seqs:
        plan = builder.build()
        seqs = plan.materialize(0, plan.n_rows) if plan.n_rows else np.zeros((0, len(tokens)),
                                                                               np.uint8)
        result.append(one_hot(seqs, dtype=np.float64).reshape(
            len(tiles), num_shuffle, len(tokens), 4))
    return result


def sufficiency_test(model: Any, x: np.ndarray, tss_tile: Sequence[int],
                     tiles: Sequence[Sequence[int]], num_shuffle: int,
                     tile_seq: np.ndarray | None = None, mean: bool = True,
                     return_seqs: bool = False, *, rng: np.random.RandomState | None = None,
                     batch_size: int = 8, verbose: bool = False) -> list:
    """Each tile with the TSS tile in fresh shuffled backgrounds.

    Returns ``[pred_wt[0], mean_mut, std_mut, mean_control, std_control]`` or
    ``[pred_wt, pred_mut, pred_control]``, plus the last tile's control
    sequences with ``return_seqs`` (as the reference).
    """
    tokens, rng = _tokens(x), _rng(rng)
    pred_wt = model.predict(x[np.newaxis])
    insert = None if tile_seq is None else _tokens(tile_seq, "tile_seq")
    builder = PlanBuilder()
    tss_src = builder.source(tokens[tss_tile[0]:tss_tile[1]])
    wt_src = builder.source(tokens)
    insert_src = None if insert is None else builder.source(insert)
    last_controls: list[int] = []
    for t, (start, end) in enumerate(tiles):
        last_controls = []
        for n in range(num_shuffle):
            base = builder.base(_full_shuffle(tokens, rng))
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
    plan = builder.build()
    pred = _Runner(model, tokens.shape[0], batch_size, verbose)(builder, "sufficiency")
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
        result.append(one_hot(seqs, dtype=np.float64))
    return result


def distance_test(model: Any, x: np.ndarray, tile_fixed_coord: Sequence[int],
                  tile_var_coord: Sequence[int], test_positions: Sequence[int], num_shuffle: int,
                  mean: bool = True, seed: bool = False, *,
                  rng: np.random.RandomState | None = None, batch_size: int = 8,
                  verbose: bool = False) -> dict:
    """The variable tile at each test position, the fixed tile in place.

    Returns ``{"mean_control", "std_control", "mean_mut", "std_mut"}`` or
    ``{"control", "mut"}``. With ``seed=True`` background ``n`` is
    ``RandomState(n)``'s shuffle at every position.
    """
    tokens, rng = _tokens(x), _rng(rng)
    fixed = tuple(tile_fixed_coord)
    var = tuple(tile_var_coord)
    width = var[1] - var[0]
    builder = PlanBuilder()
    fixed_src = builder.source(tokens[fixed[0]:fixed[1]])
    var_src = builder.source(tokens[var[0]:var[1]])
    seeded = ([builder.base(_full_shuffle(tokens, np.random.RandomState(n)))
               for n in range(num_shuffle)] if seed else None)

    def background(n: int) -> int:
        return seeded[n] if seeded is not None else builder.base(_full_shuffle(tokens, rng))

    for n in range(num_shuffle):
        row = builder.rows(1, background(n), position=-1, shuffle=n)
        builder.copy(row, fixed[0], fixed[1], fixed_src)
        builder.copy(row, var[0], var[1], var_src)
    for p, start in enumerate(test_positions):
        for n in range(num_shuffle):
            row = builder.rows(1, background(n), position=p, shuffle=n)
            builder.copy(row, fixed[0], fixed[1], fixed_src)
            builder.copy(row, int(start), int(start) + width, var_src)
    pred = _Runner(model, tokens.shape[0], batch_size, verbose)(builder, "distance")
    control = pred[:num_shuffle]
    mut = pred[num_shuffle:].reshape((len(test_positions), num_shuffle) + pred.shape[1:])
    if mean:
        return {"mean_control": np.mean(control, axis=0), "std_control": np.std(control, axis=0),
                "mean_mut": np.mean(mut, axis=1), "std_mut": np.std(mut, axis=1)}
    return {"control": control, "mut": mut}


def higher_order_interaction_test(model: Any, x: np.ndarray,
                                  cre_tiles_to_test: Sequence[Sequence[int]],
                                  optimization: Callable[[np.ndarray], Any],
                                  num_shuffle: int = 10, num_rounds: int | None = None, *,
                                  rng: np.random.RandomState | None = None, batch_size: int = 8,
                                  verbose: bool = False) -> dict:
    """Greedy search over tile shuffles (``optimization``: ``np.argmin`` or ``np.argmax``).

    Returns ``{round: {"initial_pred", "preds", "selected_tile",
    "selected_mean_pred"}}`` as the reference.
    """
    rng = _rng(rng)
    tiles = [list(t) for t in cre_tiles_to_test]
    num_rounds = len(tiles) if num_rounds is None else int(num_rounds)
    current = x
    summary: dict[int, dict[str, Any]] = {}
    for r in range(num_rounds):
        pred_wt, pred_mut, all_muts = necessity_test(model, current, tiles, num_shuffle, False,
                                                     True, rng=rng, batch_size=batch_size,
                                                     verbose=verbose)
        per_tile = pred_mut[..., 0].mean(-1)
        per_tile_mean = per_tile.mean(axis=-1)
        chosen = int(optimization(per_tile_mean))
        best = per_tile[chosen]
        summary[r] = {"initial_pred": pred_wt.mean(), "preds": per_tile,
                      "selected_tile": tiles[chosen],
                      "selected_mean_pred": per_tile_mean[chosen]}
        current = all_muts[chosen, int(np.argmin(np.abs(best - per_tile_mean[chosen])))]
        del tiles[chosen]
    return summary


def multiplicity_test(model: Any, x: np.ndarray, tss_tile_coord: Sequence[int],
                      cre_tile_coord: Sequence[int], cre_tile_seq: np.ndarray,
                      test_coords: Sequence[Sequence[int]], num_shuffle: int, num_copies: int,
                      optimization: Callable[[np.ndarray], Any], *,
                      rng: np.random.RandomState | None = None, batch_size: int = 8,
                      verbose: bool = False) -> dict:
    """Copies of a CRE inserted one at a time at the greedily best position.

    Returns ``{"only_tss_pred", "tss_and_cre_pred", "best_tss_signal",
    "selected_tile_order", "all_mutants"}`` as the reference.
    """
    tokens, rng = _tokens(x), _rng(rng)
    cre = _tokens(cre_tile_seq, "cre_tile_seq")
    runner = _Runner(model, tokens.shape[0], batch_size, verbose)
    shuffled = dinuc_shuffle(tokens, num_shuffle, mode="creme", rng=rng)
    shuffled[:, tss_tile_coord[0]:tss_tile_coord[1]] = tokens[tss_tile_coord[0]:tss_tile_coord[1]]
    only_tss = runner.tokens(shuffled).mean()
    with_cre = shuffled.copy()
    with_cre[:, cre_tile_coord[0]:cre_tile_coord[1]] = cre
    tss_and_cre = runner.tokens(with_cre).mean()
    positions = [list(p) for p in test_coords]
    current = shuffled
    all_mutants, best_signal, order = [], [], []
    for _ in range(num_copies):
        builder = PlanBuilder()
        bases = [builder.base(s) for s in current]
        cre_src = builder.source(cre)
        for s, base in enumerate(bases):
            for t, (start, end) in enumerate(positions):
                builder.copy(builder.rows(1, base, background=s, position=t), start, end, cre_src)
        plan = builder.build()
        pred = runner(builder, "multiplicity")
        preds = pred.reshape(len(bases), len(positions), -1).mean(axis=-1)
        means = preds.mean(axis=0)
        best = int(optimization(means))
        best_signal.append(means[best])
        order.append(positions.pop(best))
        all_mutants.append(preds)
        current = plan.materialize(0, plan.n_rows).reshape(len(bases), len(means), -1)[:, best]
    return {"only_tss_pred": only_tss, "tss_and_cre_pred": tss_and_cre,
            "best_tss_signal": best_signal, "selected_tile_order": order,
            "all_mutants": all_mutants}


def prune_sequence(model: Any, wt_seq: np.ndarray, control_sequences: np.ndarray, mut: float,
                   whole_tile_start: int, whole_tile_end: int, scales: Sequence[int],
                   thresholds: Sequence[float], frac: float, N_batches: Sequence[int],
                   cre_type: str = "enhancer", *, batch_size: int = 8,
                   verbose: bool = False) -> dict:
    """Greedy pruning of a CRE into the sub-tiles that keep its effect (see the reference).

    Returns ``{window: {"scores", "bps", "all_removed_tiles", "insert_coords"}}``.
    """
    if cre_type not in ("enhancer", "silencer"):
        raise ValueError(f"cre_type must be 'enhancer' or 'silencer', got {cre_type!r}")
    wt = _tokens(wt_seq, "wt_seq")
    controls = _tokens(control_sequences, "control_sequences")
    runner = _Runner(model, wt.shape[0], batch_size, verbose)
    comp = operator.gt if cre_type == "enhancer" else operator.lt
    insert_coords: Any = [[whole_tile_start, whole_tile_end]]
    pruned = controls.copy()
    bps = np.zeros(whole_tile_end - whole_tile_start)
    summary: dict[int, dict[str, Any]] = {}
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
        summary[window]["all_removed_tiles"] = removed_all
        insert_coords = test_coords.copy()
        summary[window]["insert_coords"] = insert_coords
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


def set_tile_range(L: int, window: int) -> tuple[list[int], list[list[int]]]:
    """``(center_tile, other_tiles)`` as lists, the paper's layout."""
    layout = tile_layout(L, window)
    return list(layout.tss), [[int(s), int(e)] for s, e in layout.tiles]
