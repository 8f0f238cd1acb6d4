"""The distribution ships every subpackage: a non-editable install (the README's demo
command) must not lose one that an editable install finds on disk."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "creme_fast").rglob("__init__.py")}
    on_disk |= {"creme_fast.export." + ".".join(p.parent.relative_to(ROOT / "export").parts)
                for p in (ROOT / "export").rglob("__init__.py")
                if p.parent != ROOT / "export"}
    on_disk.add("creme_fast.export")
    missing = sorted(on_disk - listed)
    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {missing}"
