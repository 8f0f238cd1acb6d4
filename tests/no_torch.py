"""Run Python code in a subprocess where some imports fail (``torch``, ``creme``, ...)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_BLOCKER = textwrap.dedent("""
    import sys
    class BlockModules:
        blocked = {blocked!r}
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.blocked:
                raise ImportError(f"{{name}} is blocked in this test")
    sys.meta_path.insert(0, BlockModules())
""")

BLOCK_TORCH = _BLOCKER.format(blocked=("torch",))


def run_blocking(blocked: tuple[str, ...], body: str, *args: str,
                 env: dict[str, str] | None = None, timeout: float | None = None,
                 ) -> subprocess.CompletedProcess:
    """Run ``body`` (dedented) with ``import`` of each top-level package in ``blocked``
    failing; ``env`` adds environment variables. Returns the finished process."""
    script = _BLOCKER.format(blocked=tuple(blocked)) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, check=False, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


def run_without_torch(body: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``body`` (dedented) after the torch blocker; returns the finished process."""
    return run_blocking(("torch",), body, *args)
