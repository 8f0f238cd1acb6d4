"""Run a GIL-releasing kernel over contiguous chunks of rows in threads."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def chunk_bounds(n_items: int, n_chunks: int) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into at most ``n_chunks`` contiguous, near-equal chunks."""
    n_chunks = max(1, min(n_chunks, n_items))
    edges = np.linspace(0, n_items, n_chunks + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run_chunked(fn: Callable[[int, int], None], n_items: int, n_threads: int) -> None:
    """Call ``fn(begin, end)`` over chunks of ``range(n_items)``.

    With ``n_threads == 1`` everything runs in the calling thread. The kernels
    release the GIL, so chunks run in parallel; the first exception raised by
    any chunk propagates after all chunks have finished.
    """
    bounds = chunk_bounds(n_items, n_threads)
    if len(bounds) <= 1:
        for begin, end in bounds:
            fn(begin, end)
        return
    with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
        futures = [pool.submit(fn, begin, end) for begin, end in bounds]
        for future in futures:
            future.result()
