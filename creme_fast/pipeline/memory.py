"""What a batch costs in memory, and the budget it must fit."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_BATCH_BUDGET", "BatchBudget", "BatchCost", "available_memory",
           "batch_budget", "batch_bytes", "batch_cost", "fit_batch", "format_bytes",
           "model_working_bytes", "parse_bytes"]

#: The budget where neither ``max_batch_bytes`` nor the machine's available memory is known.
DEFAULT_BATCH_BUDGET = 4 << 30  # 4 GiB
_MEMINFO = Path("/proc/meminfo")


def batch_bytes(batch_size: int, seq_length: int, input_kind: str, input_dtype: object,
                n_outputs: int, prefetch: int = 2) -> int:
    """Bytes the engine holds for batches of ``batch_size``: ``prefetch + 1`` slots of
    uint8 tokens and, for a one-hot model, of one-hot input, plus one batch of
    outputs (``n_outputs`` = bins x tracks floats per sequence). The model's own
    working memory comes on top (for Enformer on CPU, of the same order per
    sequence as its one-hot input; :func:`batch_cost` adds it)."""
    slots = prefetch + 1
    per_seq = seq_length  # tokens
    if input_kind == "onehot":
        itemsize = np.dtype(input_dtype).itemsize if input_dtype is not None else 4
        per_seq += 4 * seq_length * itemsize
    return batch_size * (slots * per_seq + 4 * n_outputs)


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int:
    """``"4G"``, ``"512M"``, ``"1.5G"`` or a byte count -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 4G, 512M)")
    value = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if value < 1:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def available_memory() -> int | None:
    """The machine's available memory now (``MemAvailable``), or None where unknown."""
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return None


def model_working_bytes(metadata: Any, incremental: bool | str | None) -> tuple[int, int]:
    """``(fixed, per_sequence)`` bytes of the model's working memory on a CPU.

    From an export's measured ``extra["working_memory"]`` (see
    :mod:`creme_fast.export.working_memory`): the full graph's line, or, when the
    run may use the incremental pieces, a line at least as high as both the full
    graph's and the pieces' at every batch size. The pieces' cost at batch ``B``
    is the trunk on one full-length parent plus the tower on ``B`` rows: their
    sessions share one arena, but the arena keeps the trunk's blocks while the
    tower runs (measured on the published Enformer: 2.4 GiB for trunk + tower
    where the larger alone needs 1.8), so they are added, not maxed.
    ``(0, 0)`` for an export without the measurement.
    """
    extra = getattr(metadata, "extra", None) or {}
    entry = extra.get("working_memory") or {}

    def line(name: str) -> tuple[int, int] | None:
        graph = entry.get(name)
        if not isinstance(graph, dict):
            return None
        return int(graph.get("fixed", 0)), int(graph.get("per_sequence", 0))

    full = line("full") or (0, 0)
    trunk, tower = line("trunk"), line("tower")
    if incremental is False or trunk is None or tower is None:
        return full
    # pieces at batch B: trunk(1) + tower(B) = (trunk_1 + tower_fixed) + B * tower_per
    pieces = (sum(trunk) + tower[0], tower[1])
    per = max(full[1], pieces[1])
    # the line of slope ``per`` through the higher of the two at B = 1 is above both
    fixed = max(full[0] + full[1], pieces[0] + pieces[1]) - per
    return max(fixed, 0), per


@dataclass(frozen=True)
class BatchCost:
    """What a batch of ``B`` costs: ``fixed + B * per_sequence`` bytes.

    Attributes
    ----------
    fixed : int
        The model's working memory that does not grow with the batch.
    per_sequence : int
        Engine buffers plus the model's working memory, per sequence.
    model_per_sequence : int
        The model's part of ``per_sequence`` (0 when unmeasured).
    seq_length : int
        For messages.
    """

    fixed: int
    per_sequence: int
    model_per_sequence: int
    seq_length: int

    def __call__(self, batch_size: int) -> int:
        return self.fixed + batch_size * self.per_sequence

    def largest(self, limit: int) -> int:
        """The largest batch that fits ``limit`` bytes (0: not even one)."""
        return max((limit - self.fixed) // max(self.per_sequence, 1), 0)

    def describe(self, batch_size: int) -> str:
        """``"X of batch buffers (Y per sequence at L bp)"``, with the model's part."""
        if not (self.model_per_sequence or self.fixed):
            return (f"{format_bytes(self(batch_size))} of batch buffers "
                    f"({format_bytes(self.per_sequence)} per sequence at {self.seq_length:,} bp)")
        shared = f" + {format_bytes(self.fixed)} shared" if self.fixed else ""
        return (f"{format_bytes(self(batch_size))} of batch buffers and model working memory "
                f"({format_bytes(self.per_sequence)} per sequence at {self.seq_length:,} bp, "
                f"{format_bytes(self.model_per_sequence)} of it the model's as measured at "
                f"export{shared})")


def batch_cost(predictor: Any, n_outputs: int,
               incremental: bool | str | None = "auto") -> BatchCost:
    """The cost of batches for ``predictor``: engine buffers plus, for an ONNX Runtime
    export on the CPU, the working memory its export measured."""
    engine = batch_bytes(1, predictor.seq_length, predictor.input_kind,
                         getattr(predictor, "input_dtype", None), n_outputs)
    fixed = per = 0
    if getattr(predictor, "provider", None) == "CPUExecutionProvider":
        fixed, per = model_working_bytes(getattr(predictor, "metadata", None), incremental)
    return BatchCost(fixed, engine + per, per, int(predictor.seq_length))


@dataclass(frozen=True)
class BatchBudget:
    """The memory a batch may use, measured once: what a batch costs and the tightest
    of the limits (``max_batch_bytes``, the machine's available memory, or
    :data:`DEFAULT_BATCH_BUDGET`).

    Attributes
    ----------
    cost : BatchCost
    limit : int
        Bytes.
    name : str
        The limit, for messages (``max_batch_bytes 3.0 GiB``, ``--max-batch-memory 3G``).
    """

    cost: BatchCost
    limit: int
    name: str

    @property
    def largest(self) -> int:
        """The largest batch that fits (0: not even one)."""
        return self.cost.largest(self.limit)

    def fit(self, batch_size: int, *, explicit: bool, option: str = "batch_size") -> int:
        """The batch size to run: ``batch_size`` if it fits; else an error
        (``explicit``) or the largest that fits, with a warning.

        Raises
        ------
        ValueError
            Not even one sequence fits, or an explicit ``batch_size`` does not;
            naming the cost, the limit and the largest batch that fits.
        """
        cost, name, largest = self.cost, self.name, self.largest
        if largest < 1:
            raise ValueError(f"{option} 1 needs {cost.describe(1)}, over {name}; free memory "
                             "or use a machine with more")
        if batch_size <= largest:
            return batch_size
        if explicit:
            raise ValueError(f"{option} {batch_size} needs {cost.describe(batch_size)}, over "
                             f"{name}; the largest batch that fits is {largest}")
        log.warning("batches of %d would need %s, over %s; running batches of %d", batch_size,
                    format_bytes(cost(batch_size)), name, largest)
        return largest


def batch_budget(cost: BatchCost, budget: int | None,
                 budget_label: str | None = None) -> BatchBudget:
    """Measure the limit batches of ``cost`` must fit: ``budget`` bytes
    (``max_batch_bytes``; None: the machine's available memory, else
    :data:`DEFAULT_BATCH_BUDGET`); when the model's working memory is known, the
    available memory as well. ``budget_label`` names ``budget`` in messages."""
    available = available_memory()
    limits = []
    if budget is not None:
        limits.append((int(budget), budget_label or f"max_batch_bytes {format_bytes(budget)}"))
    if available is not None and (budget is None or cost.model_per_sequence or cost.fixed):
        limits.append((available, f"the machine's available memory ({format_bytes(available)})"))
    if not limits:
        limits.append((DEFAULT_BATCH_BUDGET,
                       f"the default budget {format_bytes(DEFAULT_BATCH_BUDGET)}"))
    limit, name = min(limits)
    return BatchBudget(cost, limit, name)


def fit_batch(batch_size: int, cost: BatchCost, budget: int | None, *, explicit: bool,
              option: str = "batch_size", budget_label: str | None = None) -> int:
    """The batch size to run, checked before any work.

    Parameters
    ----------
    batch_size : int
        Asked for (``explicit``) or the default.
    cost : BatchCost
    budget : int or None
        ``max_batch_bytes``: batch buffers plus the model's working memory. None:
        the machine's available memory (``MemAvailable``), else
        :data:`DEFAULT_BATCH_BUDGET`.
    explicit : bool
        True: refuse a ``batch_size`` that does not fit; False: take the largest
        that fits, up to ``batch_size``.
    option : str
        The batch size's name in messages (``--batch-size`` in the CLI).
    budget_label : str, optional
        The budget's name in messages (default ``max_batch_bytes SIZE``).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        Not even one sequence fits, or an explicit ``batch_size`` does not;
        naming the cost, the limit and the largest batch that fits.
    """
    return batch_budget(cost, budget, budget_label).fit(batch_size, explicit=explicit,
                                                        option=option)
