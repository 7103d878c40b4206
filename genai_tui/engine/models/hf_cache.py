"""Where downloaded files go: the Hugging Face cache layout, or a plain folder.

Names that come from the Hub (file paths, revisions, commit hashes, ETags) are
data: each is checked before it becomes part of a path, and nothing is written
outside the target folder.

Cache layout (the one huggingface_hub reads and writes)::

    <cache>/models--org--name/blobs/<etag>                 whole, verified files
    <cache>/models--org--name/blobs/<etag>.incomplete      partial data (resumable)
    <cache>/models--org--name/snapshots/<commit>/<path>    relative symlinks to blobs
    <cache>/models--org--name/refs/<revision>              the commit of a branch/tag
    <cache>/.locks/models--org--name/<etag>.lock           flock, as huggingface_hub takes it

Plain folder (`local_dir`), also as huggingface_hub lays it out::

    <local_dir>/<path>                                                  the file
    <local_dir>/.cache/huggingface/download/<path>.metadata             commit, etag, time
    <local_dir>/.cache/huggingface/download/<dir>/<hash>.<etag>.incomplete
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import re
import stat
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from genai_tui.engine.core.errors import GenaiError

_REPO_ID = re.compile(r"^(?:[\w.\-]+/)?[\w.\-]+$")
_REVISION = re.compile(r"^[\w.\-]+(?:/[\w.\-]+)*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_ETAG = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# C0 controls (NUL, ESC, newline, ...), DEL and the C1 range (0x9b is a one-byte CSI).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
GIT_OID = _COMMIT  # a git object id: 40 hex


class UnsafeNameError(GenaiError):
    """A name from the Hub would escape the target folder or is not a valid name."""


def default_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import time)."""
    if env := os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env).expanduser()
    if home := os.environ.get("HF_HOME"):
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def repo_folder_name(repo_id: str) -> str:
    return "--".join(["models", *repo_id.split("/")])


def check_repo_id(repo_id: str) -> str:
    if (
        not _REPO_ID.match(repo_id)
        or ".." in repo_id
        or "--" in repo_id
        or len(repo_id) > 96
        or any(part.startswith(".") or part.endswith(".") for part in repo_id.split("/"))
    ):
        raise UnsafeNameError(
            f"{repo_id!r} is not a valid Hub repo id.", "Use the form org/name, as on the Hub."
        )
    return repo_id


def check_revision(revision: str) -> str:
    if not _REVISION.match(revision) or any(p in (".", "..") for p in revision.split("/")):
        raise UnsafeNameError(
            f"{revision!r} is not a valid revision.", "Use a branch, tag or commit hash."
        )
    return revision


def check_commit(commit: str | None, repo_id: str) -> str:
    if not commit or not _COMMIT.match(commit):
        raise UnsafeNameError(
            f"The server gave no usable commit hash for {repo_id} (got {commit!r}).",
            "Check that the Hub endpoint is a Hugging Face Hub (HF_ENDPOINT); retry later.",
        )
    return commit


def check_etag(etag: str | None, path: str) -> str:
    if not etag or not _ETAG.match(etag):
        raise UnsafeNameError(
            f"The server gave no usable ETag for {path} (got {etag!r}).",
            "Check that the Hub endpoint is a Hugging Face Hub (HF_ENDPOINT); retry later.",
        )
    return etag


def safe_relpath(name: str) -> PurePosixPath:
    """`name` (a file path in a repo) as a relative path that stays inside its folder and
    holds no control characters (a name is shown on terminals and written to disk)."""
    if _CONTROL.search(name):
        raise UnsafeNameError(
            f"Refused the file name {name!r}: it holds control characters (shown here as "
            "\\x.. escapes), which could rewrite the terminal that shows it.",
            "Nothing was written. Report the name to the repo's owner, or download the "
            "other files without it.",
        )
    bad = (
        not name
        or "\\" in name
        or name.startswith("/")
        or re.match(r"^[A-Za-z]:", name) is not None
        or any(part in ("", ".", "..") for part in name.split("/"))
    )
    if bad:
        raise UnsafeNameError(
            f"Refused the file name {name!r}: it would be written outside the download folder.",
            "Nothing was written. The repo lists a file name that is not a plain relative path;"
            " report it to the repo's owner, or download the other files without it.",
        )
    return PurePosixPath(name)


def inside(root: Path, rel: PurePosixPath) -> Path:
    """root/rel, after checking that its folder resolves inside root (symlinks included)."""
    target = root.joinpath(*rel.parts)
    real_root = root.resolve()
    real_parent = target.parent.resolve()
    if real_parent != real_root and real_root not in real_parent.parents:
        raise UnsafeNameError(
            f"Refused {str(rel)!r}: {target.parent} leads outside {root}.",
            "Nothing was written. Remove the symlink that points out of the download folder.",
        )
    return target


def replace_text(path: Path, text: str) -> None:
    """Write `path` whole through a new file beside it, never through a symlink (one
    planted at the temporary name would otherwise redirect the write)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _short_hash(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha1(text.encode()).digest()).decode()


class Layout(ABC):
    """Paths of one repo's files in a target (the cache or a local folder)."""

    root: Path  # where free disk space is checked

    @abstractmethod
    def final(self, rel: PurePosixPath, commit: str, etag: str) -> Path:
        ...

    @abstractmethod
    def is_done(self, rel: PurePosixPath, commit: str | None, etag: str | None) -> bool:
        ...

    @abstractmethod
    def partial(self, rel: PurePosixPath, etag: str) -> Path:
        ...

    @abstractmethod
    def lock(self, rel: PurePosixPath, etag: str) -> Path:
        ...

    @abstractmethod
    def place(
        self, partial: Path, rel: PurePosixPath, commit: str, etag: str, revision: str
    ) -> Path:
        """Move a whole, verified partial into place; return the path users open."""
        ...

    def link(self, rel: PurePosixPath, commit: str, etag: str, revision: str) -> Path | None:
        """Present an already complete blob at `rel`; None when there is no such blob."""
        return None


class CacheLayout(Layout):
    def __init__(self, cache_dir: Path, repo_id: str) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self.repo_dir = self.cache_dir / repo_folder_name(repo_id)
        self.root = self.cache_dir

    def blob(self, etag: str) -> Path:
        return self.repo_dir / "blobs" / etag

    def snapshot(self, rel: PurePosixPath, commit: str) -> Path:
        return inside(self.repo_dir / "snapshots" / commit, rel)

    def final(self, rel: PurePosixPath, commit: str, etag: str) -> Path:
        return self.snapshot(rel, commit)

    def is_done(self, rel: PurePosixPath, commit: str | None, etag: str | None) -> bool:
        if commit is None:
            return False
        link = self.repo_dir / "snapshots" / commit / Path(*rel.parts)
        if not link.is_file():  # follows the symlink: the blob must be there too
            return False
        return etag is None or not link.is_symlink() or Path(os.path.realpath(link)).name == etag

    def partial(self, rel: PurePosixPath, etag: str) -> Path:
        return self.repo_dir / "blobs" / f"{etag}.incomplete"

    def lock(self, rel: PurePosixPath, etag: str) -> Path:
        return self.cache_dir / ".locks" / self.repo_dir.name / f"{etag}.lock"

    def adopt_partial(self, etag: str) -> None:
        """Take over the largest partial another tool left (huggingface_hub 1.x+ names them
        `<etag>.<8 hex>.incomplete`); call with the blob's lock held."""
        ours = self.repo_dir / "blobs" / f"{etag}.incomplete"
        if ours.exists():
            return
        theirs = sorted(
            (p for p in (self.repo_dir / "blobs").glob(f"{etag}.*.incomplete")
             if stat.S_ISREG(p.lstat().st_mode)),  # not a symlink someone planted
            key=lambda p: p.lstat().st_size,
        )  # fmt: skip
        if theirs and re.fullmatch(r"[0-9a-f]{8}", theirs[-1].name.split(".")[-2]):
            os.replace(theirs[-1], ours)

    def place(
        self, partial: Path, rel: PurePosixPath, commit: str, etag: str, revision: str
    ) -> Path:
        blob = self.blob(etag)
        os.replace(partial, blob)
        return self._link(blob, rel, commit, revision)

    def link(self, rel: PurePosixPath, commit: str, etag: str, revision: str) -> Path | None:
        blob = self.blob(etag)
        return self._link(blob, rel, commit, revision) if blob.is_file() else None

    def _link(self, blob: Path, rel: PurePosixPath, commit: str, revision: str) -> Path:
        pointer = self.snapshot(rel, commit)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(blob, pointer.parent)
        tmp = pointer.with_name(f".{pointer.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp)
        os.replace(tmp, pointer)
        if revision != commit:  # a branch or tag: record which commit it points to
            ref = self.repo_dir / "refs" / Path(*revision.split("/"))
            ref.parent.mkdir(parents=True, exist_ok=True)
            if not ref.exists() or ref.read_text() != commit:
                replace_text(ref, commit)
        return pointer


class LocalDirLayout(Layout):
    def __init__(self, local_dir: Path) -> None:
        self.local_dir = Path(local_dir).expanduser()
        self.root = self.local_dir
        self.meta_dir = self.local_dir / ".cache" / "huggingface" / "download"

    def _meta(self, rel: PurePosixPath) -> Path:
        return inside(self.meta_dir, rel.with_name(rel.name + ".metadata"))

    def final(self, rel: PurePosixPath, commit: str, etag: str) -> Path:
        return inside(self.local_dir, rel)

    def is_done(self, rel: PurePosixPath, commit: str | None, etag: str | None) -> bool:
        file = self.local_dir / Path(*rel.parts)
        meta = self.meta_dir / Path(*rel.parts).with_name(rel.name + ".metadata")
        try:
            got_commit, got_etag, stamp = meta.read_text().splitlines()[:3]
            fresh = file.stat().st_mtime - 1 <= float(stamp)
        except (OSError, ValueError):
            return False
        if etag is not None:
            return fresh and got_etag == etag
        return fresh and commit is not None and got_commit == commit

    def partial(self, rel: PurePosixPath, etag: str) -> Path:
        meta = self._meta(rel)
        return meta.parent / f"{_short_hash(meta.name)}.{etag}.incomplete"

    def lock(self, rel: PurePosixPath, etag: str) -> Path:
        return self._meta(rel).with_suffix(".lock")

    def place(
        self, partial: Path, rel: PurePosixPath, commit: str, etag: str, revision: str
    ) -> Path:
        dest = inside(self.local_dir, rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, dest)
        meta = self._meta(rel)
        meta.parent.mkdir(parents=True, exist_ok=True)
        replace_text(meta, f"{commit}\n{etag}\n{time.time()}\n")
        ignore = self.local_dir / ".cache" / "huggingface" / ".gitignore"
        if not ignore.exists():
            replace_text(ignore, "*")
        return dest


class BlobLock:
    """An exclusive flock on `path`, the same lock huggingface_hub's filelock takes.

    Waits while another download (in this process or another one) holds it,
    polling `stopped` so a pause is not held up.
    """

    def __init__(
        self, path: Path, stopped: Callable[[], bool], on_wait: Callable[[], None]
    ) -> None:
        self.path = path
        self._stopped = stopped
        self._on_wait = on_wait
        self._fd: int | None = None

    def __enter__(self) -> BlobLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise UnsafeNameError(
                f"Refused the lock file {self.path}: it is a symbolic link.",
                "Someone with write access to the cache may have planted it: check who owns "
                "it, delete it if it is not yours, then resume the download.",
            ) from None
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if self._stopped():
                os.close(fd)
                raise InterruptedError
            if not waited:
                self._on_wait()
                waited = True
            time.sleep(0.1)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
