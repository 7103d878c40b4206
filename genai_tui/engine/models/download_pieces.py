"""A job's files fetched at once: a bounded set of connections over byte ranges.

`Pieces.run` starts `connections` threads (8, like `hf download`'s workers).
Each takes the next thing to do: a byte range ("piece") of a file already
open, else the next file to open (resolve it, lock its blob, open its
partial). A large file is cut into pieces of `piece_bytes`; its first piece
goes alone, and only once the server answered it with 206 (Range honoured) do
the other connections join in; a server that ignores Range sends the whole
file on that one connection. Each open file has one hashing thread that
verifies the file from byte 0 as its prefix grows (hf_partial.Partial), then
syncs it and moves it into place.

A checksum mismatch fetches that file once more from scratch; a second one,
any other DownloadError, or a stop ends the whole run: the other connections
stop at their next chunk, every partial's record is saved, and `run` raises
the first error (or Stopped).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_tui.engine.models.hf_partial import Control, Digest, Partial, Stopped, discard
from genai_tui.engine.models.hf_status import DownloadError, FileRef
from genai_tui.engine.models.hf_transfer import Fetcher, Route

CONNECTIONS = 8  # connections per job, as many as `hf download` runs workers
PIECE_BYTES = 16 << 20  # files of at least two pieces are fetched in parallel ranges


@dataclass(eq=False)
class Opened:
    """A file ready to fetch: its partial (with the blob lock held) and where it comes from."""

    partial: Partial
    route: Route
    expected: Digest | None
    place: Callable[[], Path]  # move the verified partial into place; returns the path
    release: Callable[[], None]  # drop the blob lock


@dataclass(eq=False)
class _File:
    index: int
    state: str = "new"  # new, opening, open, done
    opened: Opened | None = None
    mode: str = "probe"  # probe (first piece alone), ranged, whole
    pending: collections.deque[tuple[int, int]] = field(default_factory=collections.deque)
    inflight: int = 0
    resets: int = 0
    path: Path | None = None


class Pieces:
    """Runs one job's files; `open_file(i)` returns Opened, or the final Path when the
    file needs no transfer; `finished(i, path)` is told when file i is in place."""

    def __init__(self, ctl: Control, fetcher: Fetcher, count: int, *,
                 open_file: Callable[[int], Opened | Path],
                 finished: Callable[[int, Path], None],
                 may_open: Callable[[], bool] = lambda: True,
                 connections: int = CONNECTIONS,
                 piece_bytes: int = PIECE_BYTES) -> None:  # fmt: skip
        self.ctl, self.fetcher = ctl, fetcher
        self.files = [_File(i) for i in range(count)]
        self.open_file, self.finished, self.may_open = open_file, finished, may_open
        self.connections = max(1, min(connections, CONNECTIONS * 4))
        self.piece_bytes = max(1, piece_bytes)
        self.cond = threading.Condition()
        self.error: BaseException | None = None
        self.threads: list[threading.Thread] = []

    # -- the run ------------------------------------------------------------------------

    def run(self) -> list[Path]:
        n = min(self.connections, max(1, len(self.files)))
        for k in range(n):
            self._spawn(self._connection, f"genai-download-{k}")
        try:
            while True:
                with self.cond:
                    alive = [t for t in self.threads if t.is_alive()]
                if not alive:
                    break
                alive[0].join()
        finally:
            for f in self.files:
                if f.opened is not None and f.state != "done":
                    f.opened.partial.save()
                    f.opened.partial.close()
                    f.opened.release()
        if self.error is not None:
            raise self.error
        self.ctl.check()
        paths = [f.path for f in self.files]
        assert all(p is not None for p in paths)
        return [p for p in paths if p is not None]

    def open_partials(self) -> list[tuple[int, Partial]]:
        """The files being transferred now, with their partials (any thread)."""
        with self.cond:
            return [(f.index, f.opened.partial) for f in self.files
                    if f.state == "open" and f.opened is not None]  # fmt: skip

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        t = threading.Thread(target=self._guard, args=(target, *args), name=name, daemon=True)
        with self.cond:
            self.threads.append(t)
        t.start()

    def _guard(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to run()'s caller
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        with self.cond:
            if self.error is None or (isinstance(self.error, Stopped)
                                      and not isinstance(exc, Stopped)):  # fmt: skip
                self.error = exc
            self.cond.notify_all()
        self.ctl.abort()  # the other threads stop at their next chunk

    def _over(self) -> bool:
        return self.error is not None or self.ctl.stop.is_set()

    # -- connections -----------------------------------------------------------------------

    def _connection(self) -> None:
        while True:
            task = self._next()
            if task is None:
                return
            f, span = task
            if span is None:
                self._open(f)
            else:
                self._piece(f, span)

    def _next(self) -> tuple[_File, tuple[int, int] | None] | None:
        with self.cond:
            while True:
                if self._over():
                    return None
                if all(f.state == "done" for f in self.files):
                    return None
                for f in self.files:
                    if f.state == "open" and f.pending and (f.mode != "probe" or not f.inflight):
                        f.inflight += 1
                        return f, f.pending.popleft()
                opening = any(f.state == "opening" for f in self.files)
                if self.may_open() or not opening:
                    for f in self.files:
                        if f.state == "new":
                            f.state = "opening"
                            return f, None
                self.cond.wait(0.5)

    def _open(self, f: _File) -> None:
        try:
            got = self.open_file(f.index)
        except InterruptedError:
            raise Stopped from None
        if isinstance(got, Path):
            self._done(f, got)
            return
        with self.cond:
            f.opened = got
            f.state = "open"
            self._plan(f)
            self.cond.notify_all()
        self._spawn(self._verify, f"genai-verify-{f.index}", f)

    def _plan(self, f: _File) -> None:
        assert f.opened is not None
        f.pending.clear()
        step = self.piece_bytes
        for a, b in f.opened.partial.gaps():
            if b - a < 2 * step:
                f.pending.append((a, b))
                continue
            cuts = list(range(a, b, step))
            if b - cuts[-1] < step // 2:
                cuts.pop()  # no runt piece at the end
            f.pending.extend(zip(cuts, [*cuts[1:], b], strict=True))
        f.mode = "probe"

    def _piece(self, f: _File, span: tuple[int, int]) -> None:
        assert f.opened is not None
        try:
            self.fetcher.fetch(self.ctl, f.opened.route, f.opened.partial, span[0], span[1],
                               lambda ranged: self._answer(f, ranged))  # fmt: skip
        finally:
            with self.cond:
                f.inflight -= 1
                self.cond.notify_all()
        f.opened.partial.save()

    def _answer(self, f: _File, ranged: bool) -> bool:
        with self.cond:
            if ranged:
                if f.mode == "probe":
                    f.mode = "ranged"
                    self.cond.notify_all()
                return True
            if f.inflight > 1:
                return False  # others are writing ranges: this answer cannot be used
            f.mode = "whole"
            f.pending.clear()
            return True

    # -- verification -----------------------------------------------------------------------

    def _verify(self, f: _File) -> None:
        opened = f.opened
        assert opened is not None
        ref: FileRef = opened.route.ref
        while True:
            got = opened.partial.hash_all(self._over)
            want = opened.expected
            if want is None or got == want.hexdigest:
                break
            f.resets += 1
            if f.resets > 1:
                opened.partial.close()
                discard(opened.partial.legacy)
                raise DownloadError(
                    f"Checksum mismatch for {ref.path} of {ref.repo_id}, twice: expected "
                    f"{want.kind} {want.hexdigest[:12]}…, got {(got or '')[:12]}…. "
                    "The damaged data was deleted.",
                    "The server (or something between) sends other bytes than the Hub "
                    "lists; retry later: the file will be downloaded again from scratch.",
                )
            self.ctl.note(f"checksum mismatch for {ref.path}; downloading it again from scratch")
            opened.partial.reset()
            with self.cond:
                self._plan(f)
                self.cond.notify_all()
        opened.partial.fsync()
        path = opened.place()
        opened.partial.forget()
        opened.release()
        self._done(f, path)

    def _done(self, f: _File, path: Path) -> None:
        self.finished(f.index, path)  # first: the file is counted in place, then not in flight
        with self.cond:
            f.path, f.state = path, "done"
            self.cond.notify_all()
