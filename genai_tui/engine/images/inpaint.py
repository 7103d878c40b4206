"""Inpainting: repaint the white part of a mask in the init image, keep the rest.

The mask is a second picture (white = repaint, black = keep; any size: it is resized to
the init image's), blurred by MASK_BLUR pixels as A1111 does. The pipeline is diffusers'
inpainting variant of the loaded model (`AutoPipelineForInpainting.from_pipe`): a
9-channel inpainting UNet is used as one; a normal model inpaints too (its latents are
blended with the init image's at each step), less seamlessly. The unmasked pixels are
then put back from the init image exactly (A1111's overlay): a VAE round trip would
shift them otherwise.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import PipelineError

if TYPE_CHECKING:
    from genai_tui.engine.images.diffusion import DiffusionModel
    from genai_tui.engine.images.diffusion_params import ImageRequest

MASK_BLUR = 4
# A base pipeline -> (its memory mode when made, its inpainting variant). Weak: the
# variant goes with the model when it is unloaded.
_variants: weakref.WeakKeyDictionary[Any, tuple[str, Any]] = weakref.WeakKeyDictionary()


def load_mask(path: Path | str, size: tuple[int, int]) -> Any:
    """The mask as a greyscale PIL image of `size`, blurred by MASK_BLUR."""
    from PIL import Image, ImageFilter, UnidentifiedImageError

    try:
        with Image.open(Path(path).expanduser()) as src:
            mask = src.convert("L")
    except Image.DecompressionBombError as exc:
        raise PipelineError(f"The mask {path} is too large to open safely ({exc}).",
                            "Give a mask the size of the init image.") from exc  # fmt: skip
    except (OSError, UnidentifiedImageError) as exc:
        raise PipelineError(
            f"Cannot read the mask {path}: {exc}.",
            "Give a PNG: white where the picture is repainted, black where it is kept.",
        ) from exc
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return mask.filter(ImageFilter.GaussianBlur(MASK_BLUR))


def mask_args(request: ImageRequest, init: Any) -> dict[str, Any]:
    """The pipeline's `mask_image` for an inpainting request (else nothing)."""
    if request.mask_image is None:
        return {}
    return {"mask_image": load_mask(request.mask_image, init.size)}


def overlay(args: dict[str, Any], image: Any) -> Any:
    """`image` with the unmasked pixels of the init image put back (at `image`'s size)."""
    mask = args.get("mask_image")
    if mask is None:
        return image
    from PIL import Image

    original = args["image"]
    if original.size != image.size:
        original = original.resize(image.size, Image.Resampling.LANCZOS)
        mask = mask.resize(image.size, Image.Resampling.BILINEAR)
    return Image.composite(image.convert("RGB"), original.convert("RGB"), mask)


def is_inpainting_model(model: DiffusionModel) -> bool:
    """Whether the loaded model's UNet takes the mask and the masked image (9 channels)."""
    unet = getattr(model._pipe, "unet", None)
    return bool(unet is not None and unet.config.in_channels == 9)


def inpaint_note(model: DiffusionModel) -> str:
    """What to say when inpainting with a model that is not an inpainting one."""
    if model.loaded and not is_inpainting_model(model):
        return (f"{model.name} is not an inpainting model: the masked part is repainted with "
                "it as it is; an inpainting model (e.g. an SD 1.5 or SDXL inpainting "
                "checkpoint) blends the edges better.")  # fmt: skip
    return ""


def inpaint_pipe(model: DiffusionModel, pipe: Any) -> Any:
    """The inpainting variant of `pipe`, made once per pipeline (and memory mode)."""
    made = _variants.get(pipe)
    if made is None or made[0] != model.memory_mode:
        from diffusers import AutoPipelineForInpainting

        try:
            variant = AutoPipelineForInpainting.from_pipe(pipe)
        except ValueError as exc:
            raise PipelineError(
                f"{model.pipeline_class} has no inpainting variant.",
                "Pick a Stable Diffusion or SDXL model (an inpainting one does best).",
            ) from exc
        variant.set_progress_bar_config(disable=True)
        made = _variants[pipe] = (model.memory_mode, variant)
    made[1].scheduler = pipe.scheduler
    return made[1]
