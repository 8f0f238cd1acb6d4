"""``python -m creme_fast`` and the ``creme-fast`` command run the CLI."""
from __future__ import annotations

import signal
import sys


def run() -> int:
    """Import the CLI and run it; Ctrl-C during the imports exits 130 without a traceback.

    A SIGINT that lands inside a C extension's import (numpy's, for instance) surfaces
    as an ``ImportError`` rather than ``KeyboardInterrupt``, so the handler records the
    signal and either exception reports "interrupted" once one arrived.

    Returns
    -------
    int
        The exit status: the CLI's, or 130 when interrupted while starting.
    """
    received: list[int] = []

    def on_sigint(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        from creme_fast.cli import main
    except (KeyboardInterrupt, ImportError):
        if not received:
            raise
        sys.stderr.write("creme-fast: interrupted\n")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return main()


if __name__ == "__main__":
    sys.exit(run())
