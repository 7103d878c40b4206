"""The studio's queue: the Queue tab (F9) lists the image queue's jobs (position, prompt,
model, state, progress, ETA); Ctrl/Alt+Up/Down move the highlighted job, Delete or x
cancels it, Shift+Delete cancels all (asks first). Alt+Q queues the prompt; Generate
while images are being made (or jobs wait) queues too. A queued job's steps, previews
and pictures show in the Results tab like a run started here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.widgets import Input, TabbedContent, TabPane

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import PipelineLoaded, PreviewImage
from genai_tui.engine.images.queue_events import (
    JobCancelled,
    JobDone,
    JobFailed,
    JobProgress,
    JobStarted,
    QueueEvent,
)
from genai_tui.screens.dialogs import ConfirmDialog
from genai_tui.screens.studio_params import StudioParams
from genai_tui.widgets.image_queue import ImageQueueList

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from genai_tui.engine.images.diffusion_params import ImageRequest
    from genai_tui.engine.images.studio import ImageModel
    from genai_tui.widgets.results_grid import ResultsGrid
    from genai_tui.widgets.step_progress import StepProgressBar


class StudioQueue(StudioParams):
    BINDINGS = [
        Binding("alt+q", "queue", "Queue", show=False, priority=True,
                tooltip="Add the prompt to the image queue (it runs after the jobs before it)"),
        Binding("f9", "show_queue", "Queue", tooltip="The image queue: move, cancel (F9)"),
    ]  # fmt: skip

    if TYPE_CHECKING:  # StudioScreen's
        _progress: StepProgressBar
        _grid: ResultsGrid
        _gallery_stale: bool

        def fail(self, exc: GenaiError) -> None: ...

        def _route(self, event: Any) -> None: ...

    _queue_off: Callable[[], None] | None = None
    _queue_count = -1

    def queue_pane(self) -> TabPane:
        return TabPane("Queue", ImageQueueList(id="queue-list"), id="queue")

    def on_mount(self) -> None:
        queue = self.images.queue
        self._queue_off = queue.subscribe(self._queue_event)
        queue.start()  # idempotent: the App starts it too
        self._show_jobs()

    def on_unmount(self) -> None:
        if self._queue_off is not None:
            self._queue_off()

    # -- adding -------------------------------------------------------------------

    def enqueue(self, request: ImageRequest, model: ImageModel | str | None) -> None:
        """Add to the queue; the studio says where it stands."""
        queue = self.images.queue
        try:
            job_id = queue.add(request, model, source="studio")
        except GenaiError as exc:
            self.fail(exc)
            return
        job = queue.job(job_id)
        self.say(f"Queued as job {job_id}, position {job.position}: it runs in turn "
                 "(F9: the queue).")  # fmt: skip

    def action_queue(self) -> None:
        prompt = self.query_one("#prompt", Input).value
        negative = self.query_one("#negative", Input).value
        self.enqueue(self.request.replace(prompt=prompt, negative_prompt=negative), self.model)

    def action_show_queue(self) -> None:
        self.query_one(TabbedContent).active = "queue"
        self.query_one(ImageQueueList).focus()

    # -- the list's keys --------------------------------------------------------------

    @on(ImageQueueList.Move)
    def _move(self, message: ImageQueueList.Move) -> None:
        try:
            self.images.queue.move(message.job_id, message.delta)
        except GenaiError as exc:
            self.fail(exc)
            return
        table = self.query_one(ImageQueueList)
        ids = [j.id for j in table.jobs]
        if message.job_id in ids:  # the cursor follows the job
            table.move_cursor(row=ids.index(message.job_id))

    @on(ImageQueueList.Cancel)
    def _cancel(self, message: ImageQueueList.Cancel) -> None:
        self.images.queue.cancel(message.job_id)

    @on(ImageQueueList.CancelAll)
    def _cancel_all(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                n = self.images.queue.cancel_all()
                self.say(f"Cancelled {n} image job{'s' * (n != 1)}.")

        waiting = sum(j.state in ("queued", "running") for j in self.images.queue.jobs())
        if waiting:
            self.app.push_screen(ConfirmDialog(f"Cancel all {waiting} image jobs?"), confirmed)

    # -- the queue's news ---------------------------------------------------------------

    def _queue_event(self, event: QueueEvent) -> None:
        """From the queue, on the event loop (steps at most every 0.5 s)."""
        if isinstance(event, JobProgress):
            if not isinstance(event.event, PipelineLoaded):  # the studio keeps its own model
                self._route(event.event)
            if isinstance(event.event, PreviewImage):
                return
        elif isinstance(event, JobStarted):
            request = event.job.request
            self._grid.prepare(request.variations, (request.width, request.height))
            self._progress.start(event.job.total_steps, f"queue job {event.job.id}…")
            self.say(f"Queue: job {event.job.id} started.")
        elif isinstance(event, JobDone):
            self._gallery_stale = True
            n = len(event.job.image_ids)
            self.say(f"Queue: job {event.job.id} done, {n} image{'s' * (n != 1)} saved.")
        elif isinstance(event, JobFailed):
            self._progress.finish("failed")
            self.say(f"Queue: job {event.job.id} failed: {event.message}", error=True)
        elif isinstance(event, JobCancelled) and event.job.image_ids:
            self._gallery_stale = True
        self._show_jobs()

    def _show_jobs(self) -> None:
        jobs = self.images.queue.jobs()
        waiting = sum(j.state in ("queued", "running") for j in jobs)
        tabs = self.query_one(TabbedContent)
        if waiting != self._queue_count:  # the tab's label says how many wait
            self._queue_count = waiting
            tabs.get_tab("queue").label = f"Queue ({waiting})" if waiting else "Queue"
        self.query_one(ImageQueueList).show(jobs)
