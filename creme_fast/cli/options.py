"""Parsing helpers shared by the subcommands."""
from __future__ import annotations

import argparse


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
