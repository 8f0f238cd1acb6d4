"""The largest batch a GPU provider can run: cuDNN's element limit and the device's memory.

Two limits that a CPU run never meets, both computed from the graph (shape
inference at batch 1, :mod:`creme_fast.runtime.flops`):

* **Elements.** cuDNN describes a tensor with 32-bit element counts:
  ``cudnnSetTensorNdDescriptor`` returns ``CUDNN_STATUS_NOT_SUPPORTED`` for a
  tensor of 2^31 elements or more, and ONNX Runtime's own CUDA kernels index
  elementwise operations with 32-bit integers. The published Enformer's stem
  makes ``(B, 768, 196,608)`` tensors, 150,994,944 elements per sequence, so at
  most 14 sequences fit in one call (on an H200, batch 12 ran and batch 16 failed
  in ``/body/stem/stem.0/Conv``; benchmarks/RESULTS.md, GPU section).
  :data:`MAX_ELEMENTS` over the graph's largest tensor per sequence is a hard cap.
* **Device memory.** ONNX Runtime's CUDA provider held about 9.1 GiB more device
  memory per sequence of the published Enformer (8.2 GiB at batch 1, 108 GiB at
  batch 12, onnxruntime-gpu 1.31.1 defaults). The graph gives a lower bound, the
  float32 bytes live at once when its nodes run in order (2.34 GiB per sequence
  for that graph); ORT's arena, which grows in powers of two, and cuDNN's
  workspaces come on top. :data:`DEVICE_FACTOR` times the lower bound is the
  estimate per sequence: the factor covers that one measurement at every batch
  measured (device memory / batch / 2.34 GiB: 3.5, 3.9, 4.07 and 3.9 at batch 1,
  4, 8 and 12), so it is an estimate, not a guarantee, for another model or ORT
  version. It is checked against the device's total memory as ``nvidia-smi``
  reports it (not checked where that cannot be read).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.runtime.flops import _load, _shape_only, _shapes
from creme_fast.runtime.providers import GPU_PROVIDERS

log = logging.getLogger(__name__)

__all__ = ["DEVICE_FACTOR", "MAX_ELEMENTS", "GpuBatchLimit", "GraphSizes",
           "device_memory_bytes", "fit_gpu_batch", "gpu_batch_limit", "graph_sizes"]

#: The most elements one tensor may have on a GPU provider (cuDNN's and ORT's int32 counts).
MAX_ELEMENTS = 2**31 - 1
#: Device bytes per sequence over the graph's float32 bytes live at once (measured, see above).
DEVICE_FACTOR = 4.1


@dataclass(frozen=True)
class GraphSizes:
    """A graph's tensor sizes per sequence (at batch 1).

    Attributes
    ----------
    graph : str
        For messages.
    largest_values : int
        Elements of its largest tensor (an input or a node's output).
    largest_tensor : str
        That tensor's name.
    largest_node : str
        ``op_type`` and name of the node making it (empty for an input).
    live_bytes : int
        Float32 bytes live at once at the peak when the nodes run in the graph's
        order (an output lives from its node to its last reader; weights excluded).
    """

    graph: str
    largest_values: int
    largest_tensor: str
    largest_node: str
    live_bytes: int


def graph_sizes(model: str | Path | bytes | Any, inputs: dict[str, tuple[int, ...]],
                graph: str) -> GraphSizes:
    """:class:`GraphSizes` of ``model`` with its inputs at ``inputs`` (batch 1).

    Raises
    ------
    ValueError
        Shape inference left no tensor's size known.
    """
    model = _load(model)
    shapes = _shapes(_shape_only(model, inputs))
    weights = {init.name for init in model.graph.initializer}
    values = {name: int(np.prod(shape)) for name, shape in shapes.items()
              if name not in weights}
    makers = {out: f"{node.op_type} {node.name!r}" for node in model.graph.node
              for out in node.output}
    if not values:
        raise ValueError(f"{graph}: shape inference left every tensor's size unknown")
    largest = max(values, key=lambda name: values[name])
    last_read: dict[str, int] = {}
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            last_read[name] = index
    kept = {out.name for out in model.graph.output}
    live = {name: 4 * values.get(name, 0) for name in inputs}
    current = peak = sum(live.values())
    for index, node in enumerate(model.graph.node):
        for name in node.output:
            if name and name not in live:
                live[name] = 4 * values.get(name, 0)
                current += live[name]
        peak = max(peak, current)
        for name in {*node.input, *node.output}:
            if name in live and name not in kept and last_read.get(name, index) <= index:
                current -= live.pop(name)
    return GraphSizes(graph=graph, largest_values=values[largest], largest_tensor=largest,
                      largest_node=makers.get(largest, ""), live_bytes=peak)


def device_memory_bytes(device_id: int = 0) -> int | None:
    """The GPU's total memory as ``nvidia-smi`` reports it, or None where it cannot.

    ``device_id`` is CUDA's index; where ``CUDA_VISIBLE_DEVICES`` renumbers the
    devices, the entry it names is asked for.
    """
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
               if v.strip()]
    device = visible[device_id] if device_id < len(visible) else str(device_id)
    try:
        text = subprocess.run([tool, "--query-gpu=memory.total", "--format=csv,noheader,nounits",
                               "-i", device], capture_output=True, text=True, timeout=20,
                              check=True).stdout
        return int(float(text.strip().splitlines()[0])) << 20  # MiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        log.debug("nvidia-smi could not report device %s's memory: %s", device, exc)
        return None


@dataclass(frozen=True)
class GpuBatchLimit:
    """The largest batch a GPU session may run, and why.

    Attributes
    ----------
    provider : str
    sizes : GraphSizes
    by_elements : int
        The most sequences whose largest tensor stays within ``max_elements``.
    max_elements : int
    device_bytes : int or None
        The device's total memory (None: unknown, not checked).
    by_memory : int or None
        The most sequences whose estimated device memory fits ``device_bytes``.
    """

    provider: str
    sizes: GraphSizes
    by_elements: int
    max_elements: int
    device_bytes: int | None
    by_memory: int | None

    @property
    def per_sequence_bytes(self) -> int:
        """Estimated device bytes per sequence (:data:`DEVICE_FACTOR` x live bytes)."""
        return int(DEVICE_FACTOR * self.sizes.live_bytes)

    @property
    def largest(self) -> int:
        """The largest batch (at least 1: one sequence is always tried)."""
        limits = [self.by_elements] + ([self.by_memory] if self.by_memory is not None else [])
        return max(min(limits), 1)

    def elements_reason(self) -> str:
        s = self.sizes
        made = f", made by {s.largest_node}" if s.largest_node else ""
        return (f"{s.graph}'s largest tensor {s.largest_tensor!r}{made} has "
                f"{s.largest_values:,} elements per sequence and {self.provider} (cuDNN) "
                f"takes tensors of at most {self.max_elements:,} elements")

    def memory_reason(self) -> str:
        gib = 2**30
        return (f"about {self.per_sequence_bytes / gib:.1f} GiB of device memory per sequence "
                f"(estimated: {DEVICE_FACTOR:g} x the graph's "
                f"{self.sizes.live_bytes / gib:.2f} GiB of float32 tensors live at once) on a "
                f"device of {(self.device_bytes or 0) / gib:.1f} GiB")

    def describe(self, batch_size: int) -> str:
        """Why ``batch_size`` is over the limit."""
        reasons = []
        if batch_size > self.by_elements:
            reasons.append(f"{self.elements_reason()}: {batch_size} x "
                           f"{self.sizes.largest_values:,} = "
                           f"{batch_size * self.sizes.largest_values:,}")
        if self.by_memory is not None and batch_size > self.by_memory:
            reasons.append(self.memory_reason())
        return "; ".join(reasons)


def gpu_batch_limit(sizes: GraphSizes | None, provider: str, device_bytes: int | None, *,
                    max_elements: int = MAX_ELEMENTS) -> GpuBatchLimit | None:
    """The batch limit of a session on ``provider`` (None on a CPU provider or
    without sizes)."""
    if sizes is None or provider not in GPU_PROVIDERS:
        return None
    by_elements = max_elements // max(sizes.largest_values, 1)
    by_memory = None
    if device_bytes is not None and sizes.live_bytes > 0:
        by_memory = int(device_bytes // int(DEVICE_FACTOR * sizes.live_bytes))
    return GpuBatchLimit(provider=provider, sizes=sizes, by_elements=by_elements,
                         max_elements=max_elements, device_bytes=device_bytes,
                         by_memory=by_memory)


def fit_gpu_batch(batch_size: int, limit: GpuBatchLimit | None, *, explicit: bool,
                  option: str = "batch_size") -> int:
    """``batch_size``, or the GPU's largest when it is over it.

    Parameters
    ----------
    batch_size : int
    limit : GpuBatchLimit or None
        None: no GPU limit (a CPU session, or a predictor that is not ONNX Runtime's).
    explicit : bool
        True: refuse a ``batch_size`` over the limit; False: run the largest.
    option : str
        The batch size's name in messages (``--batch-size`` in the CLI).

    Raises
    ------
    ValueError
        An explicit ``batch_size`` over the limit, naming the limit, the tensor
        and the memory estimate behind it.
    """
    if limit is None or batch_size <= limit.largest:
        return batch_size
    why = limit.describe(batch_size)
    if explicit:
        raise ValueError(f"{option} {batch_size} is over the largest batch "
                         f"{limit.provider} can run with this model, {limit.largest}: {why}")
    log.warning("batches of %d are over what %s can run with this model (%s); running "
                "batches of %d", batch_size, limit.provider, why, limit.largest)
    return limit.largest
