"""An image request: its checks (sizes, steps, strength) and the seed each variation gets.

No torch here: a request is checked before any model is touched, so a bad size
costs nothing and says what to change.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from genai_tui.engine.core.errors import ImageRequestError

if TYPE_CHECKING:
    from genai_tui.engine.images.loras import LoraPick

MIN_SIDE = 64
MAX_SIDE = 4096
MAX_PIXELS = 4096 * 2048  # 8.4 MP: beyond this, generate smaller and upscale
MAX_SEED = 2**32 - 1
SeedMode = Literal["fixed", "random", "increment"]
SEED_MODES: tuple[SeedMode, ...] = ("increment", "random", "fixed")

# diffusers scheduler class -> the sampler name AUTOMATIC1111 writes (and reads back).
SAMPLER_NAMES = {
    "EulerAncestralDiscreteScheduler": "Euler a",
    "EulerDiscreteScheduler": "Euler",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DPMSolverSinglestepScheduler": "DPM++ SDE",
    "DPMSolverSDEScheduler": "DPM++ 2M SDE",
    "KDPM2DiscreteScheduler": "DPM2",
    "KDPM2AncestralDiscreteScheduler": "DPM2 a",
    "HeunDiscreteScheduler": "Heun",
    "LMSDiscreteScheduler": "LMS",
    "DDIMScheduler": "DDIM",
    "DDPMScheduler": "DDPM",
    "PNDMScheduler": "PLMS",
    "UniPCMultistepScheduler": "UniPC",
    "DEISMultistepScheduler": "DEIS",
    "LCMScheduler": "LCM",
    "EDMEulerScheduler": "Euler EDM",
}
SCHEDULERS = {name: cls for cls, name in SAMPLER_NAMES.items()}


def sampler_name(scheduler_class: str) -> str:
    """What A1111 calls this diffusers scheduler ("Euler a"), else the class name."""
    return SAMPLER_NAMES.get(scheduler_class, scheduler_class)


def scheduler_class(name: str) -> str:
    """A diffusers scheduler class from an A1111 sampler name or a class name."""
    return SCHEDULERS.get(name, name)


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What to make. `seed` None (or -1) picks one at random; it is always recorded."""

    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 7.0
    variations: int = 4
    seed: int | None = None
    seed_mode: SeedMode = "increment"
    scheduler: str = ""
    """A diffusers scheduler class or A1111 sampler name; "" keeps the model's own."""
    init_image: Path | None = None
    """Image-to-image: the picture to transform."""
    strength: float = 0.75
    """Image-to-image: how far from the init image to go (0 keeps it, 1 ignores it)."""
    offload: bool = False
    """Force model CPU offload (a retry after CUDA ran out of memory)."""
    extra: dict[str, Any] = field(default_factory=dict)
    loras: tuple[LoraPick, ...] = ()
    """LoRAs picked besides the prompt's `<lora:NAME:W>` tags (images/loras.py)."""
    hires_scale: float = 0
    """Hires fix (images/hires.py): upscale each result by this and refine it (0: off)."""
    hires_strength: float = 0.5
    hires_steps: int = 0
    """Hires fix: the second pass's steps (0: as many as `steps`)."""
    upscaler: str = ""
    """Hires fix: an upscaler model's name or path, "Lanczos", or "" (a model, else Lanczos)."""
    mask_image: Path | None = None
    """Inpainting (images/inpaint.py): white where `init_image` is repainted."""

    @property
    def img2img(self) -> bool:
        return self.init_image is not None

    def replace(self, **changes: Any) -> ImageRequest:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["init_image"] = str(self.init_image) if self.init_image else None
        data["mask_image"] = str(self.mask_image) if self.mask_image else None
        return data


def check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if value % 8:
            lower, upper = value // 8 * 8, value // 8 * 8 + 8
            choices = sorted({min(max(v, MIN_SIDE), MAX_SIDE) for v in (lower, upper)})
            raise ImageRequestError(
                f"The {name} {value} is not a multiple of 8.",
                f"Use {' or '.join(map(str, choices))}.",
            )
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise ImageRequestError(
                f"The {name} {value} is outside {MIN_SIDE}..{MAX_SIDE} pixels.",
                "Pick a size like 512x512 (SD 1.x) or 1024x1024 (SDXL).",
            )
    if width * height > MAX_PIXELS:
        raise ImageRequestError(
            f"{width}x{height} is too many pixels.", "Pick a smaller size, then upscale."
        )


def validate(request: ImageRequest) -> ImageRequest:
    """The request, checked; raises ImageRequestError naming what to change."""
    if not request.prompt.strip():
        raise ImageRequestError("The prompt is empty.", "Describe the image you want.")
    check_size(request.width, request.height)
    if not 1 <= request.steps <= 500:
        raise ImageRequestError(f"Steps {request.steps} is outside 1..500.", "20-30 is typical.")
    if not 0.0 <= request.guidance <= 50.0:
        raise ImageRequestError(
            f"Guidance {request.guidance} is outside 0..50.", "7 is typical for SD 1.x."
        )
    if not 1 <= request.variations <= 64:
        raise ImageRequestError(
            f"{request.variations} variations is outside 1..64.", "Ask for 1 to 16."
        )
    from genai_tui.engine.images.loras import check_loras

    check_loras(request)
    from genai_tui.engine.images.hires import check_hires_inpaint

    check_hires_inpaint(request)
    if request.seed_mode not in SEED_MODES:
        raise ImageRequestError(
            f"Unknown seed mode '{request.seed_mode}'.", "Use fixed, random or increment."
        )
    if request.seed is not None and not -1 <= request.seed <= MAX_SEED:
        raise ImageRequestError(
            f"The seed {request.seed} is outside 0..{MAX_SEED}.", "Use -1 for a random one."
        )
    if request.init_image is not None:
        if not 0.0 < request.strength <= 1.0:
            raise ImageRequestError(
                f"Strength {request.strength} is outside 0..1.",
                "0.3 keeps most of the picture, 0.8 changes most of it.",
            )
        if not Path(request.init_image).expanduser().is_file():
            raise ImageRequestError(
                f"The init image {request.init_image} does not exist.",
                "Give the path of a PNG or JPEG file.",
            )
        if int(request.steps * request.strength) < 1:
            raise ImageRequestError(
                f"{request.steps} steps at strength {request.strength} leaves no step to run.",
                "Raise the steps or the strength.",
            )
    return request


def seed_plan(request: ImageRequest, rng: random.Random | None = None) -> list[int]:
    """The seed of each variation: fixed (all the same), random, or increment (s, s+1, ...)."""
    rng = rng or random.SystemRandom()
    base = request.seed if request.seed is not None and request.seed >= 0 else None
    n = request.variations
    if request.seed_mode == "random":
        return [rng.randint(0, MAX_SEED) for _ in range(n)]
    if base is None:
        base = rng.randint(0, MAX_SEED)
    if request.seed_mode == "fixed":
        return [base] * n
    return [(base + i) % (MAX_SEED + 1) for i in range(n)]


def fit_size(width: int, height: int, longest: int = 1024) -> tuple[int, int]:
    """An init image's size, scaled so its longest side is at most `longest`, in steps of 8."""
    scale = min(1.0, longest / max(width, height))
    w = max(MIN_SIDE, int(width * scale) // 8 * 8)
    h = max(MIN_SIDE, int(height * scale) // 8 * 8)
    return w, h


def with_field(request: ImageRequest, field: str, text: str) -> ImageRequest:
    """`request` with one field set from what a person typed: size ("512x768" or "512"),
    steps, guidance, seed (-1: random), variations, strength, hires_scale, hires_strength,
    hires_steps, or init / mask (a path; "" = off).
    Raises ImageRequestError saying what is wrong."""
    text = text.strip()
    try:
        if field == "size":
            w, _, h = text.lower().replace(" ", "").partition("x")
            width, height = int(w), int(h or w)
            check_size(width, height)
            return request.replace(width=width, height=height)
        if field in ("init", "mask"):
            path = Path(text).expanduser() if text else None
            changed = request.replace(**{f"{field}_image": path})
        else:
            kind = {"steps": int, "variations": int, "seed": int, "hires_steps": int}.get(
                field, float)
            value: Any = kind(text)
            if field == "seed" and value < 0:
                value = None
            changed = request.replace(**{field: value})
    except ValueError:
        raise ImageRequestError(
            f"'{text}' is not a valid {field}.", "Type a number (size: WxH, e.g. 512x768)."
        ) from None
    validate(changed.replace(prompt=changed.prompt or "x"))
    return changed

