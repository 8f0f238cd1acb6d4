"""Progress of model passes, for a terminal and for a log file.

One reporter for every progress display (the engine's bar in the Python API, a
``creme-fast run`` through :class:`RunProgress`, the demo, ``creme-fast bench``): the
unit is always the *mutant* (one sequence through the model), and the label names
the test and the locus. On a terminal it is a tqdm bar; anywhere else (a pipeline's log file, a
pipe) it writes one plain log line every ``interval`` seconds, and a last one when
it closes, so a log never fills with carriage-return updates. ``TQDM_DISABLE`` (set
to anything but ``0``/``false``/empty) turns progress off, as ``--no-progress`` does.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["DEFAULT_INTERVAL", "Progress", "RunProgress", "format_duration", "progress_allowed"]

log = logging.getLogger("creme_fast.progress")

DEFAULT_INTERVAL = 30.0
UNIT = "mutant"


def progress_allowed(requested: bool = True) -> bool:
    """``requested``, unless the environment disables progress (``TQDM_DISABLE``)."""
    flag = os.environ.get("TQDM_DISABLE", "").strip().lower()
    return bool(requested) and flag in ("", "0", "false", "no", "off")


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 10 min"``."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class Progress:
    """Mutants done out of a total, with rate and ETA.

    Parameters
    ----------
    total : int
        Mutants expected (may be revised with :meth:`set_total`).
    desc : str
        Label: the test, and the locus when there is one (``"necessity geneA"``).
    enabled : bool, default=True
        False (or ``TQDM_DISABLE`` in the environment) shows nothing.
    interval : float, default=30.0
        Seconds between log lines when the output is not a terminal (0: a line
        at every update).
    stream : file, optional
        Where a bar goes and whose ``isatty()`` decides bar versus lines
        (default: ``sys.stderr`` at construction; in a Jupyter kernel, a bar).
    leave : bool, default=True
        Keep the finished bar on the terminal; off a terminal, write a last line
        when closed (False: only if a periodic line was written).
    bar : bool, default=True
        False: log lines even on a terminal (``-q`` with ``--log-file``).
    """

    def __init__(self, total: int, desc: str, *, enabled: bool = True,
                 interval: float = DEFAULT_INTERVAL, stream: TextIO | None = None,
                 leave: bool = True, bar: bool = True) -> None:
        self.total = max(int(total), 0)
        self.n = 0
        self.desc = desc
        self.postfix = ""
        self.interval = float(interval)
        self.enabled = progress_allowed(enabled)
        stream = stream if stream is not None else sys.stderr
        self._start = time.perf_counter()
        self._last_line = self._start
        self._bar: Any = None
        self._closed = False
        self._leave = leave
        self._lines = 0
        if self.enabled and bar and (_isatty(stream) or "ipykernel" in sys.modules):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=UNIT, file=stream, leave=leave,
                             smoothing=0.05, dynamic_ncols=True)

    @property
    def lines(self) -> bool:
        """Whether this reporter writes log lines (not a bar)."""
        return self.enabled and self._bar is None

    def update(self, n: int) -> None:
        """``n`` more mutants done."""
        self.n += int(n)
        if self._bar is not None:
            self._bar.update(n)
        elif self.lines:
            now = time.perf_counter()
            if now - self._last_line >= self.interval:
                self._last_line = now
                self._lines += 1
                log.info("%s", self.line())

    def set_total(self, total: int) -> None:
        self.total = max(int(total), self.n)
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def set_postfix(self, text: str) -> None:
        self.postfix = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)

    def line(self) -> str:
        """The state as one line of text."""
        elapsed = time.perf_counter() - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        eta = (f", ETA {format_duration((self.total - self.n) / rate)}"
               if rate > 0 and self.total > self.n else "")
        extra = f"; {self.postfix}" if self.postfix else ""
        return (f"{self.desc}: {self.n:,}/{self.total:,} {UNIT}s{share}, {rate:,.2f} "
                f"{UNIT}/s, {format_duration(elapsed)} elapsed{eta}{extra}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.lines and (self._leave or self._lines):  # a short engine run: no line
            log.info("%s", self.line())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RunProgress:
    """Progress of a ``creme-fast run`` in mutants over the loci still to run (a
    :class:`Progress`: a bar on a terminal, log lines elsewhere).

    Chunks may come back from other workers, so the count advances as chunk
    results arrive (by the mutants each one reports); a local executor also
    reports each batch as the model finishes it. The total is an estimate: the
    test's mutants per locus (:meth:`creme_fast.assays.spec.TestSpec.expected_mutants`)
    until a locus finishes, then the mean of the loci finished so far (the greedy
    tests decide their passes as they go).

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


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False
