"""The model's working memory per sequence, measured while the export verifies it.

ONNX Runtime holds, beside the weights, the activations of the batch it runs
(for Enformer on a CPU, gigabytes per sequence: far more than the engine's
input buffers). The export runs each graph at batch 1 and then batch 2 in a
CPU session like the runtime's, and records the peak resident-memory growth of
each run over the resident set before the first (``batch_1``, ``batch_2``).
The linear model through those two points, ``fixed + B * per_sequence``, is
what :func:`creme_fast.pipeline.memory.model_working_bytes` charges a batch of
``B``. The figures are CPU figures; a GPU's device memory is not measured.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from creme_fast.export.stages import PeakGrowth

log = logging.getLogger(__name__)

__all__ = ["VERIFY_CHUNK", "linear_entry", "run_measured", "session_options",
           "working_memory_entry"]

#: Sequences per verification run: the smallest batch that exercises the batch axis.
VERIFY_CHUNK = 2
METHOD = ("peak resident-memory growth of an ONNX Runtime CPU session run (no arena: what "
          "the run allocates), measured at export time")


def session_options() -> Any:
    """SessionOptions of the export's verification sessions.

    No memory arena: ONNX Runtime allocates each run's activations (one block
    when the memory pattern is on) from the heap and frees them after the run,
    so a measured growth is what the run needs (an arena growing in powers of
    two held 6.3 GiB for the published Enformer's batch 2, which needs 3.4), and
    nothing is held between the measured runs or into the next stage. The
    runtime's shared arena (:func:`creme_fast.runtime.session_options.share_cpu_arena`)
    grows by what is requested, so a run at a fixed batch size needs about the
    same. No prepacked second copy of the weights (the same kernels run either way).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.enable_cpu_mem_arena = False
    so.add_session_config_entry("session.disable_prepacking", "1")
    return so


def linear_entry(batch_1: int, batch_2: int | None) -> dict[str, int]:
    """``batch_1``/``batch_2`` growths and the line through them (per_sequence >= 0).

    With only ``batch_1`` measured, the whole of it is charged per sequence (an
    upper bound for any batch: no part is assumed shared).
    """
    if batch_2 is None:
        return {"batch_1": int(batch_1), "fixed": 0, "per_sequence": int(batch_1)}
    per = max(int(batch_2) - int(batch_1), 0)
    return {"batch_1": int(batch_1), "batch_2": int(batch_2),
            "fixed": max(int(batch_1) - per, 0), "per_sequence": per}


def run_measured(session: Any, input_name: str, batch: np.ndarray,
                 chunk: int = VERIFY_CHUNK) -> tuple[np.ndarray, dict[str, int]]:
    """Run ``batch`` in chunks of ``chunk``, measuring batch 1 and batch 2 first.

    The first sequence runs alone (measured), then the batch in chunks whose
    first (batch 2, measured) and following ones give the outputs returned.

    Returns
    -------
    outputs : numpy.ndarray of float32
        The session's first output for every sequence of ``batch``.
    entry : dict
        :func:`linear_entry` of the two growths, in bytes.
    """
    with PeakGrowth() as one:
        session.run(None, {input_name: batch[:1]})
    outputs = []
    with PeakGrowth() as two:
        outputs.append(session.run(None, {input_name: batch[:chunk]})[0])
    for lo in range(chunk, len(batch), chunk):
        outputs.append(session.run(None, {input_name: batch[lo:lo + chunk]})[0])
    two_bytes = max(two.peak - one.start, 0)  # over the resident set before batch 1
    entry = linear_entry(one.bytes, two_bytes if len(batch) >= 2 else None)
    log.info("working memory: %.2f GiB at batch 1, %.2f GiB at batch 2", one.bytes / 2**30,
             two_bytes / 2**30)
    return np.asarray(np.concatenate(outputs), dtype=np.float32), entry


def working_memory_entry(memory: dict[str, Any]) -> dict[str, Any]:
    """The metadata entry: the graphs' measured growths (bytes) and how they were taken."""
    return {"method": METHOD, **memory}
