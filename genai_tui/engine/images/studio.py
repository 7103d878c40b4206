"""The image studio's engine facade: image models on disk, the loaded pipeline, requests,
the gallery. One request at a time; the studio screen and `genai-tui gen` both use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError, ModelNotFoundError, NoModelError, PipelineError
from genai_tui.engine.core.events import PipelineLoaded
from genai_tui.engine.gpu.residency import Residency
from genai_tui.engine.images import loras
from genai_tui.engine.images import remote_images as remote
from genai_tui.engine.images.diffusion_params import ImageRequest, seed_plan, validate
from genai_tui.engine.images.footprint import image_work_bytes
from genai_tui.engine.images.gallery import Gallery
from genai_tui.engine.images.hires import final_size, resolve_upscaler
from genai_tui.engine.images.queue import ImageQueue
from genai_tui.engine.images.studio_memory import StudioMemory

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.images.diffusion import DiffusionModel
    from genai_tui.engine.images.upscale import Upscaled

IMAGE_KINDS = ("diffusers", "checkpoint")


@dataclass(frozen=True, slots=True)
class ImageModel:
    """An image model on disk, as the studio's picker lists it."""

    name: str
    path: Path  # a diffusers folder or a .safetensors file
    kind: str  # "diffusers" | "checkpoint"
    source: str
    size: int = 0
    pipeline: str | None = None
    error: str | None = None


def _no_models_error(settings: Settings) -> NoModelError:
    return NoModelError(
        "No image model found.",
        "Download one on the Models screen (F2, kind: diffusers) or with `genai-tui pull "
        f"REPO`, or put a diffusers folder or .safetensors file in {settings.models_path}.",
    )


class ImageStudio:
    def __init__(
        self, settings: Settings, store: Store, residency: Residency | None = None,
        servers: Callable[[str], remote.ImageServer] | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        # Shared with chat (the Engine's): loads make room, generations take GPU turns.
        self.residency = residency or Residency(settings.gpu)
        self.servers = servers  # a provider's images endpoint by name (remote_images)
        self.model: DiffusionModel | None = None
        self.last_loaded: PipelineLoaded | None = None
        self._cancel = threading.Event()
        self._busy = False
        self._load_lock = asyncio.Lock()

    @cached_property
    def gallery(self) -> Gallery:
        return Gallery(self.store, self.settings.images_dir)

    @cached_property
    def queue(self) -> ImageQueue:  # requests waiting their turn, persisted (queue.py)
        return ImageQueue(self)

    @cached_property
    def memory(self) -> StudioMemory:  # each model's last settings, kept across restarts
        return StudioMemory(self.store)

    # -- models ---------------------------------------------------------------

    def models(self) -> list[ImageModel]:
        """Diffusers folders and single-file checkpoints: models dir, HF cache, LM Studio."""
        from genai_tui.engine.models.inventory import scan_for

        entries = scan_for(self.settings)
        return [
            ImageModel(e.name, e.path, e.kind, e.source, e.size, e.pipeline, e.error)
            for e in entries
            if e.kind in IMAGE_KINDS
            and (e.kind != "checkpoint" or e.path.suffix.lower() == ".safetensors")
        ] + remote.remote_models(self.settings)  # PROVIDER/MODEL: a server's image models

    async def list_models(self) -> list[ImageModel]:
        return await asyncio.to_thread(self.models)

    def resolve(self, ref: str, models: list[ImageModel] | None = None) -> ImageModel:
        """A model from a path, a listed name or repo id, or a unique part of a name."""
        if (on_server := remote.find_remote(self.settings, ref)) is not None:
            return on_server  # PROVIDER/MODEL, PROVIDER a configured provider
        path = Path(ref).expanduser()
        if path.exists():
            kind = "checkpoint" if path.is_file() else "diffusers"
            return ImageModel(path.name, path, kind, "path")
        looks_like_path = ref.startswith(("/", "~", "./", "../"))
        if looks_like_path or path.suffix.lower() in (".safetensors", ".ckpt"):
            raise PipelineError(f"No image model at {path}.", "Check the path.")
        models = self.models() if models is None else models
        for m in models:
            if ref in (m.name, m.path.name):
                return m
        matches = [m for m in models if ref.lower() in m.name.lower()]
        if len(matches) == 1:
            return matches[0]
        if not models:
            raise _no_models_error(self.settings)
        if matches:
            names = ", ".join(m.name for m in matches[:5])
            raise ModelNotFoundError(f"'{ref}' matches several image models: {names}.",
                                     "Use a longer name.")  # fmt: skip
        raise ModelNotFoundError(
            f"No image model named '{ref}'.",
            "Run `genai-tui models` to list them (kind diffusers), pass a folder or "
            ".safetensors path, or download a repo with `genai-tui pull REPO`.",
        )

    def default_model(self) -> ImageModel | None:
        """The configured default, else the model of the newest image, else the first found."""
        models = self.models()
        refs = [self.settings.image.default_model] if self.settings.image.default_model else []
        refs += [img.model for img in self.gallery.images(limit=1) if img.model]
        for ref in refs:
            try:
                return self.resolve(ref, models)
            except GenaiError:
                continue
        usable = [m for m in models if m.error is None]
        return usable[0] if usable else None

    async def load(self, ref: ImageModel | str) -> PipelineLoaded:
        """Load `ref` (unloading the current image model). Raises PipelineError with a fix."""
        from genai_tui.engine.images.diffusion import DiffusionModel
        from genai_tui.engine.images.families import model_options

        model = await asyncio.to_thread(self.resolve, ref) if isinstance(ref, str) else ref
        async with self._load_lock:
            current = self.model
            if current is not None and current.path == model.path and current.loaded:
                assert self.last_loaded is not None
                return self.last_loaded
            if current is not None:
                self.model, self.last_loaded = None, None
                self.residency.forget(current.name)
                await current.close()
            candidate = DiffusionModel(model.path, model.name, self.settings.image,
                                       **model_options(self.settings, model.name))  # fmt: skip

            async def evicted() -> None:
                if self.model is candidate:
                    self.model, self.last_loaded = None, None
                await candidate.close()

            loaded = await self.residency.load(
                model.name, "image", candidate, evicted, candidate.offload
            )
            self.model, self.last_loaded = candidate, loaded
            return loaded

    async def unload(self) -> None:
        if self.model is not None:
            model, self.model, self.last_loaded = self.model, None, None
            self.residency.forget(model.name)
            await model.close()

    # -- generating -----------------------------------------------------------

    @property
    def generating(self) -> bool:
        return self._busy

    def cancel(self) -> None:
        """Stop the request in flight after the current step; finished images are kept."""
        self._cancel.set()

    def request_defaults(self, prompt: str = "", model: str = "", **changes: Any) -> ImageRequest:
        """A request with the settings' defaults (size, steps, guidance, variations), and
        the values `model` was last used with in the studio over them."""
        s = self.settings.image
        values: dict[str, Any] = {
            "prompt": prompt, "width": s.width, "height": s.height, "steps": s.steps,
            "guidance": s.guidance, "variations": s.variations,
        }  # fmt: skip
        values.update(self.memory.recall(model) if model else {})
        values.update(changes)
        return ImageRequest(**values)

    async def generate(
        self, request: ImageRequest, model: ImageModel | str | None = None
    ) -> AsyncGenerator[Any, None]:
        """Check the request, load the model if needed, and stream the run's events."""
        if self._busy:
            raise GenaiError("Images are already being generated.", "Wait, or cancel with Esc.")
        validate(request)
        self._busy = True
        self._cancel.clear()
        try:
            if model is None and (self.model is None or not self.model.loaded):
                model = await asyncio.to_thread(self.default_model)
                if model is None:
                    raise _no_models_error(self.settings)
            if isinstance(model, str):
                model = await asyncio.to_thread(self.resolve, model)
            if model is not None and model.kind == remote.REMOTE:  # a server makes them
                run = remote.generate_remote(request, model, self.settings, self.servers,
                                             self.gallery, self._cancel)  # fmt: skip
                async with aclosing(run):
                    async for event in run:
                        yield event
                return
            # <lora:...> tags and picks found on disk before the load (an unknown one says so)
            request = await asyncio.to_thread(loras.resolve, request, self.settings)
            request = await asyncio.to_thread(resolve_upscaler, request, self.settings)
            if model is not None:
                yield await self.load(model)
            current = self.model
            assert current is not None
            seeds = seed_plan(request)
            gallery = self.gallery
            scheduler = request.scheduler or current.schedulers[0]

            def save(image: Any, seed: int, duration: float) -> tuple[Path, int]:
                saved = gallery.save(
                    image, request, seed=seed, model=current.name,
                    model_hash=current.model_hash, scheduler=scheduler, duration_s=duration,
                )  # fmt: skip
                return saved.path, saved.id

            # One GPU turn per request: it waits while a job that would not fit runs.
            work = image_work_bytes(*final_size(request), current.device)
            async with self.residency.gpu_slot(current.name, work):
                if not current.loaded:  # unloaded for another model while waiting
                    raise PipelineError(
                        f"{current.name} was unloaded to make room for another model.",
                        "Generate again to load it back.",
                    )
                events = current.generate(request, seeds, self._cancel, save)
                async with aclosing(events):
                    async for event in events:
                        yield event
        finally:
            self._busy = False

    async def upscale(self, image: int | str | Path, factor: float = 2.0,
                      upscaler: str | None = None) -> Upscaled:  # fmt: skip
        """A gallery image (by id) or picture file enlarged and saved in the gallery: with
        `upscaler` (a model's name, "Lanczos"), else a model found, else Lanczos (said)."""
        from genai_tui.engine.images.upscale import upscale_picture

        return await upscale_picture(self, image, factor, upscaler)

    async def aclose(self) -> None:
        await self.queue.aclose()  # a running job is queued again for the next start
        self.cancel()
        await self.unload()
