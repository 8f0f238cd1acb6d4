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

from creme_fast.cli.options import non_negative_float

__all__ = ["GLOBAL_DEFAULTS", "RECORD_LOGGER", "add_global_options", "add_threads_option",
           "configure_logging", "progress_bar", "progress_wanted", "record"]

RECORD_LOGGER = "creme_fast.record"
GLOBAL_DEFAULTS = {"log_level": "INFO", "quiet": False, "log_file": None,
                   "no_progress": False, "progress_interval": 30.0}


def add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """The logging and progress options. In a subcommand their default is
    ``SUPPRESS``, so a value given before the subcommand is kept."""
    def default(name: str) -> object:
        return argparse.SUPPRESS if in_subcommand else GLOBAL_DEFAULTS[name]

    group = parser.add_argument_group("output (also accepted before the subcommand)")
    group.add_argument("--log-level", default=default("log_level"),
                       choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="what the log shows (default: INFO)")
    group.add_argument("-q", "--quiet", action="store_true", default=default("quiet"),
                       help="only warnings, errors and the final one-line record (default: "
                       "everything at --log-level)")
    group.add_argument("--log-file", type=Path, default=default("log_file"), metavar="PATH",
                       help="also append the log at --log-level, with progress lines, to "
                       "PATH (-q quiets the terminal, not the file; default: none)")
    group.add_argument("--no-progress", action="store_true", default=default("no_progress"),
                       help="no progress bar or progress lines (TQDM_DISABLE=1 does the same)")
    group.add_argument("--progress-interval", type=non_negative_float,
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
    """Send creme_fast's log records to the current stderr at the level the options
    ask (WARNING under ``-q``) and to ``--log-file`` at ``--log-level`` (``-q`` quiets
    the terminal, not the file); :func:`record` lines go to both even under ``-q``.
    The root logger is left alone; :func:`creme_fast.cli.main` undoes this."""
    level = getattr(logging, args.log_level)
    package_log = logging.getLogger("creme_fast")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    stderr.addFilter(_RecordsPass(logging.WARNING if args.quiet else level))
    package_log.addHandler(stderr)
    lowest = logging.WARNING if args.quiet else level
    if args.log_file is not None:
        try:
            args.log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(args.log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or exc
            raise ValueError(f"--log-file {args.log_file}: cannot write it ({reason})") from None
        file_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        file_handler.addFilter(_RecordsPass(level))
        package_log.addHandler(file_handler)
        lowest = min(lowest, level)
    package_log.setLevel(lowest)
    package_log.propagate = False
    logging.getLogger(RECORD_LOGGER).setLevel(min(lowest, logging.INFO))


class _RecordsPass(logging.Filter):
    """Records at ``level`` or above, and the final record lines whatever their level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, entry: logging.LogRecord) -> bool:
        return entry.levelno >= self.level or entry.name == RECORD_LOGGER


def record(message: str, *values: object) -> None:
    """The one-line record of what a command did (shown even under ``-q``)."""
    logging.getLogger(RECORD_LOGGER).info(message, *values)


def progress_wanted(args: argparse.Namespace) -> bool:
    """Progress is reported unless ``--no-progress``, ``TQDM_DISABLE``, a
    ``--log-level`` above INFO, or ``-q`` without a ``--log-file`` (under ``-q`` the
    lines go to the file only: see :func:`progress_bar`)."""
    from creme_fast.progress import progress_allowed

    return progress_allowed(not args.no_progress
                            and (not args.quiet or args.log_file is not None)
                            and getattr(logging, args.log_level) <= logging.INFO)


def progress_bar(args: argparse.Namespace) -> bool:
    """Whether a bar may be drawn (on a terminal); under ``-q`` only log lines."""
    return not args.quiet
