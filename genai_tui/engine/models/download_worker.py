"""One run of one download job, on a worker thread (its files fetched at once by
download_pieces.Pieces: bounded connections, parallel byte ranges).

The worker owns its counters (bytes of finished files, the files in flight, the
total) and never touches the queue's `JobState`: it emits a `JobUpdate` of all
of them at once, at most every PROGRESS_INTERVAL_S while bytes arrive, at once
when a file starts, a note or state changes, and when the run ends. The queue
runs it through the thread bridge (core/bridge.ThreadStream) and applies each
update on the event loop (see downloads.py). The reported "current file" is the
first of the files in flight; its bytes are `file_done`, the others' are in
`done_files`, so `done_files + file_done` is every byte on disk.
"""

from __future__ import annotations

import errno
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

from genai_tui.engine.core.store import Store
from genai_tui.engine.core.text import human_bytes
from genai_tui.engine.models.download_jobs import JobFile, JobState, JobUpdate
from genai_tui.engine.models.download_pieces import CONNECTIONS, PIECE_BYTES, Opened, Pieces
from genai_tui.engine.models.hf_cache import (
    GIT_OID,
    SHA256,
    BlobLock,
    CacheLayout,
    Layout,
    LocalDirLayout,
    UnsafeNameError,
    check_repo_id,
    check_revision,
    safe_relpath,
)
from genai_tui.engine.models.hf_partial import Control, Digest, Partial, discard, done_on_disk
from genai_tui.engine.models.hf_status import DownloadError, FileRef
from genai_tui.engine.models.hf_transfer import Fetcher

PROGRESS_INTERVAL_S = 0.2  # at most ~5 progress reports per second per job


def layout_for(cache_dir: Path, repo_id: str, local_dir: Path | None) -> Layout:
    """Where a job's files go: a plain folder if it has one, else the HF cache."""
    return LocalDirLayout(local_dir) if local_dir is not None else CacheLayout(cache_dir, repo_id)


def discard_partials(layout: Layout, files: Sequence[JobFile]) -> None:
    """Delete the partial files of `files` (those no other download is writing)."""
    for f in files:
        etag = f.etag or f.sha256
        if etag is None:
            continue
        try:
            rel = safe_relpath(f.path)
            with BlobLock(layout.lock(rel, etag), lambda: True, lambda: None):
                discard(layout.partial(rel, etag))
        except (InterruptedError, UnsafeNameError, OSError):
            continue


class JobWorker:
    """Downloads the files of one job; built on the event loop, `run()` on a worker thread."""

    def __init__(self, job: JobState, ctl: Control, *, fetcher: Fetcher, store: Store,
                 cache_dir: Path, connections: int = CONNECTIONS,
                 piece_bytes: int = PIECE_BYTES) -> None:  # fmt: skip
        # Copies, taken on the loop: from here on the job's state is the loop's alone.
        self.job_id, self.repo_id, self.revision = job.id, job.repo_id, job.revision
        self.files = list(job.files)
        self.commit, self.total = job.commit, job.total
        self.layout = layout_for(cache_dir, job.repo_id, job.local_dir)
        self.ctl, self.fetcher, self.store = ctl, fetcher, store
        self.connections, self.piece_bytes = connections, piece_bytes
        self.post: Callable[[JobUpdate], None] = lambda update: None
        self.lock = threading.RLock()  # the counters below, and the order of reports
        self.done_files = 0  # bytes of the files in place (this run)
        self.placed: set[int] = set()
        self.current = -1  # the file last opened, shown while none is in flight
        self.pieces: Pieces | None = None
        self.last_post = 0.0
        self.last_save = time.monotonic()
        ctl.on_progress = self.report
        ctl.on_status = lambda state, note: self.report(True, state=state, note=note)

    # -- reporting (worker threads) --------------------------------------------------

    def report(self, force: bool = False, *, state: str | None = None,
               note: str | None = None) -> None:  # fmt: skip
        """Post the counters as they are now; progress alone at most ~5 times a second."""
        with self.lock:
            now = time.monotonic()
            if not (force or state is not None or note is not None):
                if now - self.last_post < PROGRESS_INTERVAL_S:
                    return
            self.last_post = now
            flying = self.pieces.open_partials() if self.pieces is not None else []
            flying = [(i, p) for i, p in flying if i not in self.placed]
            done_files, current, file_done, file_total = self.done_files, "", 0, 0
            if flying:
                first, part = flying[0]
                current, file_done, file_total = self.files[first].path, part.have(), part.size
                done_files += sum(p.have() for _, p in flying[1:])
            elif 0 <= self.current < len(self.files) and self.current not in self.placed:
                current, file_total = self.files[self.current].path, self.files[self.current].size
            self.post(JobUpdate(
                now, self.ctl.net_bytes, done_files, current, file_done, file_total,
                self.total, self.commit, tuple(self.files), state, note,
            ))  # fmt: skip
        if flying and now - self.last_save > 1.0:  # the ranges on disk, for a resume
            self.last_save = now
            for _, part in flying:
                part.save()

    # -- the work (worker thread) ----------------------------------------------------

    def run(self, post: Callable[[JobUpdate], None]) -> tuple[Path, ...]:
        """Fetch every file, reporting through `post` (thread-safe); the last report, sent
        however the run ends, has the final counts."""
        self.post = post
        try:
            return self._run()
        finally:
            with self.lock:
                self.current = -1  # the partials stay counted: their bytes are on disk
            self.report(force=True)

    def _run(self) -> tuple[Path, ...]:
        try:
            check_repo_id(self.repo_id)
            check_revision(self.revision)
            rels = [safe_relpath(f.path) for f in self.files]
            need = 0
            for f, rel in zip(self.files, rels, strict=True):
                if not self.layout.is_done(rel, self.commit, f.etag or f.sha256):
                    need += max(0, f.size - self._partial_size(rel, f))
            self._check_space(need)
            self.rels = rels
            self.pieces = Pieces(
                self.ctl, self.fetcher, len(self.files), open_file=self._open,
                finished=self._finished, may_open=lambda: self.commit is not None,
                connections=self.connections, piece_bytes=self.piece_bytes,
            )  # fmt: skip
            return tuple(self.pieces.run())
        except UnsafeNameError as exc:
            raise DownloadError(exc.message, exc.hint) from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DownloadError(
                    f"The disk filled up while downloading {self.repo_id} "
                    f"({exc.filename or ''}).",
                    "Free some space, then resume: the partial file is kept.",
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise DownloadError(
                    f"Cannot write {exc.filename or 'the download folder'}: {exc.strerror}.",
                    "Check the folder's permissions, or set download_dir to a folder you can "
                    "write to.",
                ) from None
            raise

    def _finished(self, i: int, path: Path) -> None:
        with self.lock:
            self.placed.add(i)
            self.done_files += self.files[i].size
            self.report(force=True)
            self.store.update_download(self.job_id, done_bytes=self.done_files)

    def _partial_size(self, rel: PurePosixPath, f: JobFile) -> int:
        etag = f.etag or f.sha256
        if etag is None:
            return 0
        return done_on_disk(self.layout.partial(rel, etag), f.size)

    def _check_space(self, need: int) -> None:
        folder = self.layout.root
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if need > free:
            raise DownloadError(
                f"Not enough disk space in {self.layout.root} for {self.repo_id}: it needs "
                f"{human_bytes(need)} more and {human_bytes(free)} is free.",
                "Free some space (or set download_dir to a folder on a larger disk), then resume.",
            )

    def _open(self, i: int) -> Opened | Path:
        """Resolve file i, lock its blob and open its partial; its Path if nothing is to fetch."""
        f, layout, rel = self.files[i], self.layout, self.rels[i]
        with self.lock:
            self.current = i
        if self.commit and layout.is_done(rel, self.commit, f.etag or f.sha256):
            return layout.final(rel, self.commit, f.etag or f.sha256 or "")
        self.report(note="")
        meta = self.fetcher.resolve(
            self.ctl, FileRef(self.repo_id, self.commit or self.revision, f.path), f.size
        )
        commit, etag, size = meta.commit, meta.etag, meta.size
        if f.sha256 and SHA256.match(etag) and etag != f.sha256:
            raise DownloadError(
                f"{f.path} changed on the Hub since its file list was read (listed sha256 "
                f"{f.sha256[:12]}…, the Hub now serves {etag[:12]}…).",
                "Refresh the model's file list and download again.",
            )
        with self.lock:
            if self.commit is None:
                self.commit = commit
                self.store.update_download(self.job_id, commit_hash=commit)
            commit = self.commit
        if layout.is_done(rel, commit, etag):  # e.g. fetched into this folder by hf
            return layout.final(rel, commit, etag)
        with self.lock:
            if size != f.size:
                self.total += size - f.size
            f = self.files[i] = replace(f, etag=etag, size=size)
            self.store.update_download(
                self.job_id, files=[x.to_json() for x in self.files], total_bytes=self.total
            )
        expected = None
        if f.sha256 or SHA256.match(etag):
            expected = Digest("sha256", f.sha256 or etag)
        elif GIT_OID.match(etag):  # the Hub's ETag of a small file is its git blob id
            expected = Digest("git", etag)
        if (done := layout.link(rel, commit, etag, self.revision)) is not None:
            return done  # the blob is already in the cache (an earlier job, or hf)

        def waiting() -> None:
            self.report(note=f"waiting: another download of {f.path} is running")

        lock = BlobLock(layout.lock(rel, etag), self.ctl.stop.is_set, waiting)
        lock.__enter__()
        try:
            self.report(note="")
            if (done := layout.link(rel, commit, etag, self.revision)) is not None:
                lock.__exit__(None, None, None)
                return done
            if isinstance(layout, CacheLayout):
                layout.adopt_partial(etag)
            legacy = layout.partial(rel, etag)
            legacy.parent.mkdir(parents=True, exist_ok=True)
            self._check_space(max(0, size - done_on_disk(legacy, size)))
            partial = Partial(legacy, size, expected)
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        route = self.fetcher.route(FileRef(self.repo_id, commit, f.path), meta.location)
        revision = self.revision

        def place() -> Path:
            return layout.place(partial.path, rel, commit, etag, revision)

        return Opened(partial, route, expected, place, lambda: lock.__exit__(None, None, None))
