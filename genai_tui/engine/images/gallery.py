"""The gallery: each generated image as a PNG in <data_dir>/images with its parameters
in the A1111 `parameters` chunk, and one row per image in the store's `images` table.

The PNG is the record other tools read; the row is what the studio lists and
searches. Deleting removes both.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError, StoreError
from genai_tui.engine.core.files import private_dir, replacing
from genai_tui.engine.images import hires, loras
from genai_tui.engine.images.diffusion_params import ImageRequest, sampler_name, scheduler_class
from genai_tui.engine.images.png_params import ImageParams, format_parameters, png_info, read_params

if TYPE_CHECKING:
    from genai_tui.engine.core.store import Store


@dataclass(frozen=True)
class GalleryImage:
    id: int
    path: Path
    model: str
    prompt: str
    negative_prompt: str
    seed: int | None
    width: int | None
    height: int | None
    steps: int | None
    guidance: float | None
    scheduler: str
    strength: float | None
    init_image: str | None
    params: dict[str, Any] = field(default_factory=dict)
    duration_s: float | None = None
    created_at: float = 0.0

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def request(self, **changes: Any) -> ImageRequest:
        """The request that made this image (one variation, its seed fixed), with `changes`."""
        values: dict[str, Any] = {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "width": self.width or 512,
            "height": self.height or 512,
            "steps": self.steps or 25,
            "guidance": self.guidance if self.guidance is not None else 7.0,
            "variations": 1,
            "seed": self.seed,
            "seed_mode": "fixed",
            "scheduler": self.scheduler,
        }
        if self.init_image:
            values["init_image"] = Path(self.init_image)
            values["strength"] = self.strength if self.strength is not None else 0.75
        values |= hires.stored(self.params)  # hires fix (its first pass's size), mask
        values.update(changes)
        return ImageRequest(**values)


def recalled_values(p: ImageParams) -> dict[str, Any]:
    """The request fields a PNG's parameters give: prompts, seed, sampler, and the size,
    steps and guidance where it has them."""
    values: dict[str, Any] = {
        "prompt": p.prompt,
        "negative_prompt": p.negative_prompt,
        "seed": p.seed,
        "scheduler": scheduler_class(p.sampler) if p.sampler else "",
    }
    for key, value in (("width", p.width), ("height", p.height), ("steps", p.steps),
                       ("guidance", p.guidance)):  # fmt: skip
        if value is not None:
            values[key] = value
    values["loras"] = loras.recalled(p.prompt, p.lora_hashes)  # hashed but not tagged
    values |= hires.recalled(p)  # Hires upscale, steps, upscaler, strength
    return values


def request_from_params(p: ImageParams, **changes: Any) -> ImageRequest:
    """A request from a PNG's A1111 parameters (ours or another tool's)."""
    values: dict[str, Any] = {"variations": 1, "seed_mode": "fixed", **recalled_values(p)}
    values.update(changes)
    return ImageRequest(**values)


class Gallery:
    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        self.folder = Path(folder).expanduser()

    # -- writing --------------------------------------------------------------

    def _new_path(self, seed: int) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            path = self.folder / f"{stamp}-{seed}{f'-{n}' if n else ''}.png"
            if not path.exists():
                return path
        raise GenaiError(f"Too many images named {stamp}-{seed}*.png in {self.folder}.")

    def save(
        self,
        image: Any,
        request: ImageRequest,
        *,
        seed: int,
        model: str,
        model_hash: str = "",
        scheduler: str = "",
        duration_s: float | None = None,
        notes: dict[str, str] | None = None,
    ) -> GalleryImage:
        """Write `image` as PNG with its A1111 parameters, and record it. Thread-safe.

        A poster request (`extra["poster"]`) has its slogan drawn on first, and named in
        the parameters; `notes` are more `key: value` pairs for them."""
        slogan = str(request.extra.get("poster") or "")
        if slogan:
            from genai_tui.engine.images.poster import draw_slogan

            image = draw_slogan(image, slogan)
        params = ImageParams(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            steps=request.steps,
            sampler=sampler_name(scheduler),
            guidance=request.guidance,
            seed=seed,
            # As A1111: a hires fix's Size is its first pass's (`Hires upscale` says more).
            width=request.width if request.hires_scale else image.width,
            height=request.height if request.hires_scale else image.height,
            model=model,
            model_hash=model_hash,
            strength=request.strength if request.img2img else None,
            lora_hashes=loras.lora_hashes(request),  # the prompt keeps their <lora:...> tags
            extra=({"Poster": slogan} if slogan else {}) | hires.png_notes(request)
            | (notes or {}),
        )
        try:
            private_dir(self.folder)
            path = self._new_path(seed)
            # 0600 under a temporary name, then renamed: a half-written PNG is never listed.
            with replacing(path) as f:
                image.save(f, format="PNG", pnginfo=png_info(format_parameters(params)))
        except OSError as exc:
            raise GenaiError(
                f"Could not save the image in {self.folder}: {exc.strerror or exc}.",
                "Check that the data dir is writable and the disk has space.",
            ) from exc
        record = request.to_json() | {"seed": seed, "model_hash": model_hash}
        row = {
            "path": str(path),
            "model": model,
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": seed,
            "width": image.width,
            "height": image.height,
            "steps": request.steps,
            "guidance": request.guidance,
            "scheduler": scheduler,
            "strength": request.strength if request.img2img else None,
            "init_image": str(request.init_image) if request.init_image else None,
            "params": json.dumps(record),
            "duration_s": duration_s,
            "created_at": time.time(),
        }
        try:
            image_id = self.store.add_image(row)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The image was saved as {path}, but not recorded in the gallery: {exc}.",
                "The file is kept; check the database (genai-tui doctor).",
            ) from exc
        return self.image(image_id)

    # -- reading --------------------------------------------------------------

    @staticmethod
    def _image(row: dict[str, Any]) -> GalleryImage:
        values = dict(row)
        values["path"] = Path(values["path"])
        values["params"] = json.loads(values["params"] or "{}")
        return GalleryImage(**values)

    def image(self, image_id: int) -> GalleryImage:
        row = self.store.image_row(image_id)
        if row is None:
            raise GenaiError(f"No image {image_id} in the gallery.", "It may have been deleted.")
        return self._image(row)

    def images(self, search: str = "", limit: int = 500) -> list[GalleryImage]:
        """Newest first; `search` matches the prompt or the model."""
        return [self._image(r) for r in self.store.image_rows(search, limit)]

    def count(self) -> int:
        return self.store.image_count()

    def delete(self, image_id: int) -> None:
        """Remove the PNG and its row (a file already gone is not an error)."""
        image = self.image(image_id)
        try:
            image.path.unlink(missing_ok=True)
        except OSError as exc:
            raise GenaiError(
                f"Could not delete {image.path}: {exc.strerror or exc}.",
                "Check the folder's permissions; the gallery entry is kept.",
            ) from exc
        self.store.delete_image(image_id)

    @staticmethod
    def params_from_file(path: Path) -> ImageParams:
        """The parameters of a PNG with an A1111 `parameters` chunk or ComfyUI's `prompt`."""
        from genai_tui.engine.images.comfy_params import read_comfy_params

        try:
            params = read_params(Path(path)) or read_comfy_params(Path(path))
        except OSError as exc:
            raise GenaiError(f"Cannot read {path}: {exc}.", "Pick a PNG file.") from exc
        if params is None:
            raise GenaiError(
                f"{Path(path).name} holds no generation parameters.",
                "Only PNGs saved by genai-tui, AUTOMATIC1111, ComfyUI and compatible tools "
                "carry them.",
            )
        return params

    @staticmethod
    def request_from_file(path: Path, **changes: Any) -> ImageRequest:
        """Recall the parameters of any PNG with an A1111 or ComfyUI parameters chunk."""
        return request_from_params(Gallery.params_from_file(path), **changes)
