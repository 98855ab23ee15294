"""Write-then-rename, so that no reader ever sees a half-written file or folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary sibling of ``path`` to write; it replaces ``path`` only when the block
    succeeds, and is removed when it fails. A folder may replace an empty folder."""
    partial = path.with_name(path.name + ".partial")
    _remove(partial)
    try:
        yield partial
    except BaseException:
        _remove(partial)
        raise
    try:
        os.replace(partial, path)
    except OSError:
        _remove(partial)
        raise
