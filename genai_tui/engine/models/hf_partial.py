"""A partial file on its way to full size: appended, hashed while it grows, stoppable.

`Control` is what a running transfer shares with its owner: the stop flag
(set from the event loop; `abort()` also shuts the socket, so a transfer
blocked on a stalled connection stops at once) and the transfer's own
counters, which only the worker thread touches. The worker reports them to
the loop through `on_progress` / `on_status`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shlex
import socket
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx

from genai_tui.engine.models.hf_status import DownloadError

CHUNK = 1 << 20  # bytes written and hashed at a time


class Stopped(Exception):
    """The transfer was asked to stop (pause, cancel, shutdown)."""


class Control:
    """Shared by a running transfer (worker thread) and its owner (event loop).

    The owner only calls `abort()`; the counters and callbacks belong to the worker
    thread, which reports them to the owner (see download_worker.py)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.response: httpx.Response | None = None
        self.net_bytes = 0  # received over the network in this run
        self.file_done = 0  # bytes of the current file on disk
        self.on_progress: Callable[[bool], None] = lambda force: None
        self.on_status: Callable[[str | None, str | None], None] = lambda state, note: None

    def check(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def note(self, text: str, state: str | None = None) -> None:
        self.on_status(state, text)

    def abort(self) -> None:
        """Stop at the next chunk; wake a read blocked on a stalled connection."""
        self.stop.set()
        resp = self.response
        stream = resp.extensions.get("network_stream") if resp is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass(frozen=True, slots=True)
class Digest:
    """What a whole file must hash to: its sha256 (LFS files), or its git blob id (others)."""

    kind: str  # "sha256" or "git"
    hexdigest: str

    def hasher(self, size: int) -> BackgroundHasher:
        if self.kind == "git":  # git's blob id: sha1 of "blob <size>\0" + content
            h = hashlib.sha1(usedforsecurity=False)
            h.update(b"blob %d\0" % size)
            return BackgroundHasher(h)
        return BackgroundHasher(hashlib.sha256())


# hashlib releases the GIL on large buffers: hashing chunk N on these threads while the
# transfer thread reads chunk N+1 keeps verification off the download's critical path.
HASH_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="genai-hash")


class BackgroundHasher:
    """A hashlib object fed on a pool thread; one chunk in flight, in order."""

    def __init__(self, h: Any) -> None:
        self._h = h
        self._pending: Future[None] | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        chunk = bytes(data)  # callers reuse their buffers
        self._wait()
        self._pending = HASH_POOL.submit(self._h.update, chunk)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def hexdigest(self) -> str:
        self._wait()
        return str(self._h.hexdigest())


def open_partial(path: Path) -> Any:
    """`path` opened for appending (created if missing), never through a symlink: in a
    shared cache another user could plant one at a partial's name to make this download
    write into a file of theirs choosing. Only a regular file is accepted."""
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        _refuse(path, f"a symbolic link (to {os.readlink(path)!r})" if path.is_symlink()
                else "reached through a symbolic link")  # fmt: skip
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        _refuse(path, "not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "a+b", buffering=0)


def _refuse(path: Path, what: str) -> NoReturn:
    raise DownloadError(
        f"Refused to write the partial download {path}: it is {what}. Nothing was written "
        "through it.",
        "Someone with write access to that folder may have planted it: check who owns it, "
        f"delete it (rm {shlex.quote(str(path))}) if it is not yours, then resume the download.",
    )


class PartialFile:
    """A partial file open for appending, with the hash of what it holds so far."""

    def __init__(self, path: Path, ctl: Control, digest: Digest | None, size: int) -> None:
        self.ctl = ctl
        self.digest = digest
        self.size = size
        self.fd = open_partial(path)
        self.offset = os.fstat(self.fd.fileno()).st_size
        self.hasher: BackgroundHasher | None = digest.hasher(size) if digest else None
        self.buf = bytearray()
        ctl.file_done = self.offset

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.fd.close()

    def reset(self) -> None:
        """Throw the partial data away and start from byte 0."""
        self.buf.clear()
        self.fd.truncate(0)
        self.offset = self.ctl.file_done = 0
        self.hasher = self.digest.hasher(self.size) if self.digest is not None else None

    def hash_existing(self) -> None:
        assert self.hasher is not None
        self.fd.seek(0)
        buf = bytearray(8 * CHUNK)
        view = memoryview(buf)
        read = 0
        while read < self.offset:
            self.ctl.check()
            n = self.fd.readinto(view[: min(len(buf), self.offset - read)])
            if not n:
                break
            self.hasher.update(view[:n])
            read += n
            self.ctl.file_done = read
            self.ctl.on_progress(False)
        self.offset = read

    def buffer(self, data: bytes, size: int, path: str) -> None:
        if self.offset + len(self.buf) + len(data) > size:
            raise DownloadError(
                f"The server sent more bytes for {path} than its size ({size}).",
                "Retry later; the Hub's file list may have changed meanwhile.",
            )
        self.buf += data

    def flush(self) -> None:
        if not self.buf:
            return
        view = memoryview(self.buf)
        while view:  # a raw write may take less than it was given
            view = view[self.fd.write(view) :]
        view.release()
        if self.hasher is not None:
            self.hasher.update(self.buf)
        self.offset += len(self.buf)
        self.ctl.file_done = self.offset
        self.buf.clear()
