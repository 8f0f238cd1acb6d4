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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except OSError as exc:  # e.g. a full disk: name the file (pyarrow's messages do not)
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        code = exc.errno if exc.errno is not None else _errno_of(exc)
        raise OSError(code, f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _errno_of(exc: OSError) -> int:
    """pyarrow raises OSError without an errno; find ENOSPC in its message."""
    import errno

    return errno.ENOSPC if "No space left" in str(exc) else errno.EIO


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
