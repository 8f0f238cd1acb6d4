"""The ``creme-fast`` command line: ``creme-fast demo | run | merge | plot | export | info |
bench | workflow``.

Exit codes: 0 success, 1 the work failed (e.g. an export disagreed with
PyTorch, a model returned NaN, a disk filled up, some loci of a run failed),
2 bad input or usage (a clear message names the problem), 130 interrupted.
"""
from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Sequence

from creme_fast.cli.common import (
    RECORD_LOGGER,
    add_global_options,
    configure_logging,
    warn_threads,
)
from creme_fast.cli.options import DEPRECATIONS
from creme_fast.errors import NonFiniteOutput

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
log = logging.getLogger("creme_fast")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (imported here, so that importing
    this module stays quick and a Ctrl-C while starting lands inside :func:`main`)."""
    from creme_fast import __version__
    from creme_fast.cli import (bench_cmd, demo_cmd, export_cmd, info_cmd, merge_cmd, plot_cmd,
                                run_cmd, workflow_cmd)

    parser = argparse.ArgumentParser(prog="creme-fast", description="Fast, verified CREME "
                                     "in-silico perturbation tests.", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"creme-fast {__version__}")
    add_global_options(parser, in_subcommand=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_cmd.add_parser(sub)
    run_cmd.add_parser(sub)
    merge_cmd.add_parser(sub)
    plot_cmd.add_parser(sub)
    export_cmd.add_parser(sub)
    info_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    workflow_cmd.add_parser(sub)
    for subparser in sub.choices.values():
        _finish(subparser)
    return parser


def _finish(parser: argparse.ArgumentParser) -> None:
    """A subcommand (and any nested one, e.g. ``workflow init``) takes the output
    options after its name too (-q etc.), and options must be spelled out: ``--shuf``
    is not taken for ``--shuffles``."""
    add_global_options(parser, in_subcommand=True)
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _finish(nested)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code.

    The ``creme_fast`` logger's handlers, level and propagation are restored on
    return, so a pipeline that calls this in-process keeps its own logging set-up.
    """
    package_log = logging.getLogger("creme_fast")
    record_log = logging.getLogger(RECORD_LOGGER)
    handlers, level, propagate = list(package_log.handlers), package_log.level, \
        package_log.propagate
    record_level = record_log.level
    try:
        return _main(argv)
    finally:
        for handler in package_log.handlers:
            if handler not in handlers:
                handler.close()  # a --log-file
        package_log.handlers[:] = handlers
        package_log.setLevel(level)
        package_log.propagate = propagate
        record_log.setLevel(record_level)


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()  # imports the subcommands' modules: Ctrl-C may land here
        args = parser.parse_args(argv)
        configure_logging(args)
        warn_threads(args)
        for message in getattr(args, DEPRECATIONS, None) or ():
            log.warning("%s", message)  # an old spelling that still works
        return args.handler(args)
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED
    except NonFiniteOutput as exc:  # the model's output, not the user's input
        log.error("%s", exc)
        return EXIT_FAILED
    except (ValueError, FileNotFoundError, ImportError, PermissionError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except OSError as exc:  # a full disk, a read-only or vanished directory
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) not in str(exc) else ""
        hint = (" (free some space or choose another --out)"
                if exc.errno == errno.ENOSPC else "")
        log.error("%s%s%s", where, exc, hint)
        return EXIT_FAILED
    except RuntimeError as exc:
        log.error("%s", exc)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
