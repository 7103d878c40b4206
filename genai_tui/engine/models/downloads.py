"""The download queue: Hub files into the Hugging Face cache (or a folder), never a byte lost.

Jobs are persisted in the Store the moment they are added and resume after a
dropped connection, a pause, a killed process or an app restart, from the
partial file (`blobs/<etag>.incomplete`) with an HTTP Range request. Each
running job transfers on a worker thread (download_worker.py: httpx, streamed
in 1 MiB pieces, hashed while streaming), so the event loop never waits on
disk or network. The worker's reports cross into asyncio through the thread
bridge (core/bridge.ThreadStream); the queue applies each one to the job on
the loop, all at once, and tells its listeners (`subscribe`, `events`). A file is
shown as finished (blob moved in, snapshot link made, DownloadFinished sent)
only once it is whole and, for LFS files, its hash matches.

States: queued -> running (-> verifying while an existing partial is re-hashed)
-> done | failed | cancelled; paused from queued/running, and back with resume().
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from genai_tui.engine.core.bridge import ThreadStream
from genai_tui.engine.core.events import DownloadFailed, DownloadFinished
from genai_tui.engine.core.store import DownloadRecord, Store
from genai_tui.engine.models.download_events import (
    DownloadEvent,
    EventStream,
    Listener,
    Listeners,
)
from genai_tui.engine.models.download_jobs import (
    ACTIVE,
    SETTLED,
    WORKING,
    DownloadJob,
    JobFile,
    JobState,
    JobUpdate,
)
from genai_tui.engine.models.download_pieces import CONNECTIONS, PIECE_BYTES
from genai_tui.engine.models.download_worker import JobWorker, discard_partials, layout_for
from genai_tui.engine.models.hf_cache import (
    UnsafeNameError,
    check_repo_id,
    check_revision,
    default_cache_dir,
    safe_relpath,
)
from genai_tui.engine.models.hf_partial import CHUNK, Control, Stopped
from genai_tui.engine.models.hf_status import DownloadError
from genai_tui.engine.models.hf_transfer import Fetcher

__all__ = [
    "ACTIVE", "CHUNK", "SETTLED", "DownloadError", "DownloadEvent", "DownloadJob",
    "DownloadQueue", "JobFile",
]  # fmt: skip


class DownloadQueue:
    """Downloads Hub files with bounded concurrency; persisted, resumable, verified.

    `add`, `pause`, `resume`, `cancel` return at once (call them on the event loop);
    the work happens on worker threads. `token=None` downloads anonymously
    (`from_settings` looks the user's token up the way huggingface_hub does).
    `subscribe` (plain callbacks) and `events` (an async stream) tell what happens.
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
        connections: int = CONNECTIONS,
        piece_bytes: int = PIECE_BYTES,
    ) -> None:
        self.store = store
        self.cache_dir = Path(cache_dir).expanduser()
        self.local_root = Path(local_root).expanduser() if local_root else None
        self.concurrency = max(1, concurrency)
        self.connections, self.piece_bytes = connections, piece_bytes
        self.fetcher = Fetcher(endpoint, token, retries=retries, backoff_s=backoff_s,
                               timeout_s=timeout_s)  # fmt: skip
        self._jobs: dict[int, JobState] = {}
        self._listeners = Listeners()
        self._streams: set[EventStream] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._resume_lock: IO[str] | None = None
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
        if resume and not self._claim_resume():
            resume = False  # another instance on this data dir runs the unfinished jobs
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
        elif job.state in WORKING:
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
        elif job.state in WORKING and job.stop_reason == "pause":
            job.resume_after = True

    def cancel(self, job_id: int) -> None:
        """Stop the job and delete its partial files (finished files stay in place)."""
        job = self._job(job_id)
        job.resume_after = False
        if job.state in WORKING:
            self._stop(job, "cancel")
        elif job.state in ("queued", "paused", "failed"):
            job.state = "cancelled"
            job.settled.clear()
            job.task = asyncio.get_running_loop().create_task(self._discard(job))

    def forget(self, job_id: int) -> None:
        """Drop a settled job from the list and the store (files on disk are kept)."""
        job = self._job(job_id)
        if job.state in ACTIVE:
            raise DownloadError(f"Download {job_id} is still active.", "Pause or cancel it first.")
        del self._jobs[job_id]
        self.store.delete_download(job_id)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` on the event loop for every event; returns `unsubscribe`.

        Events: DownloadProgress, at most ~5 a second per job while bytes arrive plus one
        per change of state or note; DownloadFinished and DownloadFailed once a job ends.
        A listener must return quickly and not block; one that raises is logged and kept.
        """
        return self._listeners.add(listener)

    def jobs(self) -> list[DownloadJob]:
        return [self._jobs[i].snapshot() for i in sorted(self._jobs)]

    def job(self, job_id: int) -> DownloadJob:
        return self._job(job_id).snapshot()

    def events(self) -> EventStream:
        """The same events as `subscribe`, as a stream to read with `async for`.

        End it with `await stream.aclose()` (or `async with`); it ends by itself when
        the queue is closed.
        """
        stream = EventStream()
        if self._closing:
            stream.close()
            return stream
        unsubscribe = self.subscribe(stream.push)
        self._streams.add(stream)

        def forget() -> None:
            unsubscribe()
            self._streams.discard(stream)

        stream.on_close = forget
        return stream

    async def wait(self, job_id: int) -> DownloadJob:
        """Wait until the job is done, failed, cancelled or paused; return its snapshot."""
        job = self._job(job_id)
        await job.settled.wait()
        return job.snapshot()

    def _claim_resume(self) -> bool:
        """Only one instance per data dir resumes the unfinished jobs: two would fetch the
        same files into the same partials. An exclusive lock beside the database, held
        while this queue lives, says who; without a lock (no fcntl) every one may."""
        if str(self.store.path) == ":memory:":
            return True
        try:
            import fcntl
        except ImportError:
            return True
        self._resume_lock = open(f"{self.store.path}.downloads.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(self._resume_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._resume_lock.close()
            self._resume_lock = None
            return False
        return True

    async def aclose(self) -> None:
        """Stop transfers at the next chunk, keep partials, persist jobs to resume next start."""
        self._closing = True
        tasks = []
        for job in self._jobs.values():
            if job.state in WORKING:
                self._stop(job, "shutdown")
            if job.task is not None and not job.task.done():
                tasks.append(job.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for stream in list(self._streams):
            stream.on_close()
            stream.close()
        self._executor.shutdown(wait=False)  # its threads are idle: every task has ended
        self.fetcher.close()
        if self._resume_lock is not None:
            self._resume_lock.close()  # releases the lock

    # -- scheduling ------------------------------------------------------------------

    def _job(self, job_id: int) -> JobState:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise DownloadError(
                f"There is no download {job_id}.", "Pick one from the list."
            ) from None

    def _from_record(self, rec: DownloadRecord) -> JobState:
        files = [JobFile.of(f) for f in rec.files]
        job = JobState(rec.id, rec.repo_id, rec.revision, files,
                       Path(rec.local_dir) if rec.local_dir else None, rec.state,
                       rec.total_bytes, rec.commit_hash, rec.error)  # fmt: skip
        job.stored_done = rec.done_bytes
        return job

    def _pump(self) -> None:
        if self._closing or self._loop is None:
            return
        running = sum(1 for j in self._jobs.values() if j.state in WORKING)
        for job in sorted(self._jobs.values(), key=lambda j: j.id):
            if running >= self.concurrency:
                break
            if job.state == "queued" and (job.task is None or job.task.done()):
                ctl = Control()
                job.start_run(ctl)
                worker = JobWorker(job, ctl, fetcher=self.fetcher, store=self.store,
                                   cache_dir=self.cache_dir, connections=self.connections,
                                   piece_bytes=self.piece_bytes)  # fmt: skip
                job.task = self._loop.create_task(self._run(job, worker))
                running += 1

    def _persist(self, job: JobState) -> None:
        self.store.update_download(
            job.id, state="queued" if job.stop_reason == "shutdown" else job.state,
            done_bytes=job.done, total_bytes=job.total, error=job.error,
        )  # fmt: skip

    def _settle(self, job: JobState) -> None:
        job.note = ""
        self._persist(job)
        self._emit(job.progress())
        if job.state == "done":
            self._emit(DownloadFinished(job.id, job.repo_id, job.paths))
        elif job.state == "failed":
            self._emit(DownloadFailed(job.id, job.repo_id, job.error))
        job.settled.set()

    def _emit(self, event: DownloadEvent) -> None:
        self._listeners.emit(event)

    def _stop(self, job: JobState, reason: str) -> None:
        job.stop_reason = reason
        if job.ctl is not None:
            job.ctl.abort()

    async def _run(self, job: JobState, worker: JobWorker) -> None:
        assert self._loop is not None
        # Not _persist: the store keeps the bytes on disk until this run reports its own.
        self.store.update_download(job.id, state=job.state, error="")
        self._emit(job.progress())
        assert job.ctl is not None
        work = ThreadStream[JobUpdate, tuple[Path, ...]](self._executor, worker.run, job.ctl.stop)
        try:
            async for update in work.items():  # the last report comes before the end
                job.apply(update)
                self._emit(job.progress())
            job.paths = await work.result()
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
            await self._discard_partials(job)
        job.stored_done = job.done_files + job.file_done if job.state != "done" else job.total
        job.ctl = None
        self._settle(job)
        job.stop_reason = None
        if job.resume_after and job.state == "paused":
            job.resume_after = False
            self.resume(job.id)
        self._pump()

    async def _discard(self, job: JobState) -> None:
        await self._discard_partials(job)
        self._settle(job)

    async def _discard_partials(self, job: JobState) -> None:
        layout = layout_for(self.cache_dir, job.repo_id, job.local_dir)
        await asyncio.to_thread(discard_partials, layout, tuple(job.files))
