"""Run Python code in a subprocess where ``import torch`` fails."""
from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_TORCH = textwrap.dedent("""
    import sys
    class BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
    sys.meta_path.insert(0, BlockTorch())
""")


def run_without_torch(body: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``body`` (dedented) after the torch blocker; returns the finished process."""
    script = BLOCK_TORCH + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, check=False)
