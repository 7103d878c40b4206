"""Image model families: SD 1.x/2.x ("sd1"), SDXL, SD3 and Flux.

Which family a pipeline class or a single-file checkpoint belongs to (from the
checkpoint's tensor names, never from its file name), the config a single file needs
offline, the memory savers chosen for a family on a device, and the GPU an image model
asks residency for. Standard library only at the top: torch, diffusers and
huggingface_hub are imported inside functions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import PipelineError

if TYPE_CHECKING:
    from genai_tui.config import Settings

FAMILIES = ("sd1", "sdxl", "sd3", "flux")
LABELS = {"sd1": "Stable Diffusion 1.x/2.x", "sdxl": "SDXL", "sd3": "SD3", "flux": "Flux"}
PIPELINES = {"sd1": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline",
             "sd3": "StableDiffusion3Pipeline", "flux": "FluxPipeline"}  # fmt: skip
# The family's own size: what its models are made for, and what savers are chosen for.
NATIVE_SIZE = {"sd1": 512, "sdxl": 1024, "sd3": 1024, "flux": 1024}
# Where a family's config lives on the Hub (what `genai-tui pull` fetches once).
BASE_REPOS = {
    "sd1": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "sd3": "stabilityai/stable-diffusion-3-medium-diffusers",
    "flux": "black-forest-labs/FLUX.1-dev",
}


def a_label(kind: str) -> str:
    """"an SDXL", "a Flux": the family's name for a sentence."""
    label = LABELS.get(kind, kind)
    return ("an " if label.startswith("SD") else "a ") + label


def family(pipeline_class: str) -> str:
    """The family of a diffusers pipeline class ("FluxImg2ImgPipeline" -> "flux")."""
    if pipeline_class.startswith("Flux"):
        return "flux"
    if pipeline_class.startswith("StableDiffusion3"):
        return "sd3"
    if "XL" in pipeline_class:
        return "sdxl"
    return "sd1"


# -- single files -----------------------------------------------------------------

_PREFIX = re.compile(r"^(model\.diffusion_model\.|diffusion_model\.|model\.)")


def family_of_keys(keys: Any) -> str | None:
    """The family of a single-file checkpoint from its tensor names: SDXL has a second
    text encoder (`conditioner.embedders.1`), SD3 MMDiT `joint_blocks`, Flux
    `double_blocks` and `single_blocks`, SD 1.x/2.x a UNet (`input_blocks`) under
    `model.diffusion_model`. None when none of them matches."""
    names = [_PREFIX.sub("", k) for k in keys]
    heads = {n.split(".", 1)[0] for n in names}
    if "double_blocks" in heads and "single_blocks" in heads:
        return "flux"
    if "joint_blocks" in heads:
        return "sd3"
    if any(k.startswith(("conditioner.embedders.1.", "conditioner.embedders.0.model."))
           for k in keys):  # fmt: skip
        return "sdxl"  # base (CLIP-L + OpenCLIP-G), or the refiner (OpenCLIP-G alone)
    if "input_blocks" in heads and any(k.startswith("model.diffusion_model.") for k in keys):
        return "sd1"
    return None


def checkpoint_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a single-file checkpoint, nothing else loaded: from a
    .safetensors header, or a pickle read by torch's weights-only unpickler, mmapped."""
    if path.suffix.lower() == ".safetensors":
        try:
            with open(path, "rb") as f:
                size = int.from_bytes(f.read(8), "little")
                if not 0 < size < 100_000_000:
                    raise ValueError("no safetensors header")
                header = json.loads(f.read(size))
        except (OSError, ValueError) as exc:
            raise PipelineError(f"{path.name} is not a readable .safetensors file: {exc}.",
                                "Download it again.") from exc  # fmt: skip
        return {k: tuple(v.get("shape", ())) for k, v in header.items()
                if k != "__metadata__" and isinstance(v, dict)}  # fmt: skip
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # an old (pre zip) pickle cannot be mmapped: read it whole
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else {}
    return {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


class _Shape:
    """What diffusers' model-type inference reads of a tensor: its shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


def base_repo(shapes: dict[str, tuple[int, ...]], kind: str) -> str:
    """The Hub repo holding this checkpoint's config, as diffusers infers it from the
    tensors (SD 3.5 large, Flux schnell, an SDXL refiner...), else the family's base."""
    try:
        from diffusers.loaders.single_file_utils import (
            DIFFUSERS_DEFAULT_PIPELINE_PATHS,
            infer_diffusers_model_type,
        )

        inferred = infer_diffusers_model_type({k: _Shape(s) for k, s in shapes.items()})
        repo = DIFFUSERS_DEFAULT_PIPELINE_PATHS[inferred]["pretrained_model_name_or_path"]
        if _family_of_repo(str(repo)) == kind:
            return str(repo)
    except Exception:  # noqa: BLE001 - tiny or unusual checkpoints: the family's base
        pass
    return BASE_REPOS.get(kind, BASE_REPOS["sd1"])


def _family_of_repo(repo: str) -> str:
    name = repo.lower()
    if "flux" in name:
        return "flux"
    if "stable-diffusion-3" in name:
        return "sd3"
    if "xl" in name or "playground" in name:
        return "sdxl"
    return "sd1"


def cached_config(repo: str) -> Path | None:
    """The HF cache's snapshot of `repo` when it holds the pipeline's model_index.json."""
    from genai_tui.engine.models.hf_cache import default_cache_dir

    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, "model_index.json", cache_dir=default_cache_dir())
    except Exception:  # noqa: BLE001 - no cache, a bad repo id: nothing found
        return None
    return Path(found).parent if isinstance(found, str) else None


def find_config(path: Path, repo: str, named: Path | None = None) -> Path | None:
    """Where a single file's pipeline config is, offline: the folder the user named, else
    a diffusers folder beside the file named like it (`model/` for `model.safetensors`),
    else `repo`'s snapshot in the HF cache; None when none is here."""
    if named is not None:
        return named
    sibling = path.with_suffix("")
    if (sibling / "model_index.json").is_file():
        return sibling
    return cached_config(repo)


def config_class(folder: Path) -> str:
    """The pipeline class a diffusers folder names ("" when it names none)."""
    try:
        return str(json.loads((folder / "model_index.json").read_text())["_class_name"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


# -- memory savers ----------------------------------------------------------------


@dataclass(frozen=True)
class Savers:
    """The memory savers for one pipeline on one device."""

    offload: bool = False  # model CPU offload: one component on the GPU at a time
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False

    @property
    def label(self) -> str:
        """What the studio shows (and diffusion.py tests): "offload", else "none",
        "slicing", "tiling" or "slicing+tiling"."""
        if self.offload:
            return "offload"
        parts = [name for name, on in (("slicing", self.attention_slicing),
                                       ("tiling", self.vae_tiling)) if on]  # fmt: skip
        return "+".join(parts) or "none"


def decode_bytes(kind: str, dtype_bytes: int) -> int:
    """Peak memory of the VAE decoding one image at the family's own size (the decoder's
    last blocks hold a few 128-channel maps at full resolution)."""
    side = NATIVE_SIZE.get(kind, 512)
    return side * side * 128 * dtype_bytes * 6


def choose_savers(kind: str, device: str, mode: str, weights: int, free: int | None,
                  dtype_bytes: int = 2) -> Savers:  # fmt: skip
    """The savers for a `kind` pipeline of `weights` bytes on `device` ("cuda"/"cpu")
    with `free` bytes free there; `mode` is image.memory (auto picks per family).

    auto on a GPU: model CPU offload when the weights and a decode do not fit; VAE
    tiling (and slicing) for SDXL, SD3 and Flux when their 1024 px decode would not fit
    beside the weights; attention slicing only for SD 1.x/2.x on a small GPU (the
    transformer families' attention is not sliced, and slicing slows torch 2's fused
    attention down). On the CPU auto chooses none: RAM is the limit there, not speed.
    Explicit modes are honoured; offload without CUDA falls back to slicing + tiling."""
    if mode == "none":
        return Savers()
    if mode == "slicing":
        return Savers(attention_slicing=True)
    if mode == "tiling" or mode == "offload" and device != "cuda":
        return Savers(attention_slicing=True, vae_slicing=True, vae_tiling=True)
    if mode == "offload":
        return Savers(offload=True)
    if device != "cuda" or free is None:
        return Savers()
    from genai_tui.engine.images.footprint import image_work_bytes

    decode = decode_bytes(kind, dtype_bytes)
    side = NATIVE_SIZE.get(kind, 512)
    activations = image_work_bytes(side, side, device)  # one image at the family's size
    large = kind in ("sdxl", "sd3", "flux")
    if weights + activations > free:
        return Savers(offload=True, vae_slicing=large, vae_tiling=large)
    room = free - weights - activations
    tiling = large and decode > room
    slicing = kind == "sd1" and decode + activations > room
    return Savers(attention_slicing=slicing, vae_slicing=tiling, vae_tiling=tiling)


# -- which GPU --------------------------------------------------------------------


def gpu_request(setting: str | None) -> str:
    """What an image model on the GPU asks residency for: "cuda:auto" or "cuda:N".
    A diffusers pipeline runs on one GPU: a split is refused with what to set."""
    from genai_tui.engine.gpu.placement import parse_device, requested

    value = parse_device(setting or "auto")
    if value.startswith("split"):
        raise PipelineError(
            "An image model runs on one GPU; its device is set to split.",
            'Set the model\'s device to "auto" or a GPU index ([models."NAME"] device).',
        )
    return requested(value)


def cuda_index(device: str | None) -> int | None:
    """The GPU index of a placed device ("cuda:1" -> 1); None when not one GPU."""
    match = re.fullmatch(r"cuda:(\d+)", device or "")
    return int(match.group(1)) if match else None


def model_options(settings: Settings, name: str) -> dict[str, Any]:
    """An image model's own settings from `[models."NAME"]`: its device (which GPU)
    and config (the diffusers folder a single-file checkpoint takes its config from)."""
    own = settings.models.get(name)
    config = getattr(own, "config", None)
    return {
        "device": (own.device if own is not None else None) or "auto",
        "config": Path(config).expanduser() if config else None,
    }
