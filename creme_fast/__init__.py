"""creme-fast: fast, verified CREME in-silico perturbation tests.

The public entry points live in subpackages:

- :mod:`creme_fast.sequence`: tokens, one-hot, dinucleotide shuffles, splicing.
- :mod:`creme_fast.compat`: creme-nn-compatible functions on the fast engine.
"""
__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, looked up on first use: importing the package stays quick (a
    Ctrl-C while the CLI starts then lands in code that handles it)."""
    if name != "__version__":
        raise AttributeError(f"module 'creme_fast' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("creme-fast")
    except PackageNotFoundError:  # running from a source tree that is not installed
        value = "0+unknown"
    globals()["__version__"] = value
    return value
