"""diffusers pipelines, each on its own worker thread: load, generate, cancel, unload.

torch and diffusers are imported when a model is first loaded. Every call on a
pipeline runs on that model's single thread; events cross into asyncio with
`loop.call_soon_threadsafe`. Cancel is a threading.Event checked after every
denoising step: the run stops there (without decoding the half-made image) and
the model stays loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.bridge import ThreadStream
from genai_tui.engine.core.errors import ImageOutOfMemoryError, PipelineError
from genai_tui.engine.core.events import (
    ImageReady,
    ImagesDone,
    PipelineLoaded,
    PreviewImage,
    StepProgress,
)
from genai_tui.engine.gpu.threads import generation_threads
from genai_tui.engine.images import loras
from genai_tui.engine.images.diffusion_load import (
    apply_memory,
    check_source,
    estimate_bytes,
    from_disk,
    model_hash,
    module_bytes,
    pick_device,
    pick_dtype,
    quiet_libraries,
)
from genai_tui.engine.images.diffusion_params import ImageRequest
from genai_tui.engine.images.families import gpu_request
from genai_tui.engine.images.hires import finish_image, hires_steps
from genai_tui.engine.images.inpaint import inpaint_pipe, mask_args

if TYPE_CHECKING:
    import threading

    from genai_tui.config import ImageSettings

# Called on the worker thread with (image, seed, duration_s); returns (path, image_id).
SaveImage = Callable[[Any, int, float], tuple[Path, int]]

# Step progress and previews are coalesced here, at the source: at most one of each per
# EVENTS_EVERY_S (an image's last step and first preview always come). Nobody reads
# faster, each event wakes the consumer's event loop (which then takes the GIL from this
# thread), and a preview costs a latent copy and decode here.
EVENTS_EVERY_S = 0.25


class _Cancelled(Exception):
    """Raised from the step callback to leave the denoising loop at once."""


class DiffusionModel:
    """One diffusers pipeline, loaded and driven from its own thread."""

    def __init__(self, path: Path, name: str | None, settings: ImageSettings,
                 device: str = "auto", config: Path | None = None) -> None:  # fmt: skip
        self.path = Path(path).expanduser()
        self.gpu_setting, self.config = device, config  # from [models."NAME"]
        self.placed: str | None = None  # the GPU residency chose ("cuda:1")
        self.name = name or self.path.stem
        self.settings = settings
        self.threads = generation_threads(settings.threads)
        self.device = "cpu"
        self.dtype = "float32"
        self.memory_mode = "none"
        self.memory_bytes = 0
        self.model_hash = ""
        self.pipeline_class = ""
        self.last_used = 0.0
        self._pipe: Any = None
        self._img2img: Any = None
        self._scheduler_config: Any = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="genai-diffusion")

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def planned_device(self) -> str:
        """Where `load` will put the pipeline ("cpu", "cuda:auto", "cuda:N"); imports torch."""
        import torch

        on_cpu = pick_device(self.settings.device, torch) == "cpu"
        return "cpu" if on_cpu else self.placed or gpu_request(self.gpu_setting)

    def place(self, device: str) -> None:
        self.placed = device

    def estimate_bytes(self) -> int:
        """Memory the weights will take once loaded (from file headers; before `load`)."""
        setting = self.settings.dtype
        wide = setting == "float32" or setting == "auto" and self.planned_device() == "cpu"
        return estimate_bytes(self.path, 4 if wide else 2)

    async def footprint(self) -> tuple[int, str]:
        """(bytes the weights will hold, device) before loading; torch loads on a thread."""
        return await asyncio.to_thread(lambda: (self.estimate_bytes(), self.planned_device()))

    def measured_bytes(self) -> int | None:
        return self.memory_bytes or None

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def schedulers(self) -> list[str]:
        """Scheduler classes this pipeline can use, its own first."""
        if self._pipe is None:
            return []
        own = self._scheduler_config["_class_name"]
        others = sorted(c.__name__ for c in self._pipe.scheduler.compatibles)
        return [own] + [c for c in others if c != own]

    # -- loading --------------------------------------------------------------

    async def load(self) -> PipelineLoaded:
        return await self._run(self.load_sync)

    def load_sync(self) -> PipelineLoaded:
        started = time.perf_counter()
        check_source(self.path)
        quiet_libraries()
        import torch

        torch.set_num_threads(self.threads)
        device = pick_device(self.settings.device, torch, self.planned_device())
        dtype = pick_dtype(self.settings.dtype, device, torch)
        before = torch.cuda.memory_allocated() if device == "cuda" else 0
        pipe = from_disk(self.path, self.name, dtype, self.config)
        pipe.set_progress_bar_config(disable=True)
        self.memory_mode = apply_memory(pipe, device, self.settings.memory, torch)
        if device == "cuda" and self.memory_mode != "offload":
            pipe.to("cuda")
        if device != "cuda":
            self.memory_bytes = module_bytes(pipe)
        elif self.memory_mode == "offload":
            self.memory_bytes = module_bytes(pipe, largest=True)  # on the GPU at a time
        else:
            self.memory_bytes = torch.cuda.memory_allocated() - before
        self.model_hash = model_hash(self.path)
        self._pipe = pipe
        self._scheduler_config = dict(pipe.scheduler.config)
        self.pipeline_class = type(pipe).__name__
        self.device, self.dtype = device, str(dtype).removeprefix("torch.")
        self.last_used = time.monotonic()
        return PipelineLoaded(
            name=self.name, path=self.path, pipeline=self.pipeline_class, device=self.device,
            dtype=self.dtype, memory=self.memory_mode, memory_bytes=self.memory_bytes,
            load_s=time.perf_counter() - started,
        )  # fmt: skip

    # -- generating -----------------------------------------------------------

    async def generate(
        self,
        request: ImageRequest,
        seeds: list[int],
        cancel: threading.Event,
        save: SaveImage,
    ) -> AsyncGenerator[Any, None]:
        """Yield StepProgress, PreviewImage, ImageReady per variation, then ImagesDone."""
        work = ThreadStream[Any, None](
            self._executor,
            lambda emit: self._generate(request, seeds, cancel, save, emit),
            cancel,
        )
        async with aclosing(work.items()) as items:
            async for item in items:
                yield item
        await work.result()

    def _pipe_for(self, request: ImageRequest, torch: Any) -> Any:
        pipe = self._pipe
        if request.offload and self.device == "cuda" and self.memory_mode != "offload":
            pipe.enable_model_cpu_offload()
            self.memory_mode = "offload"
            self.memory_bytes = module_bytes(pipe, largest=True)  # on the GPU at a time
            self._img2img = None
        wanted = request.scheduler or self._scheduler_config["_class_name"]
        if type(pipe.scheduler).__name__ != wanted:
            import diffusers

            cls = getattr(diffusers, wanted, None)
            if cls is None or wanted not in self.schedulers:
                raise PipelineError(
                    f"The scheduler '{wanted}' does not work with {self.pipeline_class}.",
                    "Pick one of: " + ", ".join(self.schedulers) + ".",
                )
            pipe.scheduler = cls.from_config(self._scheduler_config)
        if not request.img2img:
            return pipe
        if request.mask_image is not None:
            return inpaint_pipe(self, pipe)  # inpainting (images/inpaint.py)
        if self._img2img is None:
            from diffusers import AutoPipelineForImage2Image

            try:
                self._img2img = AutoPipelineForImage2Image.from_pipe(pipe)
            except ValueError as exc:
                raise PipelineError(
                    f"{self.pipeline_class} has no image-to-image variant.",
                    "Pick a Stable Diffusion or SDXL model for transforms.",
                ) from exc
            self._img2img.set_progress_bar_config(disable=True)
        self._img2img.scheduler = pipe.scheduler
        return self._img2img

    def _init_image(self, request: ImageRequest) -> Any:
        from PIL import Image, UnidentifiedImageError

        if request.init_image is None:
            raise PipelineError("Image-to-image needs an init image.", "Pick one first.")
        try:
            with Image.open(Path(request.init_image).expanduser()) as src:
                image = src.convert("RGB")
        except Image.DecompressionBombError as exc:
            raise PipelineError(
                f"The init image {request.init_image} is too large to open safely ({exc}).",
                "Scale it down (a few megapixels is plenty), then pick it again.",
            ) from exc
        except (OSError, UnidentifiedImageError) as exc:
            raise PipelineError(
                f"Cannot read the init image {request.init_image}: {exc}.",
                "Give a PNG or JPEG file.",
            ) from exc
        return image.resize((request.width, request.height), Image.Resampling.LANCZOS)

    def _generate(
        self,
        request: ImageRequest,
        seeds: list[int],
        cancel: threading.Event,
        save: SaveImage,
        emit: Callable[[Any], None],
    ) -> None:
        if self._pipe is None:
            raise PipelineError("No image model is loaded.", "Pick one first (ctrl+o).")
        import torch

        from genai_tui.engine.images.previews import family, latents_to_rgb

        torch.set_num_threads(self.threads)
        self.last_used = time.monotonic()
        pipe = self._pipe_for(request, torch)
        request = loras.apply(self._pipe, request)  # its LoRAs set (or off), tags out of the prompt
        kind = family(self.pipeline_class)
        args: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
        }
        if request.img2img:
            args |= {"image": self._init_image(request), "strength": request.strength}
            args |= mask_args(request, args["image"])
            per_image = max(1, int(request.steps * request.strength))
        else:
            args |= {"width": request.width, "height": request.height}
            per_image = request.steps
        later = hires_steps(request)  # the hires fix's second pass, after each image
        span = [0, later]  # steps before and after the pass running (images/hires.py)
        every = self.settings.preview_every
        coalesce = EVENTS_EVERY_S  # read per run (tests set it)
        started = time.perf_counter()
        done_steps = 0
        paths: list[Path] = []
        made: list[int] = []
        cancelled = False
        last_progress = -coalesce
        for index, seed in enumerate(seeds):
            if cancel.is_set():
                cancelled = True
                break
            image_started = time.perf_counter()
            last_preview = -coalesce  # each image's first preview comes at once

            def on_step(p: Any, i: int, t: Any, kw: dict[str, Any], index: int = index) -> Any:
                nonlocal done_steps, last_progress, last_preview
                done_steps += 1
                total = getattr(p, "num_timesteps", None) or per_image
                i, total = i + span[0], total + span[0] + span[1]
                now = time.perf_counter()
                if now - last_progress >= coalesce or i + 1 >= total:
                    last_progress = now
                    elapsed = now - started
                    left = (per_image + later) * len(seeds) - done_steps
                    emit(StepProgress(index, len(seeds), i + 1, total, elapsed,
                                      elapsed / done_steps * left))  # fmt: skip
                latents = kw.get("latents")
                if (every and (i + 1) % every == 0 and i + 1 < total and latents is not None
                        and latents.ndim in (3, 4) and now - last_preview >= coalesce):  # fmt: skip
                    last_preview = now
                    emit(PreviewImage(index, i + 1, latents_to_rgb(
                        latents, kind, (request.width, request.height))))  # fmt: skip
                if cancel.is_set():
                    raise _Cancelled
                return kw

            generator = torch.Generator("cpu").manual_seed(seed)
            try:
                out = pipe(**args, generator=generator, callback_on_step_end=on_step,
                           callback_on_step_end_tensor_inputs=["latents"])  # fmt: skip
                image = finish_image(self, request, args, out.images[0], generator, on_step, span)
            except _Cancelled:
                cancelled = True
                break
            except torch.cuda.OutOfMemoryError as exc:
                raise self._out_of_memory(request, torch) from exc
            except (RuntimeError, ValueError, TypeError) as exc:
                detail = " ".join(str(exc).split())[:300]
                raise PipelineError(
                    f"Generation failed in {self.pipeline_class}: {detail}",
                    "The model stays loaded; change the size or settings and try again.",
                ) from exc
            duration = time.perf_counter() - image_started
            path, image_id = save(image, seed, duration)
            paths.append(path)
            made.append(seed)
            emit(ImageReady(index, seed, path, image_id, image, duration))
        self.last_used = time.monotonic()
        loras.disable(self._pipe)  # the next request starts without them (apply sets them again)
        emit(ImagesDone(tuple(paths), tuple(made), cancelled, time.perf_counter() - started))

    def _out_of_memory(self, request: ImageRequest, torch: Any) -> ImageOutOfMemoryError:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        where = "GPU" if self.device == "cuda" else "system"
        return ImageOutOfMemoryError(
            f"The {where} ran out of memory making {request.width}x{request.height} images "
            f"with {self.name}. The model stays loaded.",
            "Try a smaller size or fewer variations, set image.memory = \"offload\", or "
            "retry now with CPU offload.",
            retry=request.replace(offload=True),
        )

    # -- lifetime -------------------------------------------------------------

    def unload_sync(self) -> None:
        self._pipe = None
        self._img2img = None
        self.memory_bytes = 0
        gc.collect()
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    async def unload(self) -> None:
        """Free the pipeline's memory (RAM or VRAM); `load()` brings it back."""
        await self._run(self.unload_sync)

    def offload_sync(self) -> None:
        """Move the whole pipeline to the CPU (in float32, which every CPU kernel
        supports): the GPU is freed and the model stays usable, slowly."""
        if self._pipe is None or self.device == "cpu":
            return
        import torch

        if self.memory_mode == "offload":
            self._pipe.remove_all_hooks()  # accelerate's CPU-offload hooks
        self._pipe.to("cpu", torch.float32)
        self._img2img = None
        self.device, self.dtype, self.memory_mode = "cpu", "float32", "none"
        self.memory_bytes = module_bytes(self._pipe)
        gc.collect()
        torch.cuda.empty_cache()

    async def offload(self) -> None:
        """For residency's `on_full = "offload"`: make room on the GPU without unloading."""
        await self._run(self.offload_sync)

    async def close(self) -> None:
        await self.unload()
        self._executor.shutdown(wait=False)
