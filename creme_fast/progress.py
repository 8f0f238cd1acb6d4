"""Progress of model passes, for a terminal and for a log file.

One reporter for every progress display (the engine's bar in the Python API, a
``creme-fast run``, the demo, ``creme-fast bench``): the unit is always the
*mutant* (one sequence through the model), and the label names the test and the
locus. On a terminal it is a tqdm bar; anywhere else (a pipeline's log file, a
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

__all__ = ["DEFAULT_INTERVAL", "Progress", "format_duration", "progress_allowed"]

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


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False
