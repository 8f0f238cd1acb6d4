"""Progress of a run in mutants (model passes): done, rate and ETA across the run.

Chunks may come back from other workers, so the count advances as chunk results
arrive (by the mutants each one reports); a local executor also reports each
batch as the model finishes it. The total is an estimate: the formula of the
test until a locus finishes, then the mean of the loci finished so far (the
greedy tests decide their passes as they go).
"""
from __future__ import annotations

from typing import Any

from creme_fast.progress import DEFAULT_INTERVAL, Progress
from creme_fast.runs.steps import StepConfig
from creme_fast.sequence.tiles import tile_layout

__all__ = ["RunProgress", "expected_mutants"]


def expected_mutants(test: str, config: StepConfig, length: int) -> int:
    """Model passes one locus of ``test`` takes (exact for the one-plan tests, an
    estimate for higher-order, multiplicity and fine-tile)."""
    if test == "activity":
        return 1
    tiles = len(tile_layout(length, config.tile_size).tiles)
    shuffles = config.num_shuffles
    if test == "context":
        return 1 + shuffles
    if test == "necessity":
        return 1 + tiles * shuffles
    if test in ("sufficiency", "distance"):
        return 1 + (1 + tiles) * shuffles if test == "sufficiency" else (1 + tiles) * shuffles
    if test == "higher-order":
        return 1 + sum(max(tiles - r, 0) for r in range(config.rounds)) * shuffles
    if test == "multiplicity":
        return 2 * shuffles + sum(max(tiles - c, 0) for c in range(5)) * shuffles
    return (2 + 2 * tiles) * shuffles  # fine-tile: depends on how much is pruned


class RunProgress:
    """Progress of a run in mutants over the loci still to run (a
    :class:`creme_fast.progress.Progress`: a bar on a terminal, log lines elsewhere).

    Parameters
    ----------
    n_loci : int
        Loci to run.
    per_locus : int
        The formula's mutants per locus (replaced by the observed mean).
    desc : str
        The test.
    enabled : bool
    interval : float, default=30.0
        Seconds between progress lines when stderr is not a terminal.
    bar : bool, default=True
        False: log lines even on a terminal.
    """

    def __init__(self, n_loci: int, per_locus: int, desc: str, enabled: bool,
                 interval: float = DEFAULT_INTERVAL, bar: bool = True) -> None:
        self.left = n_loci
        self.n_loci = n_loci
        self.position = 0  # loci started or skipped so far: "gene GATA2 12/200"
        self.per_locus = max(int(per_locus), 1)
        self.finished_loci = 0
        self.finished_mutants = 0
        self.in_flight = 0  # mutants reported batch by batch, not yet in a finished chunk
        self.running = ""
        self.bar = Progress(n_loci * self.per_locus, desc, enabled=enabled, interval=interval,
                            bar=bar)
        self._set_postfix()

    def started(self, names: list[str]) -> None:
        """The loci of a chunk that starts now (named on the bar until the next), as
        ``gene GATA2 12/200`` or ``genes GATA2..MYC 12-19/200``."""
        first, self.position = self.position + 1, self.position + len(names)
        self.running = (f"gene {names[0]} {first}/{self.n_loci}" if len(names) == 1 else
                        f"genes {names[0]}..{names[-1]} {first}-{self.position}/{self.n_loci}"
                        if names else "")
        self._set_postfix()

    def batch(self, n: int) -> None:
        """``n`` mutants predicted in this process."""
        self.in_flight += n
        self.bar.update(n)

    def loci_done(self, n_loci: int, mutants: int) -> None:
        """A chunk of ``n_loci`` loci finished after ``mutants`` model passes."""
        self.left -= n_loci
        self.finished_loci += n_loci
        self.finished_mutants += mutants
        self.bar.update(max(mutants - self.in_flight, 0))
        self.in_flight = 0
        self._retotal()

    def skipped(self, n_loci: int) -> None:
        """``n_loci`` loci that will not run (their window could not be read)."""
        self.left -= n_loci
        self.position += n_loci
        self._retotal()

    def _retotal(self) -> None:
        mean = (self.finished_mutants / self.finished_loci if self.finished_mutants
                else self.per_locus)
        self.bar.set_total(int(self.finished_mutants + self.left * mean))
        self._set_postfix()

    def _set_postfix(self) -> None:
        running = f"{self.running}; " if self.running and self.left > 0 else ""
        self.bar.set_postfix(f"{running}{self.finished_loci} loci done, {self.left} left")

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
