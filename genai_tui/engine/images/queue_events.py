"""The image queue's jobs as the UI sees them, and the events the queue sends.

Stdlib only: the app imports this before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genai_tui.engine.images.diffusion_params import ImageRequest

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
SOURCES = ("studio", "imagine", "cli")


@dataclass(frozen=True, slots=True)
class ImageJob:
    """One queued request, as `ImageQueue.jobs()` lists it."""

    id: int
    position: int
    """1 = running or next to run, 2 = after it, ...; 0 once it has ended."""
    request: ImageRequest
    model: str
    """The model asked for (a path or a name); "" = the studio's default."""
    model_name: str
    source: str  # "studio", "imagine", "cli"
    state: str  # queued, running, done, failed, cancelled
    done_steps: int
    total_steps: int
    eta_s: float | None
    """Seconds until this job is done, the jobs before it included; None: not known yet
    (the model has not run a step here)."""
    error: str = ""
    image_ids: tuple[int, ...] = ()
    created_at: float = 0.0

    @property
    def progress(self) -> float:
        """0..1 of this job's denoising steps."""
        if self.state == DONE:
            return 1.0
        return min(1.0, self.done_steps / self.total_steps) if self.total_steps else 0.0

    @property
    def prompt(self) -> str:
        return self.request.prompt


@dataclass(frozen=True, slots=True)
class JobQueued:
    job: ImageJob


@dataclass(frozen=True, slots=True)
class JobStarted:
    job: ImageJob


@dataclass(frozen=True, slots=True)
class JobProgress:
    """A running job's news, at most every PROGRESS_EVERY_S for steps; `event` is the
    studio's own (StepProgress, PreviewImage, ImageReady, PipelineLoaded, ImagesDone)."""

    job: ImageJob
    event: object


@dataclass(frozen=True, slots=True)
class JobDone:
    job: ImageJob


@dataclass(frozen=True, slots=True)
class JobFailed:
    job: ImageJob
    message: str


@dataclass(frozen=True, slots=True)
class JobCancelled:
    job: ImageJob


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """The order changed or jobs left the list (moved, dismissed, cancelled together)."""


QueueEvent = (
    JobQueued | JobStarted | JobProgress | JobDone | JobFailed | JobCancelled | QueueChanged
)
