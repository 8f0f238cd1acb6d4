"""creme-fast: fast, verified CREME in-silico perturbation tests.

The public entry points live in subpackages:

- :mod:`creme_fast.sequence`: tokens, one-hot, dinucleotide shuffles, splicing.
- :mod:`creme_fast.compat`: creme-nn-compatible functions on the fast engine.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("creme-fast")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
