"""Time and resident memory of the export's stages, logged as each one ends.

A background thread samples the process's resident set size (``/proc/self/statm``)
every few milliseconds, so each stage reports its own peak; the process's
high-water mark (``VmHWM``, what ``/usr/bin/time -v`` reports as "Maximum resident
set size") is logged beside it. Off Linux only the high-water mark from
``getrusage`` is known.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["PeakGrowth", "StageLog", "current_rss", "peak_rss", "release_free_heap"]

_STATM = Path("/proc/self/statm")
_STATUS = Path("/proc/self/status")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def release_free_heap() -> None:
    """Hand freed heap memory back to the system (glibc ``malloc_trim``; no-op elsewhere),
    so that a measured growth is memory newly needed, not freed memory reused."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def current_rss() -> int | None:
    """Resident bytes of this process now (None where unknown)."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def peak_rss() -> int:
    """The process's peak resident bytes so far (VmHWM, else ru_maxrss)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) << 10
    except (OSError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) << 10


class StageLog:
    """Log each stage's wall time and peak resident memory; keep them for the metadata.

    Use as a context manager around the whole export; call :meth:`done` at the
    end of each stage.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.stages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stage_peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = time.perf_counter()

    def __enter__(self) -> StageLog:
        self._clock = time.perf_counter()
        self._stage_peak = current_rss() or 0
        if current_rss() is not None:
            self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = current_rss() or 0
            with self._lock:
                self._stage_peak = max(self._stage_peak, rss)

    def done(self, stage: str) -> None:
        """End ``stage``: log its time, its peak and the process's peak so far."""
        now = time.perf_counter()
        release_free_heap()
        rss = current_rss() or 0
        with self._lock:
            stage_peak = max(self._stage_peak, rss)
            self._stage_peak = rss
        process_peak = peak_rss()
        entry = {"stage": stage, "seconds": round(now - self._clock, 2),
                 "peak_rss_bytes": stage_peak if self._thread else None,
                 "rss_after_bytes": rss if self._thread else None,
                 "process_peak_bytes": process_peak}
        self.stages.append(entry)
        gib = 2 ** 30
        if self._thread:
            log.info("%s done in %.1f s; peak resident %.2f GiB during it, %.2f GiB after, "
                     "process peak so far %.2f GiB", stage, now - self._clock, stage_peak / gib,
                     rss / gib, process_peak / gib)
        else:
            log.info("%s done in %.1f s; process peak so far %.2f GiB", stage,
                     now - self._clock, process_peak / gib)
        self._clock = now


class PeakGrowth:
    """Peak resident-memory growth of a block, sampled every ``interval`` seconds.

    ``with PeakGrowth() as g: session.run(...)`` then ``g.bytes`` is the block's
    peak resident set minus the resident set when it began, ``g.start`` and
    ``g.peak`` the two (0 where unknown).
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.bytes = 0
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakGrowth:
        release_free_heap()
        start = current_rss()
        if start is not None:
            self.start = self.peak = start
            self._thread = threading.Thread(target=self._sample, name="rss-growth", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, current_rss() or 0)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.peak = max(self.peak, current_rss() or 0)
            self.bytes = self.peak - self.start
