"""Parsing helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import os


def int_list(text: str) -> list[int]:
    """``"5110,5111"`` or ``"446-449"`` (inclusive) or a mix -> list of int."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of integers or ranges: {text!r} "
                                             "(e.g. 5110,5111 or 446-449)") from None
    if not out:
        raise argparse.ArgumentTypeError("empty list")
    return out


def head_sizes(text: str) -> dict[str, int]:
    """``"human=5313,mouse=1643"`` -> dict."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, size = part.partition("=")
        try:
            out[name.strip()] = int(size)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not NAME=SIZE pairs: {text!r} "
                                             "(e.g. human=5313,mouse=1643)") from None
    return out


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


THREADS_PER_CORE = 4  # beyond this many threads per core a --threads is a typo


def thread_count(text: str) -> int:
    """``--threads``: at least 1, at most ``THREADS_PER_CORE`` x the available cores
    (more is refused: ONNX Runtime would start them all and crawl, or overflow);
    above the core count :func:`creme_fast.cli.common.warn_threads` warns."""
    value = positive_int(text)
    cores = available_cores()
    limit = THREADS_PER_CORE * cores
    if value > limit:
        raise argparse.ArgumentTypeError(f"at most {limit} ({THREADS_PER_CORE} x the {cores} "
                                         f"cores this machine offers), got {value}")
    return value


def worker_threads(text: str) -> int:
    """``--threads-per-worker``: threads on a Ray worker (another machine, so only a
    sanity bound applies)."""
    value = positive_int(text)
    if value > 4096:
        raise argparse.ArgumentTypeError(f"at most 4096, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (e.g. a fraction of a GPU)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def seed(text: str) -> int:
    """A shuffle seed: a whole number in 0 .. 2**64 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in 0..{2**64 - 1}, got {value}")
    return value


class ExclusiveBoolean(argparse.BooleanOptionalAction):
    """``--x``/``--no-x`` where giving both is an error, not "the last one wins"."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        seen = f"_given_{self.dest}"
        given = getattr(namespace, seen, set())
        given.add(option_string)
        setattr(namespace, seen, given)
        if len({o.startswith("--no-") for o in given if o}) > 1:
            positive = next(o for o in self.option_strings if not o.startswith("--no-"))
            negative = next(o for o in self.option_strings if o.startswith("--no-"))
            parser.error(f"{positive} and {negative} contradict each other: give one")
        super().__call__(parser, namespace, values, option_string)
