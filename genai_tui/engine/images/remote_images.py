"""Pictures from a remote server: a provider's OpenAI-compatible images endpoint
(`POST /v1/images/generations`, as LocalAI and hosted APIs offer) behind the same studio,
gallery and events as the local pipeline.

A model ref `PROVIDER/MODEL` names one (the studio lists a provider's `image_models`).
The request carries OpenAI's fields (model, prompt, n, size, response_format b64_json)
and, where the provider's `image_extras` says its server takes them, negative_prompt,
seed, steps and cfg_scale; what is not sent is said (the PNG parameters note it). The
pictures come back as base64 (or a URL on the provider's own origin), are decoded with a
size cap and opened as data (PNG, JPEG or WebP only), and saved through `Gallery.save`.
No GPU slot and no previews here: the server does the work.

The HTTP side (the key, same-origin, error messages) is the chat layer's
(engine/chat/image_server.py); the Engine hands it to the studio as an `ImageServer`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genai_tui.engine.core.errors import (
    GenaiError,
    ImageRequestError,
    ProviderRejectedError,
    ProviderStreamError,
)
from genai_tui.engine.core.events import (
    ImageEvent,
    ImageReady,
    ImagesDone,
    PipelineLoaded,
    StepProgress,
)
from genai_tui.engine.images.diffusion_params import ImageRequest, seed_plan

if TYPE_CHECKING:
    from PIL.Image import Image

    from genai_tui.config import ProviderSettings, Settings
    from genai_tui.engine.images.gallery import Gallery
    from genai_tui.engine.images.studio import ImageModel

REMOTE = "remote"  # ImageModel.kind and PipelineLoaded.pipeline of a server's model
MAX_PICTURE = 48 << 20  # decoded bytes of one picture
MAX_PICTURE_PIXELS = 8192 * 8192
FORMATS = ("PNG", "JPEG", "WEBP")
# Our name for a field beyond OpenAI's -> what the user calls it, when it is not sent.
EXTRAS = {"negative_prompt": "negative prompt", "seed": "seed", "steps": "steps",
          "cfg_scale": "guidance"}  # fmt: skip


class ImageServer(Protocol):
    """A provider's images endpoint (engine/chat/image_server.ProviderImages)."""

    name: str

    async def generate(self, body: dict[str, Any]) -> Any: ...

    async def fetch(self, url: str, limit: int) -> bytes: ...


# -- which models ------------------------------------------------------------------------


def remote_model(provider: ProviderSettings, model: str) -> ImageModel:
    from genai_tui.engine.images.studio import ImageModel

    ref = f"{provider.name}/{model}"
    return ImageModel(ref, Path(ref), REMOTE, provider.base_url, pipeline=REMOTE)


def remote_models(settings: Settings) -> list[ImageModel]:
    """Every provider's `image_models`, as `PROVIDER/MODEL`."""
    return [remote_model(p, m) for p in settings.providers for m in p.image_models or []]


def find_remote(settings: Settings, ref: str) -> ImageModel | None:
    """`PROVIDER/MODEL` where PROVIDER is configured (any model: the server says if not)."""
    name, _, model = ref.partition("/")
    provider = next((p for p in settings.providers if p.name == name), None)
    return remote_model(provider, model) if provider is not None and model else None


def provider_of(settings: Settings, model: ImageModel) -> tuple[ProviderSettings, str]:
    name, _, model_id = model.name.partition("/")
    for p in settings.providers:
        if p.name == name:
            return p, model_id
    raise GenaiError(f"No provider named '{name}' is configured.",
                     "Add it in Settings (F7), or pick another image model (ctrl+o).")  # fmt: skip


# -- the request ------------------------------------------------------------------------


def request_body(
    request: ImageRequest, model: str, extras: set[str], n: int, seed: int
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": request.prompt, "n": n,
                            "size": f"{request.width}x{request.height}",
                            "response_format": "b64_json"}  # fmt: skip
    values = {"negative_prompt": request.negative_prompt, "seed": seed, "steps": request.steps,
              "cfg_scale": request.guidance}  # fmt: skip
    body |= {k: v for k, v in values.items() if k in extras and v != ""}
    return body


def not_sent(request: ImageRequest, extras: set[str]) -> list[str]:
    """What the request asks that this server is not told: "seed", "steps", ..."""
    left = [said for key, said in EXTRAS.items() if key not in extras]
    if not request.negative_prompt:
        left = [s for s in left if s != "negative prompt"]
    asked = {"sampler": request.scheduler, "LoRA": request.loras, "hires fix": request.hires_scale}
    return left + [name for name, value in asked.items() if value]


# -- the answer -------------------------------------------------------------------------


def picture_items(answer: Any, name: str) -> list[dict[str, Any]]:
    items = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items) or not items:
        raise ProviderStreamError(
            f"{name} answered the image request without pictures (no `data` list).",
            "Check that the model is an image model the server serves.",
        )
    return items


def b64_bytes(text: Any, name: str) -> bytes:
    """A base64 picture (or a data: URL's), at most MAX_PICTURE bytes."""
    if not isinstance(text, str):
        raise ProviderStreamError(f"{name} sent a picture that is not base64 text.", "")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > MAX_PICTURE * 4 // 3 + 4096:
        raise ProviderStreamError(f"{name} sent a picture over {MAX_PICTURE >> 20} MB.",
                                  "Ask for a smaller size.")  # fmt: skip
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ProviderStreamError(
            f"{name} sent a picture that is not valid base64.",
            "Check the server's log; its images endpoint answered with something broken.",
        ) from None


async def picture_bytes(item: dict[str, Any], server: ImageServer) -> bytes:
    if item.get("b64_json") is not None:
        return b64_bytes(item["b64_json"], server.name)
    url = item.get("url")
    if isinstance(url, str) and url.startswith("data:"):
        return b64_bytes(url, server.name)
    if isinstance(url, str) and url:
        return await server.fetch(url, MAX_PICTURE)
    raise ProviderStreamError(f"{server.name} sent an image entry with neither b64_json "
                              "nor url.", "Check the server's images endpoint.")  # fmt: skip


def open_picture(data: bytes, name: str) -> Image:
    """The bytes as a picture (PNG, JPEG or WebP; pixel count capped), or a clear refusal."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    refusal = ProviderStreamError(
        f"{name} sent data that is not a picture ({len(data)} bytes).",
        "Check that the model is an image model; the server's log may say more.",
    )
    try:
        with PILImage.open(io.BytesIO(data), formats=FORMATS) as im:
            if im.width * im.height > MAX_PICTURE_PIXELS:
                raise ProviderStreamError(
                    f"{name} sent a {im.width}x{im.height} picture: too large to keep.",
                    "Ask for a smaller size.",
                )
            im.load()
            return im.convert("RGBA" if "A" in im.getbands() else "RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise refusal from exc
    except PILImage.DecompressionBombError as exc:
        raise refusal from exc


async def unless_cancelled(work: Awaitable[Any], cancel: threading.Event) -> Any | None:
    """`work`'s result, or None once `cancel` is set (the request is abandoned)."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            if cancel.is_set():
                return None
            await asyncio.wait({task}, timeout=0.1)
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- a run ------------------------------------------------------------------------------


async def generate_remote(
    request: ImageRequest,
    model: ImageModel,
    settings: Settings,
    servers: Callable[[str], ImageServer] | None,
    gallery: Gallery,
    cancel: threading.Event,
) -> AsyncGenerator[ImageEvent, None]:
    """The local pipeline's events for a server's run: PipelineLoaded (pipeline "remote"),
    StepProgress once per picture (no previews), ImageReady per saved picture, ImagesDone."""
    if request.img2img:
        raise ImageRequestError(
            "Image-to-image is not available on a remote image server.",
            "Clear the init image, or pick a local image model (ctrl+o).",
        )
    provider, model_id = provider_of(settings, model)
    if servers is None:
        raise GenaiError("Remote image servers are not available here.", "Use a local model.")
    server = servers(provider.name)
    extras: set[str] = set(provider.image_extras or [])
    skipped = not_sent(request, extras)
    notes = {"Server ignored": ", ".join(skipped)} if skipped else {}
    request = request.replace(loras=(), hires_scale=0)  # not applied, so not recorded
    seeds = seed_plan(request)
    count = len(seeds)
    started = time.monotonic()
    told = f"; server ignored: {', '.join(skipped)}" if skipped else ""
    yield PipelineLoaded(model.name, model.path, REMOTE, f"{provider.name} (remote)", "",
                         f"generating on the server, no live previews{told}", 0, 0.0)  # fmt: skip
    # One request per picture when the server takes a seed (each picture's seed is then
    # the one recorded); else all in one, and again for any it did not send.
    per_request = 1 if "seed" in extras else count
    paths: list[Path] = []
    while len(paths) < count and not cancel.is_set():
        at = len(paths)
        n = min(per_request, count - at)
        asked = time.monotonic()
        try:
            answer = await unless_cancelled(
                server.generate(request_body(request, model_id, extras, n, seeds[at])), cancel
            )
        except ProviderRejectedError:
            if n == 1:
                raise
            per_request = 1  # a server that makes one picture per request (e.g. n must be 1)
            continue
        if answer is None:
            break
        items = picture_items(answer, server.name)[: count - at]
        each = (time.monotonic() - asked) / len(items)
        for item in items:
            data = await picture_bytes(item, server)
            image = await asyncio.to_thread(open_picture, data, server.name)
            index, seed = len(paths), seeds[len(paths)]
            saved = await asyncio.to_thread(
                gallery.save, image, request, seed=seed, model=model.name, duration_s=each,
                notes=notes,
            )  # fmt: skip
            paths.append(saved.path)
            elapsed = time.monotonic() - started
            eta = elapsed / len(paths) * (count - len(paths))
            yield StepProgress(index, count, request.steps, request.steps, elapsed, eta)
            yield ImageReady(index, seed, saved.path, saved.id, image, each)
    yield ImagesDone(tuple(paths), tuple(seeds[: len(paths)]), len(paths) < count,
                     time.monotonic() - started)  # fmt: skip

