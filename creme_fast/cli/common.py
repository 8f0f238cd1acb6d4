"""Options every subcommand takes, before or after its name, and the CLI's logging.

``-q``, ``--log-level``, ``--log-file``, ``--no-progress`` and ``--progress-interval``
are accepted both as ``creme-fast -q run ...`` and ``creme-fast run ... -q`` (a
workflow manager appends options to a command line). The last record of a run,
written through :func:`record`, is shown even under ``-q``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from creme_fast.cli.options import non_negative_float
from creme_fast.runtime.providers import ALIASES, GPU_PROVIDERS

__all__ = ["GLOBAL_DEFAULTS", "RECORD_LOGGER", "add_global_options", "add_threads_option",
           "check_gpu_options", "configure_logging", "progress_bar", "progress_wanted",
           "record", "warn_threads"]

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
    from creme_fast.cli.options import THREADS_PER_CORE, available_cores, thread_count

    parser.add_argument("--threads", type=thread_count, metavar="N",
                        help="CPU threads for the model (ONNX Runtime intra-op threads; "
                        "default: ONNX Runtime's own, one per physical core, which on a VM "
                        "whose CPUs are hyper-threads is fewer than the "
                        f"{available_cores()} CPUs here; at most "
                        f"{THREADS_PER_CORE} per core, a warning above one per core); give "
                        "a workflow manager's thread count (Snakemake: --threads {threads})")


def warn_threads(args: argparse.Namespace) -> None:
    """Warn when ``--threads`` asks for more threads than the machine has cores."""
    from creme_fast.cli.options import available_cores

    threads, cores = getattr(args, "threads", None), available_cores()
    if threads is not None and threads > cores:
        logging.getLogger("creme_fast.cli").warning(
            "--threads %d is more than the %d cores this machine offers: the model's "
            "threads will wait for each other (slower than --threads %d)", threads, cores,
            cores)


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
            file_handler = _LogFile(args.log_file)
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


class _LogFile(logging.FileHandler):
    """The ``--log-file`` handler: a write that fails (a full disk, ``/dev/full``) is
    reported once on stderr, and the file is then left alone (the terminal log goes
    on), instead of a traceback per log line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8")
        self.shown = str(path)
        self.failed = False

    def emit(self, entry: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(entry)

    def flush(self) -> None:
        if self.failed:
            return
        try:
            super().flush()
        except OSError:
            self.handleError(None)

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the buffered bytes a closing file still writes
            self.handleError(None)

    def handleError(self, entry: logging.LogRecord | None) -> None:  # noqa: N802 (logging's)
        if self.failed:
            return
        self.failed = True
        exc = sys.exc_info()[1]
        reason = getattr(exc, "strerror", None) or exc or "unknown error"
        sys.stderr.write(f"creme-fast: --log-file {self.shown}: cannot write ({reason}); "
                         "nothing more is written to it\n")


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


def check_gpu_options(args: argparse.Namespace) -> None:
    """``--allow-cpu-nodes`` and ``--cuda-graph``: refused where they cannot apply."""
    named = [ALIASES.get(p.strip().lower(), p.strip()) for p in str(args.provider).split(",")]
    if getattr(args, "allow_cpu_nodes", False) and named[0] not in GPU_PROVIDERS:
        raise ValueError(f"--allow-cpu-nodes relaxes --provider cuda or tensorrt; with "
                         f"--provider {args.provider} nothing is strict (auto only warns)")
    for option in ("allow_cpu_nodes", "cuda_graph"):
        if getattr(args, option, False) and getattr(args, "ray", None) is not None:
            raise ValueError(f"--{option.replace('_', '-')} is not passed to Ray workers yet; "
                             "run without --ray")
