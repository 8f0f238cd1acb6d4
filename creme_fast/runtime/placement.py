"""Where ONNX Runtime placed a session's nodes: nodes and FLOPs per execution provider.

A session that reports ``CUDAExecutionProvider`` may still run some nodes on the
CPU (an operator or a dtype the GPU provider has no kernel for), and every such
node copies activations between host and device: a GPU run at CPU speed, with
no error. The placement is read from the session's own assignment: ONNX Runtime
records it when the session option :data:`RECORD_ASSIGNMENT` is set and returns
it from ``InferenceSession.get_provider_graph_assignment_info`` (ONNX Runtime's
documented way to detect a provider fallback). It is taken after ORT's basic
optimisations (constant folding) and before its fusions, so node names are the
graph's own and each node's cost is counted from the graph
(:mod:`creme_fast.runtime.flops`).

ONNX Runtime puts shape arithmetic (``Shape -> Gather -> Concat`` chains on a
few integers) on the CPU on purpose; a CPU node whose outputs hold at most
:data:`SHAPE_VALUES` values and that does no multiply-add is counted as that,
not as model work.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from creme_fast.runtime.flops import NodeCost, node_costs
from creme_fast.runtime.providers import CPU

log = logging.getLogger(__name__)

__all__ = ["CpuNodesError", "MAX_CPU_FLOP_SHARE", "Placement", "RECORD_ASSIGNMENT",
           "SHAPE_VALUES", "check_placement", "input_shapes", "placement_of",
           "record_assignment", "session_assignment"]

#: The session option that makes ONNX Runtime record which provider runs each node.
RECORD_ASSIGNMENT = "session.record_ep_graph_assignment_info"
#: Above this share of the graph's FLOPs on the CPU, a GPU session warns (or refuses).
MAX_CPU_FLOP_SHARE = 0.01
#: A CPU node producing at most this many values (at batch 1) and no FLOPs is shape
#: arithmetic, which ONNX Runtime keeps on the CPU by design.
SHAPE_VALUES = 1024


class CpuNodesError(ValueError):
    """A GPU provider was asked for by name, and the CPU would run part of the model."""


@dataclass(frozen=True)
class Placement:
    """Nodes and FLOPs per provider of one session (at batch 1 unless its batch is fixed).

    Attributes
    ----------
    graph : str
        The graph's file, for messages.
    nodes : dict of str to int
        Nodes per provider.
    flops : dict of str to float
        FLOPs per provider (2 per multiply-add).
    cpu_work : list of tuple
        ``(name, op_type, flops, values)`` of each CPU node that does model work
        (FLOPs, or an output of more than :data:`SHAPE_VALUES` values, or one of
        unknown size).
    costs_known : str
        Empty when every node's cost was counted; else why not.
    batch : int
        The batch size the costs are counted at (1, or a fixed batch).
    """

    graph: str
    nodes: dict[str, int]
    flops: dict[str, float]
    cpu_work: list[tuple[str, str, float, int | None]] = field(default_factory=list)
    costs_known: str = ""
    batch: int = 1

    @property
    def total_flops(self) -> float:
        return float(sum(self.flops.values()))

    @property
    def cpu_flop_share(self) -> float:
        """The CPU's share of the counted FLOPs (0 when nothing was counted)."""
        total = self.total_flops
        return self.flops.get(CPU, 0.0) / total if total else 0.0

    def describe(self) -> str:
        """One line: nodes and FLOPs per provider, then what the CPU runs."""
        total = self.total_flops
        parts = []
        for provider, count in self.nodes.items():
            flops = self.flops.get(provider, 0.0)
            share = f" ({100 * flops / total:.1f}%)" if total else ""
            parts.append(f"{provider} {count} nodes, {flops / 1e9:,.3f} GFLOP{share}")
        text = f"{self.graph}: node placement at batch {self.batch}: {'; '.join(parts)}"
        shape_nodes = self.nodes.get(CPU, 0) - len(self.cpu_work)
        if shape_nodes:
            text += f"; {shape_nodes} CPU node(s) are shape arithmetic"
        if self.costs_known:
            text += f"; costs not counted ({self.costs_known})"
        return text

    def problems(self, max_cpu_flop_share: float = MAX_CPU_FLOP_SHARE) -> list[str]:
        """Why this placement is not a GPU run: empty when it is one.

        Only meaningful for a session whose first provider is a GPU one.
        """
        out = []
        if self.cpu_flop_share > max_cpu_flop_share:
            out.append(f"{100 * self.cpu_flop_share:.1f}% of the graph's FLOPs run on the CPU "
                       f"(more than {100 * max_cpu_flop_share:g}%)")
        if self.cpu_work:
            ops: dict[str, int] = {}
            for _, op_type, _, _ in self.cpu_work:
                ops[op_type] = ops.get(op_type, 0) + 1
            listed = ", ".join(f"{n} {op}" for op, n in sorted(ops.items(), key=lambda kv: -kv[1]))
            first = self.cpu_work[0]
            out.append(f"{len(self.cpu_work)} node(s) doing model work run on the CPU ({listed}; "
                       f"e.g. {first[1]} node {first[0]!r}), each copying activations between "
                       "the GPU and the host")
        return out


def record_assignment(options: Any) -> None:
    """Ask ONNX Runtime to record which provider runs each node (a session option)."""
    options.add_session_config_entry(RECORD_ASSIGNMENT, "1")


def session_assignment(session: Any) -> dict[str, list[tuple[str, str]]] | None:
    """``{provider: [(node name, op type), ...]}`` from the session's own record.

    Returns
    -------
    dict or None
        None where this ONNX Runtime cannot report it (no
        ``get_provider_graph_assignment_info``, or the session was made without
        :func:`record_assignment`).
    """
    getter = getattr(session, "get_provider_graph_assignment_info", None)
    if getter is None:
        return None
    try:
        subgraphs = getter()
    except Exception as exc:  # ORT's own exception types: not recorded for this session
        log.debug("no node placement: %s", exc)
        return None
    out: dict[str, list[tuple[str, str]]] = {}
    for subgraph in subgraphs:
        out.setdefault(subgraph.ep_name, []).extend(
            (node.name, node.op_type) for node in subgraph.get_nodes())
    return out


def input_shapes(session: Any, sizes: Mapping[str, int] | None = None) -> dict[str, tuple[int, ...]]:
    """Each input's shape at batch 1: a symbolic first axis is 1, other symbolic axes
    take ``sizes[name]``.

    Raises
    ------
    ValueError
        A symbolic axis that ``sizes`` does not give.
    """
    sizes = dict(sizes or {})
    out = {}
    for value in session.get_inputs():
        dims = []
        for axis, dim in enumerate(value.shape):
            if isinstance(dim, int):
                dims.append(dim)
            elif isinstance(dim, str) and dim in sizes:
                dims.append(int(sizes[dim]))
            elif axis == 0:
                dims.append(1)
            else:
                raise ValueError(f"input {value.name!r} axis {axis} is symbolic ({dim!r})")
        out[value.name] = tuple(dims)
    return out


def placement_of(assignment: Mapping[str, list[tuple[str, str]]], model: Any,
                 shapes: Mapping[str, tuple[int, ...]], graph: str) -> Placement:
    """Count a recorded assignment's nodes and FLOPs per provider.

    Parameters
    ----------
    assignment : mapping
        ``{provider: [(node name, op type), ...]}`` (:func:`session_assignment`).
    model : bytes, str, pathlib.Path or onnx.ModelProto
        The graph the session was made from.
    shapes : mapping
        Input shapes to count at (:func:`input_shapes`).
    graph : str
        The graph's name for messages.
    """
    costs: dict[str, NodeCost] = {}
    why = ""
    try:
        costs = node_costs(model, dict(shapes))
    except ImportError:
        why = "the onnx package is not installed: pip install onnx"
    except ValueError as exc:
        why = str(exc)
    nodes, flops, cpu_work = {}, {}, []
    for provider, members in assignment.items():
        nodes[provider] = nodes.get(provider, 0) + len(members)
        total = flops.get(provider, 0.0)
        for name, op_type in members:
            cost = costs.get(name)
            node_flops = cost.flops if cost is not None else 0.0
            total += node_flops
            if provider != CPU:
                continue
            values = cost.out_values if cost is not None else None
            if node_flops > 0 or values is None or values > SHAPE_VALUES:
                cpu_work.append((name, op_type, node_flops, values))
        flops[provider] = total
    batch = next((int(shape[0]) for shape in shapes.values() if shape), 1)
    return Placement(graph=graph, nodes=nodes, flops=flops, cpu_work=cpu_work,
                     costs_known=why, batch=batch)


def check_placement(placement: Placement | None, *, strict: bool, provider: str,
                    max_cpu_flop_share: float = MAX_CPU_FLOP_SHARE) -> None:
    """Log a GPU session's placement; warn, or with ``strict`` refuse, when the CPU
    does model work.

    Parameters
    ----------
    placement : Placement or None
        None: this ONNX Runtime could not report it.
    strict : bool
        The GPU provider was asked for by name (``--provider cuda``) and CPU nodes
        were not allowed (``--allow-cpu-nodes``).
    provider : str
        The session's first provider.

    Raises
    ------
    CpuNodesError
        ``strict`` and the CPU runs model work, or the placement is unknown.
    """
    allow = "pass --allow-cpu-nodes (allow_cpu_nodes=True) to run anyway"
    if placement is None:
        text = (f"this onnxruntime cannot report which nodes run on {provider} (upgrade "
                "onnxruntime-gpu: 1.31 reports it)")
        if strict:
            raise CpuNodesError(f"{text}; {allow}")
        log.warning("%s", text)
        return
    log.info("%s", placement.describe())
    problems = placement.problems(max_cpu_flop_share)
    if not problems:
        return
    text = (f"{placement.graph}: {provider} was given the model but " + "; ".join(problems)
            + f" ({placement.describe()})")
    if strict:
        raise CpuNodesError(f"{text}. {allow}, or use an onnxruntime-gpu with kernels for "
                            "these operators")
    log.warning("%s: expect CPU speed for that part", text)
