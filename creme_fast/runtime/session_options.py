"""ONNX Runtime session options of the runtime's sessions (main graph and pieces).

One place for every setting that decides CPU speed, so a benchmark or a profile
can build exactly the sessions the runtime builds.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["runtime_session_options", "share_cpu_arena"]


def share_cpu_arena(ort: Any) -> bool:
    """Register one CPU arena in ONNX Runtime's environment, for every CPU session.

    ORT keeps one environment per process; sessions created with
    ``session.use_env_allocators`` allocate from this arena, so an export's main
    graph, trunk and tower (loaded together) peak at the largest one's working
    memory rather than the sum. The arena grows by what is asked
    (``kSameAsRequested``), not by powers of two. Returns False where this ORT
    cannot (the sessions then keep their own arenas).
    """
    try:
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                 ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))
    except (AttributeError, RuntimeError) as exc:  # an old ORT, or a build without it
        log.debug("no shared CPU arena: %s", exc)
        return False
    return True


def runtime_session_options(ort: Any, *, threads: int | None, mem_pattern: bool | None = None,
                            on_cpu: bool = True) -> Any:
    """The ``SessionOptions`` of a runtime session.

    Parameters
    ----------
    ort : module
        ``onnxruntime``.
    threads : int, optional
        Intra-op threads; None: ONNX Runtime's default.
    mem_pattern : bool, optional
        ORT's memory pattern: after a session's first run, one block planned
        for its input shape holds every intermediate tensor. None: off on the
        CPU, ORT's default (on) elsewhere. On the CPU with it, the published
        Enformer's second full pass took 13.7-19.4 s instead of 10.5 s on a
        2-core VM (it faulted in 1.8 GB of fresh pages and its elementwise
        operators ran up to 12x slower); without it every pass reuses the
        arena's memory (benchmarks/RESULTS.md, issue 33). The incremental
        pieces, whose shapes vary, ran a batch of 8 tower rows 1.3x slower per
        row with it (issue 23).
    on_cpu : bool, default=True
        The session runs on the CPU provider: it allocates from the process's
        shared CPU arena (issue 17).

    Returns
    -------
    onnxruntime.SessionOptions
    """
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.enable_mem_pattern = (not on_cpu) if mem_pattern is None else bool(mem_pattern)
    if threads is not None:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    if on_cpu and share_cpu_arena(ort):
        # one process-wide arena for the main graph and the pieces (issue 17)
        so.add_session_config_entry("session.use_env_allocators", "1")
    return so
