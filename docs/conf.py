"""Sphinx configuration of the creme-fast documentation.

Why Sphinx: it is the maintained standard for Python projects. MyST lets the pages be
Markdown like the README; autodoc with napoleon renders the package's numpydoc
docstrings; furo is a maintained theme. MkDocs 1.x has had no release since 2024-08
and its successor (Zensical) is at 0.1. Build strictly (warnings are errors), as
the test suite does:

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

from creme_fast import __version__  # noqa: E402  (the installed package documents itself)

project = "creme-fast"
author = "the creme-fast developers"
copyright = "creme-fast developers"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "cli_reference",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# optional frameworks the API mentions but the docs build does not need
autodoc_mock_imports = ["ray", "tensorrt"]
# the docstrings name types by their usual short names; do not try to link them all
nitpicky = False
# numpydoc attribute lists name fields (``bins``, ``tracks``) that several classes have;
# those are ambiguous links, not broken ones (nitpicky is off: no warning is lost)
suppress_warnings = ["ref.python"]
intersphinx_mapping = {}

html_theme = "furo"
html_title = f"creme-fast {release}"
