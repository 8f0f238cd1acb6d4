"""Parsing helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import os


#: ``--provider`` in every subcommand that runs a model
PROVIDER_HELP = ("ONNX Runtime execution provider: auto (TensorRT > CUDA > CPU, the best "
                 "available; says why a better one was skipped), tensorrt, cuda or cpu "
                 "(default: auto)")


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


def bin_list(text: str) -> list[int] | str:
    """``--bins``: a list as :func:`int_list`, or ``all`` (average every output bin)."""
    return "all" if text.strip().lower() == "all" else int_list(text)


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


# --- old spellings: accepted, with a deprecation message once logging is set up -----

#: the namespace attribute holding the deprecation messages of one command line
DEPRECATIONS = "deprecations"


def note_deprecation(namespace: argparse.Namespace, message: str) -> None:
    """Record ``message``; :func:`creme_fast.cli.main` logs it as a warning."""
    notes = list(getattr(namespace, DEPRECATIONS, None) or [])
    if message not in notes:
        notes.append(message)
    setattr(namespace, DEPRECATIONS, notes)


class DeprecatedAlias(argparse.Action):
    """An old option spelling: stores into the current option's ``dest`` (with its
    ``type``) and records a deprecation message naming the current spelling.

    Use ``parser.add_argument("--old", dest=CURRENT_DEST, action=DeprecatedAlias,
    current="--new", help=argparse.SUPPRESS, type=...)``.
    """

    def __init__(self, option_strings: list[str], dest: str, current: str,
                 **kwargs: object) -> None:
        self.current = current
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        note_deprecation(namespace, f"{option_string} is deprecated; use {self.current}")


class CremeTestName(argparse.Action):
    """``creme-fast run TEST``: the command-line name of a test; the Python spellings
    (``fine_tile``, ``fine_tile_search``, ``higher_order``, ``context_dependence``) are
    accepted with a message naming the command-line one."""

    def __init__(self, option_strings: list[str], dest: str, names: list[str],
                 aliases: dict[str, str], **kwargs: object) -> None:
        self.names, self.aliases = list(names), dict(aliases)
        kwargs.setdefault("metavar", "{" + ",".join(self.names) + "}")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        name = str(values)
        if name in self.aliases:
            note_deprecation(namespace, f"the test {name!r} is called {self.aliases[name]!r} "
                             f"on the command line; {name!r} is deprecated there")
            name = self.aliases[name]
        if name not in self.names:
            raise argparse.ArgumentError(self, f"invalid choice: {values!r} (choose from "
                                         f"{', '.join(self.names)})")
        setattr(namespace, self.dest, name)
