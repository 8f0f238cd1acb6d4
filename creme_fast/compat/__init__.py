"""creme-nn 0.2.5 compatible functions running on creme-fast's engine.

``import creme_fast.compat as creme`` is meant as a one-line switch for code
written against creme-nn. Deliberate differences from the reference are
listed in each module's docstring.
"""
from creme_fast.compat import shuffle

__all__ = ["shuffle"]
