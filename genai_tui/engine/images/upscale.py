"""Upscaling a picture: with an ESRGAN-family model from the inventory (kind "upscaler",
loaded with spandrel), else with Lanczos, and saying so.

`upscale_image` is the one resize both users share: the hires fix (images/hires.py, on
the diffusion thread) and `upscale_picture`, the plain upscale of a gallery image or any
picture file (`ImageStudio.upscale`, `genai-tui gen --init PIC --upscale 2 --strength 0`),
whose result is saved in the gallery with the source's parameters and the upscale
recorded as A1111's Extras tab does (`Postprocess upscale by`, `Postprocess upscaler`).

torch and spandrel are imported when a model runs; a loaded upscaler is kept (one at a
time) for the next picture.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError, ImageRequestError, ModelNotFoundError
from genai_tui.engine.images.diffusion_params import MAX_PIXELS, MAX_SIDE, ImageRequest

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.images.studio import ImageStudio
    from genai_tui.engine.models.local_stores import InventoryEntry

LANCZOS = "Lanczos"
MAX_FACTOR = 8.0
TILE = 256  # input pixels per side a model sees at once (bounded memory on any size)
TILE_PAD = 16  # overlap, so no seam shows where tiles meet


SPANDREL_HINT = ("Install the upscale extra (pip install 'genai-tui[upscale]'; it brings "
                 "torchvision, which must match your torch), or use Lanczos.")


def no_model_note(settings: Settings) -> str:
    return ("upscaled with Lanczos: no upscaler model found; put an ESRGAN .pth/.safetensors "
            f"in {settings.models_path}")  # fmt: skip


def spandrel_installed() -> bool:
    """Whether upscaler models can run: spandrel (and the torchvision it imports) is an
    optional extra, since torchvision must be built for the installed torch."""
    import importlib.util

    return importlib.util.find_spec("spandrel") is not None


@dataclass(frozen=True, slots=True)
class Upscaler:
    """What enlarges a picture: a model file, or Lanczos (`path` None)."""

    name: str
    path: Path | None = None
    note: str = ""  # why Lanczos, when no model was found


@dataclass(frozen=True, slots=True)
class Upscaled:
    """A plain upscale's result, saved in the gallery."""

    path: Path
    image_id: int
    width: int
    height: int
    factor: float
    upscaler: str
    note: str
    duration_s: float

    @property
    def message(self) -> str:
        said = f"{self.path.name}: ×{self.factor:g} to {self.width}x{self.height}, "
        return said + (self.note or f"upscaled with {self.upscaler}")


def upscaler_models(settings: Settings) -> list[InventoryEntry]:
    """The upscaler models on disk (models dir .pth/.safetensors, HF cache .safetensors)."""
    from genai_tui.engine.models.inventory import scan_for

    return [e for e in scan_for(settings) if e.kind == "upscaler"]


def pick_upscaler(settings: Settings, name: str = "") -> Upscaler:
    """`name`: "" (the first upscaler model found, else Lanczos with a note), "Lanczos",
    a model file's path, or a listed model's name or file stem (or a unique part of it)."""
    if name.lower() == LANCZOS.lower():
        return Upscaler(LANCZOS)
    path = Path(name).expanduser()
    if name and path.suffix.lower() in (".pth", ".safetensors"):
        if not path.is_file():
            raise ModelNotFoundError(f"No upscaler model at {path}.", "Check the path.")
        return Upscaler(path.stem, path)
    models = upscaler_models(settings)
    if not name:
        if not models:
            return Upscaler(LANCZOS, note=no_model_note(settings))
        if not spandrel_installed():
            return Upscaler(LANCZOS, note=f"upscaled with Lanczos: {models[0].path.name} "
                            "needs the spandrel package (pip install 'genai-tui[upscale]')")
        return Upscaler(models[0].path.stem, models[0].path)
    for m in models:
        if name in (m.name, m.path.name, m.path.stem):
            return Upscaler(m.path.stem, m.path)
    matches = [m for m in models if name.lower() in m.name.lower()]
    if len(matches) == 1:
        return Upscaler(matches[0].path.stem, matches[0].path)
    listed = ", ".join(m.path.stem for m in models[:8]) or "none here"
    raise ModelNotFoundError(
        f"No upscaler model named '{name}' (found: {listed}).",
        f"Use one of those or Lanczos, or put an ESRGAN .pth/.safetensors in "
        f"{settings.models_path}.",
    )


def max_factor(width: int, height: int) -> float:
    """The largest upscale of a width x height picture that stays within the size limits."""
    largest = min(MAX_SIDE / width, MAX_SIDE / height, math.sqrt(MAX_PIXELS / (width * height)))
    return math.floor(largest * 100) / 100


def check_factor(width: int, height: int, factor: float, what: str = "Upscaling") -> None:
    """Raise ImageRequestError unless `factor` enlarges within 1..MAX_FACTOR and the limits."""
    if not 1 < factor <= MAX_FACTOR:
        raise ImageRequestError(f"The upscale factor {factor:g} is outside 1..{MAX_FACTOR:g}.",
                                "2 doubles the width and height.")  # fmt: skip
    new_w, new_h = round(width * factor), round(height * factor)
    if max(new_w, new_h) > MAX_SIDE or new_w * new_h > MAX_PIXELS:
        raise ImageRequestError(
            f"{what} {width}x{height} ×{factor:g} makes {new_w}x{new_h}, more than "
            f"{MAX_SIDE} pixels a side or {MAX_PIXELS / 1e6:.1f} MP.",
            f"The largest factor for {width}x{height} is ×{max_factor(width, height):g}.",
        )


# -- running a model ------------------------------------------------------------------

_loaded: dict[tuple[Path, str], Any] = {}  # one model kept: (path, device) -> descriptor
_lock = threading.Lock()


def _descriptor(path: Path, device: str) -> Any:
    """The spandrel model in `path` on `device`, loaded once (pickles: tensors only)."""
    key = (path.resolve(), device)
    if key in _loaded:
        return _loaded[key]
    try:
        from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError
    except ImportError as exc:  # not installed, or a torchvision built for another torch
        raise GenaiError(f"The upscaler {path.name} needs the spandrel package, which "
                         f"cannot be imported ({exc}).", SPANDREL_HINT) from exc  # fmt: skip

    try:
        loaded = ModelLoader(device).load_from_file(path)
    except UnsupportedModelError as exc:
        raise GenaiError(f"{path.name} is not an upscaler model spandrel knows.",
                         "Use an ESRGAN, Real-ESRGAN, SwinIR, HAT or DAT model file, or "
                         "Lanczos.") from exc  # fmt: skip
    except Exception as exc:  # pickle refused, damaged file, wrong format
        detail = " ".join(str(exc).split())[:200]
        raise GenaiError(f"Cannot load the upscaler {path.name}: {detail}",
                         "Download the model again, or use Lanczos.") from exc  # fmt: skip
    if not isinstance(loaded, ImageModelDescriptor) or loaded.scale < 2 or (
        loaded.input_channels != 3
    ):
        raise GenaiError(
            f"{path.name} is a {loaded.architecture.name} model for "
            f"{loaded.purpose.lower()}, not an upscaler of colour pictures.",
            "Pick an upscaler (its name usually says 2x or 4x), or Lanczos.",
        )
    loaded.eval()
    if device.startswith("cuda") and loaded.supports_half:
        loaded.half()
    _loaded.clear()
    _loaded[key] = loaded
    return loaded


def _tiled(model: Any, tensor: Any) -> Any:
    """The model's output for `tensor` (1x3xHxW), computed in overlapping tiles."""
    _, _, h, w = tensor.shape
    if h * w <= TILE * TILE:
        return model(tensor)
    s = model.scale
    out = tensor.new_zeros((1, 3, h * s, w * s))
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            y0, x0 = max(0, y - TILE_PAD), max(0, x - TILE_PAD)
            y1, x1 = min(h, y + TILE + TILE_PAD), min(w, x + TILE + TILE_PAD)
            part = model(tensor[:, :, y0:y1, x0:x1])
            th, tw = (min(y + TILE, h) - y) * s, (min(x + TILE, w) - x) * s
            oy, ox = (y - y0) * s, (x - x0) * s
            piece = part[:, :, oy : oy + th, ox : ox + tw]
            out[:, :, y * s : y * s + th, x * s : x * s + tw] = piece
    return out


def _with_model(image: Any, size: tuple[int, int], path: Path, device: str) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    with _lock:
        model = _descriptor(path, device)
        dtype = next(model.model.parameters()).dtype
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array).permute(2, 0, 1)[None].to(device, dtype)
        with torch.inference_mode():
            # Passes until the picture is at least the size asked (a 4x model once for
            # x2, a 2x model three times for x8), then Lanczos to the exact size.
            for _ in range(3):
                tensor = _tiled(model, tensor)
                if tensor.shape[-1] >= size[0] and tensor.shape[-2] >= size[1]:
                    break
        out = tensor[0].permute(1, 2, 0).float().clamp(0, 1).mul(255).round().byte().cpu()
    result = Image.fromarray(out.numpy(), "RGB")
    return result if result.size == size else result.resize(size, Image.Resampling.LANCZOS)


def upscale_image(image: Any, size: tuple[int, int], upscaler: Upscaler,
                  device: str = "cpu") -> Any:  # fmt: skip
    """`image` (PIL) enlarged to exactly `size` with `upscaler`. Blocking: call it on a
    worker thread."""
    from PIL import Image

    if upscaler.path is None:
        return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    return _with_model(image, size, upscaler.path, device)


# -- the plain upscale ------------------------------------------------------------------


def _source(studio: ImageStudio, source: int | str | Path) -> tuple[Path, ImageRequest, str]:
    """The picture's file, the request to record it with, and its model's name."""
    from genai_tui.engine.images.gallery import Gallery

    if isinstance(source, int):
        img = studio.gallery.image(source)
        return img.path, img.request(hires_scale=0, mask_image=None), img.model
    path = Path(source).expanduser()
    if not path.is_file():
        raise GenaiError(f"No picture at {path}.", "Give the path of a PNG or JPEG file.")
    try:
        params = Gallery.params_from_file(path)
    except GenaiError:  # a picture without parameters: recorded with none
        return path, ImageRequest(prompt="", variations=1), ""
    from genai_tui.engine.images.gallery import request_from_params

    return path, request_from_params(params, hires_scale=0), params.model


def _open(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as src:
            return src.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise GenaiError(f"{path.name} is too large to open safely ({exc}).",
                         "It is big enough already.") from exc  # fmt: skip
    except (OSError, UnidentifiedImageError) as exc:
        raise GenaiError(f"Cannot read the picture {path}: {exc}.",
                         "Give a PNG or JPEG file.") from exc  # fmt: skip


async def upscale_picture(studio: ImageStudio, source: int | str | Path, factor: float = 2.0,
                          upscaler: str | None = None) -> Upscaled:  # fmt: skip
    """Enlarge a gallery image (by id) or a picture file by `factor` and save the result in
    the gallery. `upscaler`: as `pick_upscaler` (None: a model if there is one, else
    Lanczos, and the result's note says so)."""
    from genai_tui.engine.images.diffusion_load import pick_device

    started = time.perf_counter()
    path, request, model = await asyncio.to_thread(_source, studio, source)
    image = await asyncio.to_thread(_open, path)
    check_factor(image.width, image.height, factor)
    size = (round(image.width * factor), round(image.height * factor))
    settings = studio.settings
    chosen = await asyncio.to_thread(pick_upscaler, settings, upscaler or "")

    def work() -> Any:
        import torch

        device = pick_device(settings.image.device, torch) if chosen.path else "cpu"
        return upscale_image(image, size, chosen, device)

    result = await asyncio.to_thread(work)
    duration = time.perf_counter() - started
    notes = {"Postprocess upscale by": f"{factor:g}", "Postprocess upscaler": chosen.name}
    saved = await asyncio.to_thread(
        studio.gallery.save, result, request, seed=request.seed or 0, model=model,
        scheduler=request.scheduler, duration_s=duration, notes=notes,
    )  # fmt: skip
    return Upscaled(saved.path, saved.id, result.width, result.height, factor, chosen.name,
                    chosen.note, duration)  # fmt: skip
