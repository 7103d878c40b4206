"""The hires fix, as AUTOMATIC1111's "Hires. fix": each result is upscaled (an upscaler
model, else Lanczos: images/upscale.py) and refined by image-to-image at
`hires_strength`, giving the upscaled size. Also the request's checks for it and for
inpainting, and what the PNG parameters record of both (A1111's keys: `Hires upscale`,
`Hires steps`, `Hires upscaler`, `Denoising strength`; `Mask blur`, `Inpaint area`).

`finish_image` runs on the diffusion thread, inside the run's step loop: its steps
report through the same step callback, counted after the first pass's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import ImageRequestError
from genai_tui.engine.images.diffusion_params import ImageRequest, check_size

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.images.diffusion import DiffusionModel
    from genai_tui.engine.images.png_params import ImageParams

MAX_HIRES = 4.0
# The first pass's arguments the second one does not take (it has its own).
_FIRST_PASS_ONLY = ("image", "mask_image", "strength", "width", "height", "num_inference_steps")
# A1111 upscaler names that work on latents or do nothing: Lanczos is our nearest.
_LIKE_LANCZOS = ("latent", "lanczos", "nearest", "none")


def hires_size(request: ImageRequest) -> tuple[int, int]:
    """The size the hires fix makes (multiples of 8, as A1111 rounds)."""
    s = request.hires_scale
    return int(request.width * s) // 8 * 8, int(request.height * s) // 8 * 8


def final_size(request: ImageRequest) -> tuple[int, int]:
    """The size of the images a request makes."""
    return hires_size(request) if request.hires_scale else (request.width, request.height)


def first_steps(request: ImageRequest) -> int:
    """Denoising steps of the first pass (image-to-image runs steps x strength)."""
    if request.img2img:
        return max(1, int(request.steps * request.strength))
    return request.steps


def hires_steps(request: ImageRequest) -> int:
    """Denoising steps the hires fix adds to each image (0 when it is off)."""
    if not request.hires_scale:
        return 0
    return max(1, int((request.hires_steps or request.steps) * request.hires_strength))


def check_hires_inpaint(request: ImageRequest) -> None:
    """Part of `validate`: the hires fix's values and the inpainting mask."""
    if request.hires_scale:
        s = request.hires_scale
        if not 1 < s <= MAX_HIRES:
            raise ImageRequestError(
                f"The hires scale {s:g} is not above 1 and up to {MAX_HIRES:g}.",
                "2 doubles the size; 0 turns the hires fix off.",
            )
        width, height = hires_size(request)
        try:
            check_size(width, height)
        except ImageRequestError:
            from genai_tui.engine.images.upscale import max_factor

            largest = min(MAX_HIRES, max_factor(request.width, request.height))
            raise ImageRequestError(
                f"Hires fix ×{s:g} makes {width}x{height}: too large.",
                f"The largest factor for {request.width}x{request.height} is ×{largest:g}; "
                "or upscale the result afterwards.",
            ) from None
        if not 0.0 < request.hires_strength <= 1.0:
            raise ImageRequestError(
                f"The hires strength {request.hires_strength:g} is outside 0..1.",
                "0.3-0.5 adds detail and keeps the picture (A1111's Denoising strength).",
            )
        if not 0 <= request.hires_steps <= 500:
            raise ImageRequestError(f"Hires steps {request.hires_steps} is outside 0..500.",
                                    "0 runs as many as the first pass.")  # fmt: skip
        if int((request.hires_steps or request.steps) * request.hires_strength) < 1:
            raise ImageRequestError("The hires fix's steps x strength leaves no step to run.",
                                    "Raise the hires steps or strength.")  # fmt: skip
    if request.mask_image is not None:
        if request.init_image is None:
            raise ImageRequestError(
                "Inpainting needs an init image: the mask marks what to repaint in it.",
                "Give the picture to repaint (--init, or the init image in the studio's "
                "parameters, F8) along with the mask.",
            )
        if not Path(request.mask_image).expanduser().is_file():
            raise ImageRequestError(
                f"The mask {request.mask_image} does not exist.",
                "Give a PNG: white where the picture is repainted, black where it is kept.",
            )


def resolve_upscaler(request: ImageRequest, settings: Settings) -> ImageRequest:
    """The hires fix's upscaler named by its file (or "Lanczos"), found now, off the
    diffusion thread. Raises ModelNotFoundError for an unknown name."""
    if not request.hires_scale:
        return request
    from genai_tui.engine.images.upscale import LANCZOS, pick_upscaler

    chosen = pick_upscaler(settings, request.upscaler)
    return request.replace(upscaler=str(chosen.path) if chosen.path else LANCZOS)


def upscaler_label(name: str) -> str:
    """How the PNG names an upscaler: a model by its file's stem."""
    path = Path(name)
    return path.stem if path.suffix.lower() in (".pth", ".safetensors") else name or "Lanczos"


def _g(value: float) -> str:
    return f"{value:g}"


def png_notes(request: ImageRequest) -> dict[str, str]:
    """The `key: value` pairs the PNG parameters add for the hires fix and inpainting."""
    notes: dict[str, str] = {}
    if request.hires_scale:
        # A1111's txt2img writes the hires strength as its "Denoising strength".
        key = "Hires strength" if request.img2img else "Denoising strength"
        notes[key] = _g(request.hires_strength)
        notes["Hires upscale"] = _g(request.hires_scale)
        if request.hires_steps:
            notes["Hires steps"] = str(request.hires_steps)
        notes["Hires upscaler"] = upscaler_label(request.upscaler)
    if request.mask_image is not None:
        from genai_tui.engine.images.inpaint import MASK_BLUR

        notes |= {"Mask blur": str(MASK_BLUR), "Inpaint area": "Whole picture",
                  "Mask": Path(request.mask_image).name}  # fmt: skip
    return notes


def _number(text: str | None, kind: type = float) -> Any:
    try:
        return kind(text) if text else None
    except ValueError:
        return None


def recalled(p: ImageParams) -> dict[str, Any]:
    """The hires fix's request fields from a PNG's parameters (ours or A1111's)."""
    scale = _number(p.extra.get("Hires upscale"))
    resize = (p.extra.get("Hires resize") or "").partition("x")[0]
    if not scale and _number(resize, int) and p.width:
        scale = int(resize) / p.width  # A1111's "Hires resize: 1024x1024"
    if not scale:
        return {}
    values: dict[str, Any] = {"hires_scale": scale}
    strength = _number(p.extra.get("Hires strength")) or p.strength
    if strength:
        values["hires_strength"] = strength
    if steps := _number(p.extra.get("Hires steps"), int):
        values["hires_steps"] = steps
    name = p.extra.get("Hires upscaler", "")
    values["upscaler"] = "Lanczos" if name.lower().startswith(_LIKE_LANCZOS) else name
    return values


def stored(params: dict[str, Any]) -> dict[str, Any]:
    """The hires and mask fields of a gallery row's request (its `params` JSON)."""
    values: dict[str, Any] = {k: params[k] for k in ("hires_scale", "hires_strength", "hires_steps",
                                     "upscaler") if k in params}  # fmt: skip
    if params.get("hires_scale"):  # the row's size is the upscaled one
        values |= {"width": params["width"], "height": params["height"]}
    if params.get("mask_image"):
        values["mask_image"] = Path(params["mask_image"])
    return values


def finish_image(model: DiffusionModel, request: ImageRequest, args: dict[str, Any],
                 image: Any, generator: Any, on_step: Any, span: list[int]) -> Any:  # fmt: skip
    """The first pass's image finished: an inpainting's kept pixels put back, then the
    hires fix (upscale, then image-to-image at the new size). `span` tells the step
    callback how many steps came before this pass and how many follow it."""
    from genai_tui.engine.images.inpaint import overlay

    image = overlay(args, image)
    if not request.hires_scale:
        return image
    import torch

    from genai_tui.engine.images.upscale import LANCZOS, Upscaler, upscale_image

    path = None if request.upscaler in ("", LANCZOS) else Path(request.upscaler)
    upscaler = Upscaler(upscaler_label(request.upscaler), path)
    upscaled = upscale_image(image, hires_size(request), upscaler, model.device)
    # The image-to-image pipeline, as an image-to-image request gets it.
    as_img2img = request.replace(init_image=request.init_image or Path(), mask_image=None)
    pipe = model._pipe_for(as_img2img, torch)
    span[:] = [first_steps(request), 0]
    kept = {k: v for k, v in args.items() if k not in _FIRST_PASS_ONLY}
    out = pipe(**kept, image=upscaled, strength=request.hires_strength,
               num_inference_steps=request.hires_steps or request.steps, generator=generator,
               callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"])
    span[:] = [0, hires_steps(request)]  # the next image's first pass
    return overlay(args, out.images[0])
