"""A partial file on its way to full size: written in ranges, hashed in order, resumable.

`Control` is what a running job shares with its owner: the stop flag (set from
the event loop; `abort()` also shuts every open socket, so a transfer blocked
on a stalled connection stops at once) and the network byte counter.

`Partial` is one file being downloaded, possibly by several connections at
once, each writing its own byte range (`pwrite`). Which ranges are on disk is
recorded in a sidecar beside it (`<partial>.ranges`, JSON, replaced
atomically, never claiming a byte before it was written), so a stopped or
killed download resumes byte-exact from what is there. The hash is computed by
one thread over the file's contiguous prefix, reading back what the
connections wrote (from the page cache), so it runs beside the transfer and
never needs the ranges in order.

The data file is `<etag>.ranged.incomplete`, not the `<etag>.incomplete` that
older huggingface_hub versions resume by appending to: a file with holes must
never be mistaken for a prefix. Such a contiguous partial (theirs, or ours
from before) is adopted as a first range.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import socket
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from genai_tui.engine.models.hf_cache import replace_text
from genai_tui.engine.models.hf_status import DownloadError

CHUNK = 1 << 20  # bytes read from a socket (and written) at a time
HASH_CHUNK = 4 << 20  # bytes read back and hashed at a time
RECORD_LIMIT = 1 << 20  # a sidecar larger than this is not ours


class Stopped(Exception):
    """The transfer was asked to stop (pause, cancel, shutdown)."""


class Control:
    """Shared by a running job's threads and its owner (event loop).

    The owner only calls `abort()`; `add_bytes` and the callbacks are called by the
    job's threads."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.net_bytes = 0  # received over the network in this run
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self.on_progress: Any = lambda force=False: None
        self.on_status: Any = lambda state, note: None

    def check(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def note(self, text: str, state: str | None = None) -> None:
        self.on_status(state, text)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.net_bytes += n

    def watch(self, sock: socket.socket | None) -> None:
        """`abort()` shuts `sock` down until `unwatch`."""
        if sock is not None:
            with self._lock:
                self._socks.add(sock)
            if self.stop.is_set():
                self.shutdown()

    def unwatch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._socks.discard(sock)

    def shutdown(self) -> None:
        """Wake every read blocked on a watched socket."""
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def abort(self) -> None:
        """Stop at the next chunk; wake reads blocked on stalled connections."""
        self.stop.set()
        self.shutdown()


@dataclass(frozen=True, slots=True)
class Digest:
    """What a whole file must hash to: its sha256 (LFS files), or its git blob id (others)."""

    kind: str  # "sha256" or "git"
    hexdigest: str

    def hasher(self, size: int) -> Any:
        if self.kind == "git":  # git's blob id: sha1 of "blob <size>\0" + content
            h = hashlib.sha1(usedforsecurity=False)
            h.update(b"blob %d\0" % size)
            return h
        return hashlib.sha256()


def open_partial(path: Path) -> int:
    """`path` opened for reading and writing (created if missing), never through a
    symlink: in a shared cache another user could plant one at a partial's name to make
    this download write into a file of their choosing. Only a regular file is accepted."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
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
    return fd


def _refuse(path: Path, what: str) -> NoReturn:
    raise DownloadError(
        f"Refused to write the partial download {path}: it is {what}. Nothing was written "
        "through it.",
        "Someone with write access to that folder may have planted it: check who owns it, "
        f"delete it (rm {shlex.quote(str(path))}) if it is not yours, then resume the download.",
    )


def ranged_path(legacy: Path) -> Path:
    """The data file for the partial whose contiguous (legacy) name is `legacy`."""
    return legacy.with_name(legacy.name.removesuffix(".incomplete") + ".ranged.incomplete")


def record_path(data: Path) -> Path:
    return data.with_name(data.name + ".ranges")


def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-empty, non-overlapping, touching spans joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def read_record(path: Path, size: int) -> list[tuple[int, int]] | None:
    """The spans a sidecar says are on disk, or None if it is missing or not valid."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = json.loads(os.read(fd, RECORD_LIMIT + 1)[: RECORD_LIMIT + 1] or b"null")
        if not isinstance(data, dict) or data.get("size") != size:
            return None
        spans = [(int(a), int(b)) for a, b in data.get("done", [])]
    except (OSError, ValueError, TypeError):
        return None
    finally:
        os.close(fd)
    if any(not 0 <= a < b <= size for a, b in spans):
        return None
    return merge(spans)


def done_on_disk(legacy: Path, size: int) -> int:
    """Bytes of a file already downloaded (its ranged partial, else a legacy prefix)."""
    data = ranged_path(legacy)
    spans = read_record(record_path(data), size) if data.exists() else None
    if spans is not None:
        return sum(b - a for a, b in spans)
    try:
        found = legacy.lstat()  # a planted symlink is not our progress
    except OSError:
        return 0
    return min(size, found.st_size) if stat.S_ISREG(found.st_mode) else 0


def discard(legacy: Path) -> None:
    data = ranged_path(legacy)
    for p in (data, record_path(data), legacy):
        p.unlink(missing_ok=True)


class Partial:
    """One file's partial data: the spans on disk, the ranges being written, the hash.

    Thread-safe: connection threads `write` and `advance`; one thread runs `hash_all`."""

    def __init__(self, legacy: Path, size: int, digest: Digest | None) -> None:
        self.legacy = legacy
        self.path = ranged_path(legacy)
        self.record = record_path(self.path)
        self.size = size
        self.digest = digest
        self.cond = threading.Condition()
        self._io = threading.Lock()  # one record write at a time, newest state last
        self.done: list[tuple[int, int]] = []
        self.active: dict[int, list[int]] = {}  # id -> [start, pos]: ranges being written
        self._next_id = 0
        self.fd = -1
        self._open()

    def _open(self) -> None:
        spans = read_record(self.record, self.size) if self.path.exists() else None
        if spans is None and not os.path.lexists(self.path) and os.path.lexists(self.legacy):
            legacy = open_partial(self.legacy)  # refuses a planted symlink
            have = os.fstat(legacy).st_size
            os.close(legacy)
            spans = [(0, have)] if 0 < have <= self.size else []
            self._write_record(spans)  # first: it never claims bytes that are not there
            os.replace(self.legacy, self.path)
        self.fd = open_partial(self.path)
        have = os.fstat(self.fd).st_size
        if spans is None:  # no (valid) record: nothing in the file is known to be good
            spans = []
        spans = merge([(a, min(b, have)) for a, b in spans])
        if not spans:
            os.ftruncate(self.fd, 0)
        self.done = spans
        self._write_record(spans)

    # -- what is where ---------------------------------------------------------------

    def _spans(self) -> list[tuple[int, int]]:
        return merge(self.done + [(a, p) for a, p in self.active.values()])

    def have(self) -> int:
        with self.cond:
            return sum(b - a for a, b in self._spans())

    def gaps(self) -> list[tuple[int, int]]:
        """The byte ranges still to fetch (none being fetched now)."""
        with self.cond:
            out, at = [], 0
            for a, b in self._spans():
                if a > at:
                    out.append((at, a))
                at = b
            if at < self.size:
                out.append((at, self.size))
            return out

    def frontier(self) -> int:
        spans = self._spans()
        return spans[0][1] if spans and spans[0][0] == 0 else 0

    # -- writing (connection threads) --------------------------------------------------

    def begin(self, start: int) -> int:
        with self.cond:
            self._next_id += 1
            self.active[self._next_id] = [start, start]
            return self._next_id

    def write(self, rid: int, data: memoryview) -> None:
        with self.cond:
            pos = self.active[rid][1]
        while data:  # a write may take less than it was given
            n = os.pwrite(self.fd, data, pos)
            data, pos = data[n:], pos + n
        with self.cond:
            self.active[rid][1] = pos
            self.cond.notify_all()

    def pos(self, rid: int) -> int:
        with self.cond:
            return self.active[rid][1]

    def end(self, rid: int) -> None:
        """The range `rid` is no longer written: what it wrote counts as done."""
        with self.cond:
            start, pos = self.active.pop(rid)
            self.done = merge([*self.done, (start, pos)])
            self.cond.notify_all()

    def save(self) -> None:
        """Record what is on disk now (any thread; a newer record is never overwritten)."""
        with self._io:
            if self.fd < 0:
                return  # closed: placed, or the run is over and saved its last record
            with self.cond:
                spans = self._spans()
            self._write_record(spans)

    def _write_record(self, spans: list[tuple[int, int]]) -> None:
        replace_text(self.record, json.dumps({"size": self.size, "done": spans}))

    def reset(self) -> None:
        """Throw the data away (no range may be active)."""
        with self._io, self.cond:
            self.done = []
            os.ftruncate(self.fd, 0)
            self._write_record([])
            self.cond.notify_all()

    # -- hashing (one thread) ------------------------------------------------------------

    def hash_all(self, stopped: Any) -> str | None:
        """Hash the file from byte 0 as its prefix grows; the hex digest once all `size`
        bytes are in (None without a digest). Raises Stopped when `stopped()`."""
        h = self.digest.hasher(self.size) if self.digest is not None else None
        buf = bytearray(HASH_CHUNK if h is not None else 0)
        view = memoryview(buf)
        hashed = 0
        while hashed < self.size:
            with self.cond:
                while (ready := self.frontier()) <= hashed:
                    if stopped():
                        raise Stopped
                    self.cond.wait(0.1)
            if h is None:
                hashed = ready
                continue
            while hashed < ready:
                n = os.preadv(self.fd, [view[: min(len(buf), ready - hashed)]], hashed)
                if n <= 0:
                    raise DownloadError(
                        f"{self.path} shrank while it was being verified.",
                        "Resume the download; it starts that file again.",
                    )
                h.update(view[:n])
                hashed += n
        return str(h.hexdigest()) if h is not None else None

    def close(self) -> None:
        with self._io:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    def fsync(self) -> None:
        os.fsync(self.fd)

    def forget(self) -> None:
        """After the whole file was moved into place: drop its record (and any legacy
        partial of the same blob)."""
        self.close()
        self.record.unlink(missing_ok=True)
        self.legacy.unlink(missing_ok=True)

    def restart(self, rid: int) -> None:
        """Range `rid` becomes the whole file from byte 0 (the server ignored Range);
        only when no other range is active."""
        with self._io, self.cond:
            assert list(self.active) == [rid]
            self.active[rid] = [0, 0]
            self.done = []
            os.ftruncate(self.fd, 0)
            self._write_record([])
