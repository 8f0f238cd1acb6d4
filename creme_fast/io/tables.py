"""Writing result tables: parquet for machines, CSV for people, both atomic."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["atomic_write", "write_table"]


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over
    ``path``: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_table(frame: pd.DataFrame, directory: str | Path, name: str) -> list[Path]:
    """Write ``frame`` as ``directory/name.parquet`` and ``directory/name.csv``.

    Returns
    -------
    list of Path
        The two files written.
    """
    directory = Path(directory)
    return [atomic_write(directory / f"{name}.parquet",
                         lambda p: frame.to_parquet(p, index=False)),
            atomic_write(directory / f"{name}.csv", lambda p: frame.to_csv(p, index=False))]
