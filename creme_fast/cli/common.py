"""Options every subcommand takes, before or after its name, and the CLI's logging.

``-q``, ``--log-level``, ``--log-file``, ``--no-progress`` and ``--progress-interval``
are accepted both as ``creme-fast -q run ...`` and ``creme-fast run ... -q`` (a
workflow manager appends options to a command line). The last record of a run,
written through :func:`record`, is shown even under ``-q``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

__all__ = ["GLOBAL_DEFAULTS", "add_global_options", "add_threads_option", "configure_logging",
           "record", "RECORD_LOGGER"]

RECORD_LOGGER = "creme_fast.record"
GLOBAL_DEFAULTS = {"log_level": "INFO", "quiet": False, "log_file": None,
                   "no_progress": False, "progress_interval": 30.0}


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """The logging and progress options. In a subcommand their default is
    ``SUPPRESS``, so a value given before the subcommand is kept."""
    def default(name: str) -> object:
        return argparse.SUPPRESS if in_subcommand else GLOBAL_DEFAULTS[name]

    group = parser.add_argument_group("output (also accepted before the subcommand)")
    group.add_argument("--log-level", default=default("log_level"),
                       choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    group.add_argument("-q", "--quiet", action="store_true", default=default("quiet"),
                       help="only warnings, errors and the final one-line record")
    group.add_argument("--log-file", type=Path, default=default("log_file"), metavar="PATH",
                       help="also append the log (and progress lines) to PATH")
    group.add_argument("--no-progress", action="store_true", default=default("no_progress"),
                       help="no progress bar or progress lines (TQDM_DISABLE=1 does the same)")
    group.add_argument("--progress-interval", type=_seconds,
                       default=default("progress_interval"), metavar="SECONDS",
                       help="seconds between progress lines when stderr is not a terminal "
                       "(default: 30; on a terminal a bar is drawn)")


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: ONNX Runtime's intra-op threads (the engine's own work is one
    producer thread beside the model)."""
    from creme_fast.cli.options import positive_int

    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads for the model (ONNX Runtime intra-op threads; "
                        f"default: all cores, here {os.cpu_count()}); give a workflow "
                        "manager's thread count (Snakemake: --threads {threads})")


def configure_logging(args: argparse.Namespace) -> None:
    """Send creme_fast's log records to the current stderr (and ``--log-file``) at the
    level the options ask; :func:`record` lines pass even under ``-q``. The root
    logger is left alone; :func:`creme_fast.cli.main` undoes this when it returns."""
    level = logging.WARNING if args.quiet else getattr(logging, args.log_level)
    package_log = logging.getLogger("creme_fast")
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log_file is not None:
        args.log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(args.log_file, mode="a", encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file_handler)
    handlers[0].setFormatter(formatter)
    for handler in handlers:
        package_log.addHandler(handler)
    package_log.setLevel(level)
    package_log.propagate = False
    logging.getLogger(RECORD_LOGGER).setLevel(min(level, logging.INFO))


def record(message: str, *values: object) -> None:
    """The one-line record of what a command did (shown even under ``-q``)."""
    logging.getLogger(RECORD_LOGGER).info(message, *values)


def progress_wanted(args: argparse.Namespace) -> bool:
    """Progress is shown unless ``--no-progress``, ``-q``/a level above INFO, or
    ``TQDM_DISABLE``."""
    from creme_fast.progress import progress_allowed

    return progress_allowed(not args.no_progress and not args.quiet
                            and getattr(logging, args.log_level) <= logging.INFO)
