"""The download queue: Hub files into the Hugging Face cache (or a folder), never a byte lost.

Jobs are persisted in the Store the moment they are added and resume after a
dropped connection, a pause, a killed process or an app restart, from the
partial file (`blobs/<etag>.incomplete`) with an HTTP Range request. Each
running job transfers on a worker thread (httpx, streamed in 1 MiB pieces,
hashed while streaming); progress crosses into asyncio with
`loop.call_soon_threadsafe`, so the event loop never waits on disk or network.
A file is shown as finished (blob moved in, snapshot link made,
DownloadFinished sent) only once it is whole and, for LFS files, its sha256
matches.

States: queued -> running (-> verifying while an existing partial is re-hashed)
-> done | failed | cancelled; paused from queued/running, and back with resume().
"""

from __future__ import annotations

import asyncio
import collections
import errno
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from genai_tui.engine.core.events import DownloadFailed, DownloadFinished, DownloadProgress
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
    default_cache_dir,
    safe_relpath,
)
from genai_tui.engine.models.hf_transfer import (
    CHUNK,
    Control,
    Digest,
    DownloadError,
    Fetcher,
    FileRef,
    Stopped,
)
from genai_tui.engine.core.store import DownloadRecord, Store
from genai_tui.engine.core.text import human_bytes

__all__ = ["CHUNK", "DownloadError", "DownloadEvent", "DownloadJob", "DownloadQueue", "JobFile"]

PROGRESS_INTERVAL_S = 0.2  # at most ~5 progress events per second per job
ACTIVE = ("queued", "running", "verifying")
SETTLED = ("paused", "done", "failed", "cancelled")

DownloadEvent = DownloadProgress | DownloadFinished | DownloadFailed


@dataclass(frozen=True, slots=True)
class JobFile:
    """One file of a job: its path in the repo, size, and the sha256 of LFS files."""

    path: str
    size: int
    sha256: str | None = None
    etag: str | None = None  # learned from the Hub when the file is first resolved

    @classmethod
    def of(cls, f: Any) -> JobFile:
        """From a HubFile (path, size, sha256), a dict, or a JobFile."""
        if isinstance(f, dict):
            return cls(f["path"], int(f.get("size") or 0), f.get("sha256"), f.get("etag"))
        return cls(str(f.path), int(getattr(f, "size", 0) or 0), getattr(f, "sha256", None))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "etag": self.etag}


@dataclass(frozen=True, slots=True)
class DownloadJob:
    """A snapshot of one job, as `jobs()` and `wait()` return it."""

    id: int
    repo_id: str
    revision: str
    files: tuple[JobFile, ...]
    local_dir: Path | None
    state: str
    done: int
    total: int
    speed_bps: float = 0.0
    eta_s: float | None = None
    error: str = ""
    note: str = ""
    current_file: str = ""
    file_done: int = 0
    file_total: int = 0
    commit: str | None = None
    paths: tuple[Path, ...] = ()


@dataclass(eq=False)
class _Job:
    id: int
    repo_id: str
    revision: str
    files: list[JobFile]
    local_dir: Path | None
    state: str
    total: int
    commit: str | None = None
    error: str = ""
    note: str = ""
    done_files: int = 0  # bytes of files finished in this run
    current_file: str = ""
    file_total: int = 0
    paths: tuple[Path, ...] = ()
    ctl: Control = field(default_factory=Control)
    stop_reason: str | None = None  # "pause", "cancel", "shutdown"
    resume_after: bool = False
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    last_post: float = 0.0
    samples: collections.deque[tuple[float, int]] = field(
        default_factory=lambda: collections.deque(maxlen=64)
    )
    stored_done: int = 0

    @property
    def file_done(self) -> int:
        return self.ctl.file_done

    @property
    def done(self) -> int:
        if self.state in ("running", "verifying"):
            return self.done_files + self.file_done
        return self.total if self.state == "done" else self.stored_done

    def speed(self) -> float:
        if self.state != "running" or len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def snapshot(self) -> DownloadJob:
        speed = self.speed()
        eta = (self.total - self.done) / speed if speed > 0 else None
        return DownloadJob(
            self.id, self.repo_id, self.revision, tuple(self.files), self.local_dir, self.state,
            self.done, self.total, speed, eta, self.error, self.note, self.current_file,
            self.file_done, self.file_total, self.commit, self.paths,
        )  # fmt: skip

    def progress(self) -> DownloadProgress:
        s = self.snapshot()
        return DownloadProgress(
            s.id, s.repo_id, s.state, s.current_file, s.file_done, s.file_total, s.done, s.total,
            s.speed_bps, s.eta_s, s.error, note=s.note,
        )  # fmt: skip


class _Subscription:
    """One consumer's view of the event stream; old progress is dropped if it falls behind."""

    def __init__(self, owner: DownloadQueue, maxlen: int = 1000) -> None:
        self._owner = owner
        self._items: collections.deque[DownloadEvent] = collections.deque()
        self._maxlen = maxlen
        self._ready = asyncio.Event()
        self._closed = False

    def push(self, event: DownloadEvent) -> None:
        if len(self._items) >= self._maxlen:
            for i, old in enumerate(self._items):
                if isinstance(old, DownloadProgress):
                    del self._items[i]
                    break
        self._items.append(event)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> DownloadEvent:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    async def aclose(self) -> None:
        self._owner._subs.discard(self)
        self.close()

    async def __aenter__(self) -> _Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class DownloadQueue:
    """Downloads Hub files with bounded concurrency; persisted, resumable, verified.

    `add`, `pause`, `resume`, `cancel` return at once (call them on the event loop);
    the work happens on worker threads. `token=None` downloads anonymously
    (`from_settings` looks the user's token up the way huggingface_hub does).
    """

    def __init__(
        self,
        store: Store,
        *,
        cache_dir: Path,
        endpoint: str,
        token: str | None,
        concurrency: int = 2,
        retries: int = 5,
        backoff_s: float = 1.0,
        local_root: Path | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.store = store
        self.cache_dir = Path(cache_dir).expanduser()
        self.local_root = Path(local_root).expanduser() if local_root else None
        self.concurrency = max(1, concurrency)
        self.fetcher = Fetcher(
            endpoint,
            token,
            retries=retries,
            backoff_s=backoff_s,
            timeout_s=timeout_s,
            max_connections=2 * self.concurrency + 2,
        )
        self._jobs: dict[int, _Job] = {}
        self._subs: set[_Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="genai-download")

    @classmethod
    def from_settings(cls, store: Store, settings: Any, *, endpoint: str | None = None,
                      token: str | None = None) -> DownloadQueue:  # fmt: skip
        """A queue as the settings ask: HF cache or download_dir, concurrency, the user's token."""
        token = token or getattr(settings, "hf_token", None)
        if token is None:
            from huggingface_hub import get_token

            token = get_token()
        if not endpoint:
            from huggingface_hub import constants

            endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT
        return cls(store, cache_dir=default_cache_dir(), endpoint=endpoint, token=token,
                   concurrency=settings.download_concurrency,
                   local_root=settings.download_dir)  # fmt: skip

    # -- public API (call on the event loop) ----------------------------------------

    async def start(self, *, resume: bool = True) -> None:
        """Load persisted jobs; those that were queued or running when the app stopped resume.

        `resume=False` loads nothing: for a one-off queue (e.g. `genai-tui pull`) that
        must not take over the jobs of a TUI running on the same store.
        """
        self._loop = asyncio.get_running_loop()
        records = await asyncio.to_thread(self.store.downloads) if resume else []
        for rec in records:
            if rec.id in self._jobs:
                continue
            job = self._from_record(rec)
            self._jobs[rec.id] = job
            if rec.state in ACTIVE:
                job.state = "queued"
                self._persist(job)
            else:
                job.settled.set()
        self._pump()

    def add(self, repo_id: str, files: Sequence[Any], revision: str = "main",
            local_dir: Path | None = None) -> int:  # fmt: skip
        """Queue `files` (HubFile-like: path, size, sha256) of `repo_id`; returns the job id.

        The job is persisted before this returns. A job whose names are unsafe fails at
        once (DownloadFailed) and writes nothing.
        """
        self._loop = self._loop or asyncio.get_running_loop()
        unique: dict[str, JobFile] = {}
        for f in files:
            jf = JobFile.of(f)
            unique.setdefault(jf.path, jf)
        job_files = list(unique.values())
        if local_dir is None and self.local_root is not None:
            local_dir = self.local_root / repo_id
        error = ""
        try:
            check_repo_id(repo_id)
            check_revision(revision)
            for jf in job_files:
                safe_relpath(jf.path)
        except UnsafeNameError as exc:
            error = str(exc)
        total = sum(f.size for f in job_files)
        rec = self.store.add_download(
            repo_id, revision, [f.to_json() for f in job_files],
            str(local_dir) if local_dir else None, total_bytes=total,
            state="failed" if error else "queued", error=error,
        )  # fmt: skip
        job = self._from_record(rec)
        self._jobs[job.id] = job
        if error:
            self._settle(job)
        else:
            self._emit(job.progress())
            self._pump()
        return job.id

    def pause(self, job_id: int) -> None:
        """Stop at the next chunk and keep the partial file; `resume` goes on from it."""
        job = self._job(job_id)
        job.resume_after = False
        if job.state == "queued":
            job.state = "paused"
            self._settle(job)
        elif job.state in ("running", "verifying"):
            self._stop(job, "pause")

    def resume(self, job_id: int) -> None:
        """Queue a paused or failed job again; it continues from its partial file."""
        job = self._job(job_id)
        if job.state in ("paused", "failed"):
            job.state, job.error, job.note = "queued", "", ""
            job.settled.clear()
            self._persist(job)
            self._emit(job.progress())
            self._pump()
        elif job.state in ("running", "verifying") and job.stop_reason == "pause":
            job.resume_after = True

    def cancel(self, job_id: int) -> None:
        """Stop the job and delete its partial files (finished files stay in place)."""
        job = self._job(job_id)
        job.resume_after = False
        if job.state in ("running", "verifying"):
            self._stop(job, "cancel")
        elif job.state in ("queued", "paused", "failed"):
            job.state = "cancelled"
            job.settled.clear()
            job.task = asyncio.get_running_loop().create_task(self._discard(job))

    def forget(self, job_id: int) -> None:
        """Drop a settled job from the list and the store (files on disk are kept)."""
        job = self._job(job_id)
        if job.state in ("queued", "running", "verifying"):
            raise DownloadError(f"Download {job_id} is still active.", "Pause or cancel it first.")
        del self._jobs[job_id]
        self.store.delete_download(job_id)

    def jobs(self) -> list[DownloadJob]:
        return [self._jobs[i].snapshot() for i in sorted(self._jobs)]

    def job(self, job_id: int) -> DownloadJob:
        return self._job(job_id).snapshot()

    def events(self) -> _Subscription:
        """A new subscription to DownloadProgress/DownloadFinished/DownloadFailed events.

        Iterate it with `async for`; end it with `await sub.aclose()` (or `async with`).
        It ends by itself when the queue is closed.
        """
        sub = _Subscription(self)
        if self._closing:
            sub.close()
        self._subs.add(sub)
        return sub

    async def wait(self, job_id: int) -> DownloadJob:
        """Wait until the job is done, failed, cancelled or paused; return its snapshot."""
        job = self._job(job_id)
        await job.settled.wait()
        return job.snapshot()

    async def aclose(self) -> None:
        """Stop transfers at the next chunk, keep partials, persist jobs to resume next start."""
        self._closing = True
        tasks = []
        for job in self._jobs.values():
            if job.state in ("running", "verifying"):
                self._stop(job, "shutdown")
            if job.task is not None and not job.task.done():
                tasks.append(job.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for sub in list(self._subs):
            sub.close()
        self._subs.clear()
        self._executor.shutdown(wait=False)  # its threads are idle: every task has ended
        self.fetcher.close()

    # -- scheduling ------------------------------------------------------------------

    def _job(self, job_id: int) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise DownloadError(
                f"There is no download {job_id}.", "Pick one from the list."
            ) from None

    def _from_record(self, rec: DownloadRecord) -> _Job:
        files = [JobFile.of(f) for f in rec.files]
        job = _Job(rec.id, rec.repo_id, rec.revision, files,
                   Path(rec.local_dir) if rec.local_dir else None, rec.state, rec.total_bytes,
                   rec.commit_hash, rec.error)  # fmt: skip
        job.stored_done = rec.done_bytes
        return job

    def _pump(self) -> None:
        if self._closing or self._loop is None:
            return
        running = sum(1 for j in self._jobs.values() if j.state in ("running", "verifying"))
        for job in sorted(self._jobs.values(), key=lambda j: j.id):
            if running >= self.concurrency:
                break
            if job.state == "queued" and (job.task is None or job.task.done()):
                job.state = "running"
                job.ctl = Control()
                job.ctl.on_progress = lambda force, job=job: self._tick(job, force)
                job.ctl.on_status = lambda state, note, job=job: self._set(job, state, note)
                job.stop_reason, job.error, job.note = None, "", ""
                job.settled.clear()
                job.task = self._loop.create_task(self._run(job))
                running += 1

    def _persist(self, job: _Job) -> None:
        self.store.update_download(
            job.id, state="queued" if job.stop_reason == "shutdown" else job.state,
            done_bytes=job.done, total_bytes=job.total, error=job.error,
        )  # fmt: skip

    def _settle(self, job: _Job) -> None:
        job.note = ""
        self._persist(job)
        self._emit(job.progress())
        if job.state == "done":
            self._emit(DownloadFinished(job.id, job.repo_id, job.paths))
        elif job.state == "failed":
            self._emit(DownloadFailed(job.id, job.repo_id, job.error))
        job.settled.set()

    def _emit(self, event: DownloadEvent) -> None:
        for sub in list(self._subs):
            sub.push(event)

    def _stop(self, job: _Job, reason: str) -> None:
        job.stop_reason = reason
        job.ctl.abort()

    async def _run(self, job: _Job) -> None:
        assert self._loop is not None
        job.samples.clear()
        self._persist(job)
        self._emit(job.progress())
        try:
            job.paths = await self._loop.run_in_executor(self._executor, self._work, job)
            job.state = "done"
        except Stopped:
            job.state = "cancelled" if job.stop_reason == "cancel" else "paused"
        except DownloadError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a bug or an OS error we did not foresee: keep the app alive
            job.state = "failed"
            job.error = (f"Download of {job.repo_id} stopped: {type(exc).__name__}: {exc}. "
                         "The partial file is kept; resume to try again.")  # fmt: skip
        if job.state == "cancelled":
            await self._loop.run_in_executor(None, self._discard_partials, job)
        job.stored_done = job.done_files + job.file_done if job.state != "done" else job.total
        self._settle(job)
        job.stop_reason = None
        if job.resume_after and job.state == "paused":
            job.resume_after = False
            self.resume(job.id)
        self._pump()

    async def _discard(self, job: _Job) -> None:
        await asyncio.to_thread(self._discard_partials, job)
        self._settle(job)

    # -- thread -> loop -------------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _tick(self, job: _Job, force: bool = False) -> None:
        """Called on the worker thread as bytes arrive; posts at most ~5 events/s."""
        now = time.monotonic()
        if force or now - job.last_post >= PROGRESS_INTERVAL_S:
            job.last_post = now
            self._call(self._on_tick, job, now, job.ctl.net_bytes)

    def _on_tick(self, job: _Job, now: float, net: int) -> None:
        job.samples.append((now, net))
        while len(job.samples) > 2 and now - job.samples[0][0] > 5.0:
            job.samples.popleft()
        if job.state in ("running", "verifying"):
            self._emit(job.progress())

    def _set(self, job: _Job, state: str | None = None, note: str | None = None) -> None:
        """From the worker thread: change the shown state or note, and tell subscribers now."""

        def apply() -> None:
            if job.state in ("running", "verifying"):
                if state is not None:
                    job.state = state
                if note is not None:
                    job.note = note
                self._emit(job.progress())

        self._call(apply)

    # -- the work (worker thread) ----------------------------------------------------

    def _layout(self, job: _Job) -> Layout:
        if job.local_dir is not None:
            return LocalDirLayout(job.local_dir)
        return CacheLayout(self.cache_dir, job.repo_id)

    def _work(self, job: _Job) -> tuple[Path, ...]:
        try:
            check_repo_id(job.repo_id)
            check_revision(job.revision)
            rels = [safe_relpath(f.path) for f in job.files]
            layout = self._layout(job)
            need = 0
            for f, rel in zip(job.files, rels, strict=True):
                if not layout.is_done(rel, job.commit, f.etag or f.sha256):
                    need += max(0, f.size - self._partial_size(layout, rel, f))
            self._check_space(job, layout, need)
            paths = []
            job.done_files = 0
            for i, rel in enumerate(rels):
                job.ctl.check()
                paths.append(self._fetch(job, layout, i, rel))
                job.done_files += job.files[i].size
                job.ctl.file_done = 0
                self.store.update_download(job.id, done_bytes=job.done_files)
            job.current_file, job.ctl.file_done, job.file_total = "", 0, 0
            return tuple(paths)
        except UnsafeNameError as exc:
            raise DownloadError(exc.message, exc.hint) from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DownloadError(
                    f"The disk filled up while downloading {job.repo_id} ({exc.filename or ''}).",
                    "Free some space, then resume: the partial file is kept.",
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise DownloadError(
                    f"Cannot write {exc.filename or 'the download folder'}: {exc.strerror}.",
                    "Check the folder's permissions, or set download_dir to a folder you can "
                    "write to.",
                ) from None
            raise

    def _partial_size(self, layout: Layout, rel: PurePosixPath, f: JobFile) -> int:
        etag = f.etag or f.sha256
        if etag is None:
            return 0
        try:
            return layout.partial(rel, etag).stat().st_size
        except OSError:
            return 0

    def _check_space(self, job: _Job, layout: Layout, need: int) -> None:
        folder = layout.root
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if need > free:
            raise DownloadError(
                f"Not enough disk space in {layout.root} for {job.repo_id}: it needs "
                f"{human_bytes(need)} more and {human_bytes(free)} is free.",
                "Free some space (or set download_dir to a folder on a larger disk), then resume.",
            )

    def _fetch(self, job: _Job, layout: Layout, i: int, rel: PurePosixPath) -> Path:
        f = job.files[i]
        job.current_file, job.file_total, job.ctl.file_done = f.path, f.size, 0
        if job.commit and layout.is_done(rel, job.commit, f.etag or f.sha256):
            self._tick(job, force=True)
            return layout.final(rel, job.commit, f.etag or f.sha256 or "")
        self._set(job, note="")
        ref = FileRef(job.repo_id, job.commit or job.revision, f.path)
        meta = self.fetcher.resolve(job.ctl, ref, f.size)
        commit, etag, size = meta.commit, meta.etag, meta.size
        if f.sha256 and SHA256.match(etag) and etag != f.sha256:
            raise DownloadError(
                f"{f.path} changed on the Hub since its file list was read (listed sha256 "
                f"{f.sha256[:12]}…, the Hub now serves {etag[:12]}…).",
                "Refresh the model's file list and download again.",
            )
        if job.commit is None:
            job.commit = commit
            self.store.update_download(job.id, commit_hash=commit)
        if layout.is_done(rel, job.commit, etag):  # e.g. fetched into this folder by hf
            return layout.final(rel, job.commit, etag)
        if size != f.size:
            job.total += size - f.size
        f = job.files[i] = replace(f, etag=etag, size=size)
        job.file_total = size
        self.store.update_download(
            job.id, files=[x.to_json() for x in job.files], total_bytes=job.total
        )
        expected = None
        if f.sha256 or SHA256.match(etag):
            expected = Digest("sha256", f.sha256 or etag)
        elif GIT_OID.match(etag):  # the Hub's ETag of a small file is its git blob id
            expected = Digest("git", etag)
        assert job.commit is not None
        if (done := layout.link(rel, job.commit, etag, job.revision)) is not None:
            return done  # the blob is already in the cache (an earlier job, or hf)

        def waiting() -> None:
            self._set(job, note=f"waiting: another download of {f.path} is running")

        try:
            with BlobLock(layout.lock(rel, etag), job.ctl.stop.is_set, waiting):
                self._set(job, note="")
                if (done := layout.link(rel, job.commit, etag, job.revision)) is not None:
                    return done
                if isinstance(layout, CacheLayout):
                    layout.adopt_partial(etag)
                partial = layout.partial(rel, etag)
                partial.parent.mkdir(parents=True, exist_ok=True)
                have = partial.stat().st_size if partial.exists() else 0
                self._check_space(job, layout, max(0, size - have))
                ref = FileRef(job.repo_id, job.commit, f.path)
                self.fetcher.download(job.ctl, ref, partial, size, expected)
                return layout.place(partial, rel, job.commit, etag, job.revision)
        except InterruptedError:
            raise Stopped from None

    def _discard_partials(self, job: _Job) -> None:
        """Delete the job's partial files (those no other download is writing)."""
        layout = self._layout(job)
        for f in job.files:
            etag = f.etag or f.sha256
            if etag is None:
                continue
            try:
                rel = safe_relpath(f.path)
                with BlobLock(layout.lock(rel, etag), lambda: True, lambda: None):
                    layout.partial(rel, etag).unlink(missing_ok=True)
            except (InterruptedError, UnsafeNameError, OSError):
                continue
