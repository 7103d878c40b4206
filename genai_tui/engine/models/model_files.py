"""Removing model files safely: only inside the store scanned, counting what is freed,
pruning the folders left empty."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.models.local_stores import real_path


def inside(path: Path, root: Path) -> bool:
    """`path` (not followed if it is a link) lies under `root`."""
    where = real_path(path.parent) / path.name
    base = real_path(root)
    return where != base and base in where.parents


def freed_by(path: Path) -> int:
    """Bytes removing `path` gives back: links and hard-linked files give none."""
    try:
        st = path.lstat()
    except OSError:
        return 0
    if path.is_symlink():
        return 0
    if path.is_dir():
        return sum(freed_by(Path(d, n)) for d, _, names in os.walk(path) for n in names)
    return st.st_size if st.st_nlink <= 1 else 0


def remove(path: Path) -> int:
    freed = freed_by(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise GenaiError(
            f"Could not delete {path}: {exc.strerror or exc}.",
            "Check the folder's permissions, then try again.",
        ) from exc
    return freed


def prune_empty(folder: Path, root: Path) -> None:
    """Remove folders left empty, from `folder` up to (not including) `root`."""
    while inside(folder, root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
