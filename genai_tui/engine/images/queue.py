"""The image queue: requests that wait their turn and run one at a time, in order,
through ImageStudio.generate (which takes its GPU turns through residency.gpu_slot).

Jobs are rows of the store's `image_jobs` table from the moment they are added, so
the queue survives a restart; `genai-tui gen --queue` adds rows from another process,
and the queue reads the table about once a second while it is idle. States:
queued -> running -> done | failed | cancelled. A job that fails is marked failed with
its message and the next one runs; a cancelled job never runs; a job running when the
app quits is queued again on the next start.

One instance per data dir runs the jobs: the one holding a lock beside the database
(`<db>.images.lock`); another instance lists and adds jobs, and takes over when the
first one quits. A job runs only while the studio is idle: a request the studio started
itself finishes first.

ETA: the seconds per step each model took here (measured while it runs, first taken
from the gallery's recorded durations) times the steps left, summed down the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from contextlib import aclosing, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import ImageReady, ImagesDone, PipelineLoaded, StepProgress
from genai_tui.engine.images.diffusion_params import ImageRequest, validate
from genai_tui.engine.images.queue_events import (
    ACTIVE,
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    ImageJob,
    JobCancelled,
    JobDone,
    JobFailed,
    JobProgress,
    JobQueued,
    JobStarted,
    QueueChanged,
    QueueEvent,
)

if TYPE_CHECKING:
    from genai_tui.engine.images.studio import ImageModel, ImageStudio

POLL_S = 1.0
PROGRESS_EVERY_S = 0.5
SHOWN_ENDED = 20  # ended jobs listed after the active ones, newest first
Listener = Callable[[QueueEvent], object]

log = logging.getLogger(__name__)


def request_from_json(data: dict[str, Any]) -> ImageRequest:
    """The request `ImageRequest.to_json` wrote (unknown keys, from a newer version, skipped)."""
    names = {f.name for f in dataclasses.fields(ImageRequest)}
    values = {k: v for k, v in data.items() if k in names}
    if values.get("init_image"):
        values["init_image"] = Path(values["init_image"])
    return ImageRequest(**values)


def steps_of(request: ImageRequest) -> int:
    """The denoising steps a request runs, all its variations together."""
    per_image = request.steps
    if request.img2img:
        per_image = max(1, int(request.steps * request.strength))
    return per_image * request.variations


def lock_path(store_path: Path) -> Path:
    return Path(f"{store_path}.images.lock")


def try_lock(path: Path) -> IO[str] | None:
    """The runner's lock, held while the returned file stays open; None: another has it."""
    handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a")
    try:
        import fcntl
    except ImportError:  # no fcntl: every instance may run jobs
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def runner_active(store_path: Path) -> bool:
    """Whether an app on this database runs the queue now (holds the lock)."""
    if str(store_path) == ":memory:" or not Path(store_path).exists():
        return False
    handle = try_lock(lock_path(store_path))
    if handle is None:
        return True
    handle.close()
    return False


class ImageQueue:
    """Image requests run in order, one at a time; persisted. Call its methods on the
    event loop; `start()` begins running (idempotent), `aclose()` stops."""

    def __init__(self, studio: ImageStudio, *, poll_s: float = POLL_S) -> None:
        self.studio = studio
        self.store = studio.store
        self.poll_s = poll_s
        self._rows: dict[int, dict[str, Any]] = {}
        self._listeners: list[Listener] = []
        self._rates: dict[str, float] = {}  # seconds per step, per model name
        self._running: int | None = None
        self._stop_running = False  # the running job was cancelled
        self._last_progress = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock: IO[str] | None = None
        self._owner = False
        self._sync()

    # -- what is queued ---------------------------------------------------------------

    def add(self, request: ImageRequest, model: ImageModel | str | None = None,
            source: str = "studio") -> int:  # fmt: skip
        """Queue `request` (checked first: ImageRequestError says what to change) for
        `model` (None: the studio's default when it runs); returns the job id."""
        validate(request)
        ref, name = "", ""
        if isinstance(model, str):
            ref, name = model, Path(model).name
        elif model is not None:
            ref, name = str(model.path), model.name
        job_id = self.store.add_image_job(request.to_json(), ref, name, source, steps_of(request))
        self._sync()
        self._wake.set()
        return job_id

    def jobs(self) -> list[ImageJob]:
        """The running job, the queued ones in run order, then the last ended ones."""
        active = sorted((r for r in self._rows.values() if r["state"] in ACTIVE),
                        key=lambda r: (r["state"] != RUNNING, r["position"], r["id"]))  # fmt: skip
        ended = sorted((r for r in self._rows.values() if r["state"] not in ACTIVE),
                       key=lambda r: -r["updated_at"])[:SHOWN_ENDED]  # fmt: skip
        out: list[ImageJob] = []
        until: float | None = 0.0
        for position, row in enumerate(active, 1):
            left = self._seconds_left(row)
            until = None if until is None or left is None else until + left
            out.append(self._job(row, position, until))
        return out + [self._job(row, 0, None) for row in ended]

    def job(self, job_id: int) -> ImageJob:
        for job in self.jobs():
            if job.id == job_id:
                return job
        if job_id in self._rows:
            return self._job(self._rows[job_id], 0, None)
        raise GenaiError(f"There is no image job {job_id}.", "Pick one from the queue.")

    @property
    def busy(self) -> bool:
        """A job is running or waiting to."""
        return any(r["state"] in ACTIVE for r in self._rows.values())

    def move(self, job_id: int, delta: int) -> None:
        """Move a queued job `delta` places (negative: sooner) among the queued ones."""
        queued = [r["id"] for r in sorted(self._rows.values(), key=lambda r: (r["position"],
                  r["id"])) if r["state"] == QUEUED]  # fmt: skip
        if job_id not in queued:
            raise GenaiError("Only a queued job can move.", "It is running or has ended.")
        at = queued.index(job_id)
        to = max(0, min(len(queued) - 1, at + delta))
        step = 1 if to > at else -1
        for i in range(at, to, step):  # one place at a time: the others keep their order
            self.store.swap_image_jobs(job_id, queued[i + step])
        if to != at:
            self._sync()
            self._emit(QueueChanged())

    def cancel(self, job_id: int) -> None:
        """A queued job leaves the queue (it never runs); the running one stops after its
        current step (its finished images are kept); an ended one leaves the list."""
        row = self._rows.get(job_id)
        if row is None:
            return
        if row["state"] == RUNNING and job_id == self._running:
            self._stop_running = True
            self.studio.cancel()
        elif row["state"] == QUEUED:
            # One statement: a job another instance has just started is not removed.
            if self.store.delete_image_jobs((QUEUED,), job_id):
                self._sync()
                self._emit(JobCancelled(self._job(row | {"state": CANCELLED}, 0, None)))
        elif row["state"] in (DONE, FAILED, CANCELLED):
            self.store.delete_image_jobs((DONE, FAILED, CANCELLED), job_id)
            self._sync()
            self._emit(QueueChanged())

    def cancel_all(self) -> int:
        """Remove every queued job and stop the running one; returns how many."""
        count = self.store.delete_image_jobs((QUEUED,))
        if self._running is not None:
            self.cancel(self._running)
            count += 1
        self._sync()
        self._emit(QueueChanged())
        return count

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` on the event loop for each event; returns `unsubscribe`."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Run the queue in the background (call on the event loop; again: no-op)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="image-queue")

    async def drain(self) -> None:
        """Run the queued jobs here until none is left (for tests and one-off runs)."""
        await self._begin()
        while await self._run_next():
            pass

    async def aclose(self) -> None:
        """Stop; a running job is queued again for the next start."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._lock is not None:
            self._lock.close()
            self._lock, self._owner = None, False

    async def claim(self) -> bool:
        """Whether this instance runs the jobs (it takes the lock when that is free)."""
        await self._begin()
        return self._owner

    async def _begin(self) -> None:
        if not self._owner:
            self._owner = await asyncio.to_thread(self._claim)
        self._sync()

    def _claim(self) -> bool:
        """Take the runner's lock; the holder queues again what the last one left running
        and forgets the done and cancelled jobs of earlier runs."""
        if str(self.store.path) != ":memory:":
            self._lock = try_lock(lock_path(self.store.path))
            if self._lock is None:
                return False
        self.store.move_image_jobs((RUNNING,), QUEUED)
        self.store.delete_image_jobs((DONE, CANCELLED))
        for img in reversed(self.studio.gallery.images(limit=100)):  # oldest first
            if img.model and img.steps and img.duration_s:
                steps = img.steps * (img.strength or 1.0) if img.init_image else img.steps
                self._rates[img.model] = img.duration_s / max(1.0, steps)
        return True

    async def _loop(self) -> None:
        while True:
            await self._begin()
            if self._owner and await self._run_next():
                continue
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _run_next(self) -> bool:
        """Run the first queued job if the studio is idle; False when there is none."""
        if self.studio.generating:
            return False
        queued = sorted((r for r in self._rows.values() if r["state"] == QUEUED),
                        key=lambda r: (r["position"], r["id"]))  # fmt: skip
        for row in queued:
            # One statement: a job cancelled meanwhile (here or by another process) stays so.
            if self.store.move_image_jobs((QUEUED,), RUNNING, row["id"]):
                await self._run(row | {"state": RUNNING, "done_steps": 0})
                return True
        self._sync()
        return any(r["state"] == QUEUED for r in self._rows.values())

    async def _run(self, row: dict[str, Any]) -> None:
        job_id = row["id"]
        self._rows[job_id], self._running, self._stop_running = row, job_id, False
        self._emit(JobStarted(self.job(job_id)))
        images: list[int] = []
        error, cancelled = "", False
        try:
            request = request_from_json(row["request"])
            events = self.studio.generate(request, row["model"] or None)
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, PipelineLoaded) and not row["model_name"]:
                        row["model_name"] = event.name
                    elif isinstance(event, StepProgress):
                        row["done_steps"] = event.index * event.total + event.step
                        self._measure(row, event)
                        if time.monotonic() - self._last_progress < PROGRESS_EVERY_S and (
                            event.step != event.total
                        ):
                            continue
                        self._last_progress = time.monotonic()
                    elif isinstance(event, ImageReady):
                        images.append(event.image_id)
                    elif isinstance(event, ImagesDone):
                        cancelled = event.cancelled
                    self._emit(JobProgress(self.job(job_id), event))
        except asyncio.CancelledError:  # the app quits: the job runs again on the next start
            self.store.update_image_job(job_id, state=QUEUED, done_steps=0)
            self._running = None
            raise
        except GenaiError as exc:
            error = str(exc)
        except Exception as exc:  # a bug or an OS error: the queue goes on
            log.exception("Image job %s failed", job_id)
            error = f"{type(exc).__name__}: {exc}"
        self._running = None
        state = FAILED if error else CANCELLED if cancelled or self._stop_running else DONE
        self.store.update_image_job(job_id, state=state, error=error, images=images,
                                    done_steps=row["done_steps"])  # fmt: skip
        self._sync()
        ended = self._job(self._rows.get(job_id, row | {"state": state}), 0, None)
        if state == FAILED:
            self._emit(JobFailed(ended, error))
        elif state == CANCELLED:
            self._emit(JobCancelled(ended))
        else:
            self._emit(JobDone(ended))

    def _measure(self, row: dict[str, Any], event: StepProgress) -> None:
        name = row["model_name"] or (self.studio.model.name if self.studio.model else "")
        done = event.index * event.total + event.step
        if name and done and event.elapsed_s > 0:
            self._rates[name] = event.elapsed_s / done
        if event.eta_s is not None:
            row["eta_s"] = event.eta_s

    # -- inside -------------------------------------------------------------------------

    def _sync(self) -> None:
        """Read the table: jobs added by another process appear (JobQueued)."""
        rows = {r["id"]: r for r in self.store.image_jobs()}
        fresh = [i for i in rows if i not in self._rows and rows[i]["state"] == QUEUED]
        for job_id, row in rows.items():
            old = self._rows.get(job_id)
            if job_id == self._running and old is not None:  # its progress lives here
                rows[job_id] = old
            elif old is not None and "eta_s" in old:
                row["eta_s"] = old["eta_s"]
        self._rows = rows
        for job_id in fresh:
            self._emit(JobQueued(self.job(job_id)))

    def _seconds_left(self, row: dict[str, Any]) -> float | None:
        left = max(0, row["total_steps"] - row["done_steps"])
        if row["state"] == RUNNING and row.get("eta_s") is not None:
            return float(row["eta_s"])
        name = row["model_name"]
        if not name and self.studio.model is not None:
            name = self.studio.model.name
        rate = self._rates.get(name)
        return None if rate is None else left * rate

    def _job(self, row: dict[str, Any], position: int, eta: float | None) -> ImageJob:
        try:
            request = request_from_json(row["request"])
        except (TypeError, ValueError):
            request = ImageRequest(prompt=str(row["request"].get("prompt", "")))
        return ImageJob(
            row["id"], position, request, row["model"], row["model_name"], row["source"],
            row["state"], row["done_steps"], row["total_steps"], eta, row["error"],
            tuple(row["images"]), row["created_at"],
        )  # fmt: skip

    def _emit(self, event: QueueEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the queue
                log.exception("An image queue listener failed on %s", type(event).__name__)
