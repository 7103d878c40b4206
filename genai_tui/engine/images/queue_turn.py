"""A request that waits its turn in the image queue and streams its own run's events: for
a flow that must see its pictures (chat's /imagine) while the queue or the studio is busy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.images.queue_events import (
    ACTIVE,
    JobCancelled,
    JobDone,
    JobFailed,
    JobProgress,
    QueueEvent,
)

if TYPE_CHECKING:
    from genai_tui.engine.images.diffusion_params import ImageRequest
    from genai_tui.engine.images.queue import ImageQueue
    from genai_tui.engine.images.studio import ImageModel

STOP_POLL_S = 0.1


async def in_turn(
    queue: ImageQueue,
    request: ImageRequest,
    model: ImageModel | str | None = None,
    source: str = "imagine",
    stop: threading.Event | None = None,
) -> AsyncGenerator[Any, None]:
    """Queue `request`, then yield the studio's events of its run (PipelineLoaded,
    StepProgress, PreviewImage, ImageReady, ImagesDone) when its turn comes. Setting `stop`,
    or leaving the stream, cancels the job; a job that fails raises its message."""
    if not await queue.claim():
        raise GenaiError("Another genai-tui runs the image queue.",
                         "Wait until its images are done, then try again.")  # fmt: skip
    news: asyncio.Queue[QueueEvent] = asyncio.Queue()
    mine: list[int] = []

    def hear(event: QueueEvent) -> None:
        job = getattr(event, "job", None)
        if job is not None and job.id in mine:
            news.put_nowait(event)

    off = queue.subscribe(hear)
    try:
        mine.append(queue.add(request, model, source))
        queue.start()
        while True:
            if stop is not None and stop.is_set():  # queued: removed; running: stops
                queue.cancel(mine[0])
            try:
                event = await asyncio.wait_for(news.get(), STOP_POLL_S)
            except TimeoutError:
                continue
            if isinstance(event, JobProgress):
                yield event.event
            elif isinstance(event, JobFailed):
                raise GenaiError(event.message, "")
            elif isinstance(event, JobDone | JobCancelled):
                return
    finally:
        off()
        if mine and any(j.id == mine[0] and j.state in ACTIVE for j in queue.jobs()):
            queue.cancel(mine[0])
