"""Where a design's dinucleotide shuffles come from, and the shuffled backgrounds
several designs share."""
from __future__ import annotations

from typing import Any

import numpy as np

from creme_fast.pipeline.plan import PlanBuilder, stream_keys
from creme_fast.sequence.shuffle import dinuc_shuffle

__all__ = ["KIND_BACKGROUND", "KIND_CONTEXT", "KIND_GREEDY", "KIND_NECESSITY", "ShuffleSource",
           "add_backgrounds"]

# stream kinds: a mutant's shuffles are keyed by (locus, kind, ...indices)
KIND_CONTEXT, KIND_NECESSITY, KIND_BACKGROUND, KIND_GREEDY = 1, 2, 3, 4


class ShuffleSource:
    """Where a design's dinucleotide shuffles come from.

    ``"fast"``/``"uniform"``: native streams keyed by (seed, locus, ...), drawn
    inside the splice kernel (parallel, batch-invariant). ``"creme"``: drawn
    from ``rng`` (a RandomState) in creme-nn's algorithm, in the order the
    plan is built and once per stream key (so shared backgrounds are shared);
    for parity with creme-nn, not for speed. A source is used by one run of one
    design (it remembers what it drew); :mod:`creme_fast.compat` overrides
    :meth:`draw` to draw exactly as creme-nn's functions do.
    """

    def __init__(self, mode: str, rng: Any = None) -> None:
        if mode not in ("fast", "uniform", "creme"):
            raise ValueError(f"shuffle must be 'fast', 'uniform' or 'creme', got {mode!r}")
        self.mode = mode
        self.rng = None
        if mode == "creme":
            self.rng = rng if rng is not None else np.random.RandomState()
        self._drawn: dict[int, int] = {}

    def draw(self, tokens: np.ndarray, start: int, end: int) -> np.ndarray:
        """One creme-mode shuffle of ``tokens[start:end]``."""
        return dinuc_shuffle(tokens[start:end], 1, mode="creme", rng=self.rng)[0]

    def apply(self, builder: PlanBuilder, rows: np.ndarray, start: Any, end: Any,
              keys: np.ndarray, tokens: np.ndarray) -> None:
        """Shuffle ``[start, end)`` of ``rows`` (whose current content is ``tokens``)."""
        if self.mode != "creme":
            builder.shuffle(rows, start, end, keys, self.mode)
            return
        rows, start, end, keys = np.broadcast_arrays(np.asarray(rows), np.asarray(start),
                                                     np.asarray(end), np.asarray(keys))
        for row, s, e, key in zip(rows.ravel(), start.ravel(), end.ravel(), keys.ravel()):
            if int(key) not in self._drawn:
                self._drawn[int(key)] = builder.source(self.draw(tokens, int(s), int(e)))
            builder.copy(row, s, e, self._drawn[int(key)])


def add_backgrounds(builder: Any, source: ShuffleSource, base: int, seq: np.ndarray,
                    locus_key: int, background: int, num_shuffles: int,
                    tss: tuple[int, int], tss_src: int, **labels: Any) -> np.ndarray:
    """``num_shuffles`` rows of ``seq`` dinucleotide-shuffled whole (background set
    ``background`` of the locus), with the TSS tile put back; returns the rows."""
    shuffles = np.arange(num_shuffles)
    rows = builder.rows(num_shuffles, base, shuffle=shuffles, **labels)
    source.apply(builder, rows, 0, seq.shape[0],
                 stream_keys(locus_key, KIND_BACKGROUND, background, shuffles), seq)
    builder.copy(rows, tss[0], tss[1], tss_src)
    return rows
