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
import hashlib
import json
import time
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.diffusion_params import ImageRequest
from genai_tui.engine.errors import ImageOutOfMemoryError, PipelineError
from genai_tui.engine.events import (
    ImageReady,
    ImagesDone,
    PipelineLoaded,
    PreviewImage,
    StepProgress,
)
from genai_tui.engine.threads import generation_threads

if TYPE_CHECKING:
    import threading

    from genai_tui.config import ImageSettings

_END = object()
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
# Called on the worker thread with (image, seed, duration_s); returns (path, image_id).
SaveImage = Callable[[Any, int, float], tuple[Path, int]]


class _Cancelled(Exception):
    """Raised from the step callback to leave the denoising loop at once."""


def quiet_libraries() -> None:
    """No progress bars or warnings on stderr: they would scribble over the TUI."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_hash(path: Path) -> str:
    """A1111's short model hash: the first 10 hex digits of the file's sha256.

    For a diffusers folder: the same of its UNet (or transformer) weights file,
    the first in name order when sharded; in the HF cache the blob's name is
    that sha256 already, so nothing is read.
    """
    if path.is_file():
        return file_sha256(path)[:10]
    for sub in ("unet", "transformer"):
        files = sorted((path / sub).glob("*.safetensors")) or sorted((path / sub).glob("*.bin"))
        if files:
            real = files[0].resolve()
            if real.parent.name == "blobs" and len(real.name) == 64:
                return real.name[:10]
            return file_sha256(real)[:10]
    return ""


def pick_device(setting: str, torch: Any) -> str:
    has_cuda = bool(torch.cuda.is_available())
    if setting == "cuda" and not has_cuda:
        raise PipelineError(
            f"image.device is 'cuda', but this torch ({torch.__version__}) sees no CUDA GPU.",
            "Set image.device = \"auto\" to use the CPU, or install a CUDA build of torch.",
        )
    return "cuda" if has_cuda and setting != "cpu" else "cpu"


def pick_dtype(setting: str, device: str, torch: Any) -> Any:
    if setting != "auto":
        return getattr(torch, setting)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def module_bytes(pipe: Any) -> int:
    """Bytes of the weights and buffers of every torch module in the pipeline."""
    import torch

    total = 0
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            for tensor in (*component.parameters(), *component.buffers()):
                total += tensor.numel() * tensor.element_size()
    return total


class DiffusionModel:
    """One diffusers pipeline, loaded and driven from its own thread."""

    def __init__(self, path: Path, name: str | None, settings: ImageSettings) -> None:
        self.path = Path(path).expanduser()
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
        self._check_source()
        quiet_libraries()
        import torch

        torch.set_num_threads(self.threads)
        device = pick_device(self.settings.device, torch)
        dtype = pick_dtype(self.settings.dtype, device, torch)
        before = torch.cuda.memory_allocated() if device == "cuda" else 0
        pipe = self._from_disk(dtype)
        pipe.set_progress_bar_config(disable=True)
        self.memory_mode = self._apply_memory(pipe, device, self.settings.memory, torch)
        if device == "cuda" and self.memory_mode != "offload":
            pipe.to("cuda")
        self.memory_bytes = (
            torch.cuda.memory_allocated() - before if device == "cuda" else module_bytes(pipe)
        )
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

    def _check_source(self) -> None:
        path = self.path
        if not path.exists():
            raise PipelineError(
                f"No image model at {path}.",
                "Pick one from the list (ctrl+o in the studio), or download one from the "
                "Models screen (F2, kind: diffusers).",
            )
        if path.is_file():
            if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
                raise PipelineError(
                    f"{path.name} is not a diffusers model or a .safetensors checkpoint.",
                    "Pick a folder with model_index.json or a .safetensors file.",
                )
            return
        index = path / "model_index.json"
        if not index.is_file():
            raise PipelineError(
                f"{path} has no model_index.json: it is not a diffusers pipeline folder.",
                "Pick the folder that holds model_index.json (with unet/, vae/, ...).",
            )
        try:
            components = json.loads(index.read_text())
        except (OSError, ValueError) as exc:
            raise PipelineError(
                f"{index} cannot be read: {exc}.", "Download the model again."
            ) from exc
        missing = [
            name for name, value in components.items()
            if not name.startswith("_") and isinstance(value, list) and value[0] is not None
            and not (path / name).is_dir()
        ]  # fmt: skip
        if missing:
            raise PipelineError(
                f"{path.name} lacks the folders {', '.join(missing)} that model_index.json names.",
                "The download is incomplete: download the model again.",
            )

    def _from_disk(self, dtype: Any) -> Any:
        from diffusers import AutoPipelineForText2Image

        # `torch_dtype` works on every diffusers we accept; newer ones warn it is renamed.
        warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
        try:
            if self.path.is_file():
                return self._from_single_file(dtype)
            return AutoPipelineForText2Image.from_pretrained(
                self.path, torch_dtype=dtype, local_files_only=True, safety_checker=None
            )
        except PipelineError:
            raise
        except ValueError as exc:
            if "AutoPipeline can't find a pipeline" in str(exc) or "not supported" in str(exc):
                kind = json.loads((self.path / "model_index.json").read_text())["_class_name"]
                raise PipelineError(
                    f"{self.name} is a {kind}, which is not a text-to-image pipeline we can run.",
                    "Pick a Stable Diffusion, SDXL, SD3, Flux or similar text-to-image model.",
                ) from exc
            raise self._damaged(exc) from exc
        except (OSError, RuntimeError, KeyError, TypeError) as exc:
            raise self._damaged(exc) from exc

    def _damaged(self, exc: Exception) -> PipelineError:
        detail = " ".join(str(exc).split())[:300]
        return PipelineError(
            f"{self.name} could not be loaded: {detail}",
            "Its files are missing or damaged: download the model again.",
        )

    def _from_single_file(self, dtype: Any) -> Any:
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        xl = "xl" in self.path.name.lower()
        cls = StableDiffusionXLPipeline if xl else StableDiffusionPipeline
        sibling = self.path.with_suffix("")
        config = str(sibling) if (sibling / "model_index.json").is_file() else None
        try:
            return cls.from_single_file(
                str(self.path), config=config, torch_dtype=dtype, local_files_only=True
            )
        except Exception as exc:
            detail = " ".join(str(exc).split())[:200]
            base = (
                "stabilityai/stable-diffusion-xl-base-1.0"
                if cls is StableDiffusionXLPipeline
                else "stable-diffusion-v1-5/stable-diffusion-v1-5"
            )
            raise PipelineError(
                f"The checkpoint {self.path.name} could not be loaded as a "
                f"{cls.__name__} offline: {detail}",
                "A single-file checkpoint needs its pipeline's config files: fetch them once "
                f"with `genai-tui pull {base} --include '*.json' '*.txt'`, or put a diffusers "
                f"folder named {sibling.name} beside the file. A damaged file must be "
                "downloaded again.",
            ) from exc

    def _apply_memory(self, pipe: Any, device: str, mode: str, torch: Any) -> str:
        """Turn on the memory savers asked for (auto: chosen from free VRAM)."""
        if mode == "auto":
            mode = "none"
            if device == "cuda":
                free, _total = torch.cuda.mem_get_info()
                need = module_bytes(pipe) * 1.5  # weights + activations at 512-1024 px
                mode = "offload" if need > free else "slicing" if need * 1.5 > free else "none"
        if mode in ("slicing", "tiling") or mode == "offload" and device != "cuda":
            pipe.enable_attention_slicing()
            if hasattr(pipe, "vae") and hasattr(pipe.vae, "enable_tiling"):
                pipe.vae.enable_tiling()
            return "slicing+tiling" if mode != "slicing" else "slicing"
        if mode == "offload":
            pipe.enable_model_cpu_offload()
        return mode

    # -- generating -----------------------------------------------------------

    async def generate(
        self,
        request: ImageRequest,
        seeds: list[int],
        cancel: threading.Event,
        save: SaveImage,
    ) -> AsyncIterator[Any]:
        """Yield StepProgress, PreviewImage, ImageReady per variation, then ImagesDone."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        future = loop.run_in_executor(
            self._executor, self._generate, request, seeds, cancel, save, emit
        )
        try:
            while (item := await queue.get()) is not _END:
                yield item
            await future
        finally:
            if not future.done():
                cancel.set()
                with contextlib.suppress(Exception):
                    await asyncio.shield(future)

    def _pipe_for(self, request: ImageRequest, torch: Any) -> Any:
        pipe = self._pipe
        if request.offload and self.device == "cuda" and self.memory_mode != "offload":
            pipe.enable_model_cpu_offload()
            self.memory_mode = "offload"
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

        try:
            with Image.open(Path(request.init_image).expanduser()) as src:  # type: ignore[arg-type]
                image = src.convert("RGB")
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
        try:
            self._generate_all(request, seeds, cancel, save, emit)
        finally:
            emit(_END)

    def _generate_all(
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

        from genai_tui.engine.previews import family, latents_to_rgb

        torch.set_num_threads(self.threads)
        self.last_used = time.monotonic()
        pipe = self._pipe_for(request, torch)
        kind = family(self.pipeline_class)
        args: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
        }
        if request.img2img:
            args |= {"image": self._init_image(request), "strength": request.strength}
            per_image = max(1, int(request.steps * request.strength))
        else:
            args |= {"width": request.width, "height": request.height}
            per_image = request.steps
        every = self.settings.preview_every
        started = time.perf_counter()
        done_steps = 0
        paths: list[Path] = []
        made: list[int] = []
        cancelled = False
        for index, seed in enumerate(seeds):
            if cancel.is_set():
                cancelled = True
                break
            image_started = time.perf_counter()

            def on_step(p: Any, i: int, t: Any, kw: dict[str, Any], index: int = index) -> Any:
                nonlocal done_steps
                done_steps += 1
                total = getattr(p, "num_timesteps", None) or per_image
                elapsed = time.perf_counter() - started
                left = per_image * len(seeds) - done_steps
                emit(StepProgress(index, len(seeds), i + 1, total, elapsed,
                                  elapsed / done_steps * left))  # fmt: skip
                latents = kw.get("latents")
                if every and (i + 1) % every == 0 and i + 1 < total and latents is not None:
                    if latents.ndim == 4:
                        emit(PreviewImage(index, i + 1, latents_to_rgb(latents, kind)))
                if cancel.is_set():
                    raise _Cancelled
                return kw

            generator = torch.Generator("cpu").manual_seed(seed)
            try:
                out = pipe(**args, generator=generator, callback_on_step_end=on_step,
                           callback_on_step_end_tensor_inputs=["latents"])  # fmt: skip
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
            image = out.images[0]
            path, image_id = save(image, seed, duration)
            paths.append(path)
            made.append(seed)
            emit(ImageReady(index, seed, path, image_id, image, duration))
        self.last_used = time.monotonic()
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

    async def close(self) -> None:
        await self.unload()
        self._executor.shutdown(wait=False)
