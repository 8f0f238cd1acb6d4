"""The CLI called in-process (as a pipeline might) leaves the caller's logging alone."""
from __future__ import annotations

import logging

from creme_fast.cli import main


def test_main_restores_the_package_logger(tmp_path, capsys):
    package = logging.getLogger("creme_fast")
    before = (list(package.handlers), package.level, package.propagate)
    assert main(["info", str(tmp_path / "missing.onnx")]) == 2
    assert "missing.onnx" in capsys.readouterr().err  # the error was shown while it ran
    assert (list(package.handlers), package.level, package.propagate) == before
