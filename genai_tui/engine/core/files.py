"""Files only their owner may read: the data dir and its folders 0700, what they hold 0600.

The process umask is left alone (downloads into a shared Hugging Face cache keep
their usual modes): each private folder or file is created with its own mode.
Existing ones keep theirs; `genai-tui doctor` reports any that are wider.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_OPEN_FLAGS = {
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
}


def private_dir(path: Path) -> Path:
    """Create the folder `path` 0700, and its missing parents 0700 too; an existing
    folder is left as it is. Returns `path`."""
    path = Path(path).expanduser()
    missing: list[Path] = []
    node = path
    while not os.path.lexists(node) and node != node.parent:
        missing.append(node)
        node = node.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # made by someone else meanwhile: fine if it is a folder
            if not folder.is_dir():
                raise
    if not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    return path


def open_private(path: Path, mode: str = "w", encoding: str | None = None) -> IO[Any]:
    """Open `path` for writing ("w", "a" or "x", text or "b"); a new file is made 0600.

    The last component is never followed if it is a symlink (OSError ELOOP), so a link
    planted in a shared folder cannot redirect the write.
    """
    flags = _OPEN_FLAGS[mode.replace("b", "")]
    fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC, PRIVATE_FILE)
    try:
        return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding or "utf-8")
    except BaseException:
        os.close(fd)
        raise


def create_private(path: Path) -> bool:
    """Create `path` empty and 0600 unless something is already there; True if created.

    For files another library opens by name (SQLite: its -wal and -shm files take the
    database file's mode).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@contextmanager
def replacing(path: Path, *, follow_symlink: bool = False) -> Iterator[IO[bytes]]:
    """A new 0600 file that atomically takes the place of `path` when the block ends.

    It is written under a random name beside the target (O_EXCL|O_NOFOLLOW, so nothing
    already there is opened), flushed to disk, then renamed over the target; on an error
    the target is untouched and the temporary file removed. With `follow_symlink`, a
    symlink at `path` is written through: its target is replaced and the link kept.
    """
    target = _target(path, follow_symlink)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, _OPEN_FLAGS["x"] | _NOFOLLOW | _CLOEXEC, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_private_bytes(path: Path, data: bytes, *, follow_symlink: bool = False) -> Path:
    """Replace `path` with `data` as a 0600 file (see `replacing`); returns the file
    written (a symlink's target with `follow_symlink`)."""
    with replacing(path, follow_symlink=follow_symlink) as f:
        f.write(data)
    return _target(path, follow_symlink)


def _target(path: Path, follow_symlink: bool) -> Path:
    path = Path(path)
    return Path(os.path.realpath(path)) if follow_symlink and path.is_symlink() else path


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; some file systems cannot open a folder: then skip it."""
    try:
        fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_to_others(path: Path) -> int:
    """The group and other permission bits of `path` (0 when none, or when it is absent).

    A symlink is judged by what it points to, as a chmod on it would be.
    """
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o077
    except OSError:
        return 0
