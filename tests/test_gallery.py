"""The figure gallery (docs/gallery.md, issue 32): its script makes every figure the
page shows, and the committed PNGs are the ones it lists."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "gallery.md"
FOLDER = ROOT / "docs" / "_static" / "gallery"


def _shown() -> set[str]:
    return set(re.findall(r"\]\(_static/gallery/([\w.-]+\.png)\)", PAGE.read_text()))


def _script():
    spec = importlib.util.spec_from_file_location("make_gallery", FOLDER / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gallery_page_shows_the_committed_figures():
    shown = _shown()
    assert len(shown) >= 20
    assert shown == {p.name for p in FOLDER.glob("*.png")}
    assert "python docs/_static/gallery/make_gallery.py" in PAGE.read_text()


def test_gallery_script_makes_every_figure_shown(tmp_path):
    """The page's command, with coarse settings (``--fast``) into a temporary folder."""
    assert _script().main(["--out", str(tmp_path), "--fast"]) == 0
    files = list(tmp_path.glob("*.png"))
    assert {p.name for p in files} == _shown()
    assert all(p.stat().st_size > 10_000 for p in files)
