"""Frozen dataclasses the engine yields; the UI and the CLI render them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ModelLoading:
    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class ModelLoaded:
    name: str
    path: Path
    context_size: int
    gpu_layers: int
    on_gpu: bool
    load_s: float


@dataclass(frozen=True, slots=True)
class ContextTrimmed:
    """Oldest turns were left out so the conversation fits the context."""

    dropped_messages: int
    prompt_tokens: int
    context_size: int


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's `<think>` reasoning, kept apart from the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """A piece of the answer, in the order the model produced it."""

    text: str


@dataclass(frozen=True, slots=True)
class ChatStats:
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float | None
    tokens_per_s: float | None
    duration_s: float
    finish_reason: str  # "stop", "length", "cancelled"
    context_size: int

    @classmethod
    def timed(
        cls,
        prompt_tokens: int,
        completion_tokens: int,
        started: float,
        first: float | None,
        ended: float,
        finish_reason: str,
        context_size: int,
    ) -> ChatStats:
        """Stats from perf_counter times: the request, its first token (None: no token
        came) and its end. tok/s is the decode rate, from the first token on."""
        decode_s = ended - first if first is not None else 0.0
        n = completion_tokens
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=n,
            ttft_s=(first - started) if first is not None else None,
            tokens_per_s=(n - 1) / decode_s if n > 1 and decode_s > 0 else None,
            duration_s=ended - started,
            finish_reason=finish_reason,
            context_size=context_size,
        )

    @property
    def stopped(self) -> bool:
        return self.finish_reason == "cancelled"

    @property
    def context_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ChatDone:
    """The reply is complete (or was stopped); it has been saved."""

    text: str
    thinking: str
    stats: ChatStats
    message_id: int | None = None
    cost: float | None = None  # a provider's price for the reply, when it has one


ChatEvent = ModelLoading | ModelLoaded | ContextTrimmed | ThinkingDelta | TokenDelta | ChatDone


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """A download job moved on. High-rate: a newer one replaces an older one."""

    job_id: int
    repo_id: str
    state: str  # "queued", "running", "paused", "verifying", "done", "failed", "cancelled"
    current_file: str
    file_done: int
    file_total: int
    done: int  # bytes of the whole job
    total: int
    speed_bps: float
    eta_s: float | None
    error: str = ""
    note: str = ""  # transient, e.g. "HTTP 503; retrying in 2.0 s (attempt 2 of 6)"


@dataclass(frozen=True, slots=True)
class DownloadFinished:
    """Every file of the job is on disk, whole and verified."""

    job_id: int
    repo_id: str
    paths: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class DownloadFailed:
    job_id: int
    repo_id: str
    message: str  # says what happened and what to do


# -- the image studio (engine/diffusion.py) ------------------------------------


@dataclass(frozen=True, slots=True)
class PipelineLoaded:
    """A diffusers pipeline is loaded and ready."""

    name: str
    path: Path
    pipeline: str  # the diffusers class, e.g. StableDiffusionPipeline
    device: str  # "cuda", "cpu"
    dtype: str  # "float16", "float32", ...
    memory: str  # the memory savers in use: "none", "slicing", "offload", ...
    memory_bytes: int
    load_s: float


@dataclass(frozen=True, slots=True)
class StepProgress:
    """A denoising step finished. High-rate: a newer one replaces an older one."""

    index: int  # which variation, from 0
    count: int  # variations in the request
    step: int  # steps done for this variation, from 1
    total: int
    elapsed_s: float  # since the request started
    eta_s: float | None  # until the whole request is done


@dataclass(frozen=True, slots=True)
class PreviewImage:
    """A cheap look at a variation mid-run (latents projected to RGB, no VAE decode)."""

    index: int
    step: int
    image: object  # PIL.Image.Image, small (the latents' size)


@dataclass(frozen=True, slots=True)
class ImageReady:
    """A variation is finished and saved in the gallery."""

    index: int
    seed: int
    path: Path
    image_id: int
    image: object  # PIL.Image.Image
    duration_s: float


@dataclass(frozen=True, slots=True)
class ImagesDone:
    """The request ended: every variation made, or stopped by cancel."""

    paths: tuple[Path, ...]
    seeds: tuple[int, ...]
    cancelled: bool
    duration_s: float


ImageEvent = PipelineLoaded | StepProgress | PreviewImage | ImageReady | ImagesDone


@dataclass(frozen=True, slots=True)
class ModelEvicted:
    """A loaded model was unloaded (or moved to the CPU) to make room, when idle, or on request."""

    key: str
    kind: str  # "chat" or "image"
    bytes: int
    reason: str  # e.g. "to make room for sd-turbo (needs 3.1 GB; budget 8.0 GB)"
    action: str = "unloaded"  # or "offloaded" (moved to the CPU)


@dataclass(frozen=True, slots=True)
class GpuWaiting:
    """A GPU job waits for the jobs running there to finish: together they would not fit."""

    key: str
    need_bytes: int
    running: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GpuAcquired:
    """A job that waited for the GPU has it now."""

    key: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class ResidentsChanged:
    """A model finished loading, or was unloaded by its owner: who is where changed."""

    key: str


ResidencyEvent = ModelEvicted | GpuWaiting | GpuAcquired | ResidentsChanged


# -- the create flows (engine/create): prompt writer, /imagine, /story ---------------


@dataclass(frozen=True, slots=True)
class PromptDraft:
    """The prompt writer's text so far, split into the two boxes."""

    prompt: str
    negative_prompt: str


@dataclass(frozen=True, slots=True)
class CreateStep:
    """What a create flow is doing now ("writing the prompt", "scene 2 of 3")."""

    text: str


@dataclass(frozen=True, slots=True)
class Clarify:
    """The request is too vague to draw: one question, with 2-4 suggested answers."""

    question: str
    suggestions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CreateNote:
    """Something the user should know, e.g. the model's plan was malformed and the
    request is drawn as written."""

    text: str


@dataclass(frozen=True, slots=True)
class PicturesSaved:
    """A picture message (an /imagine result or a story page) was saved or updated."""

    message_id: int
    finished: bool  # False while a story still has scenes to draw
