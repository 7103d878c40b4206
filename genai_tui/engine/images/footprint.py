"""What an image model and one image will hold in memory, before loading: residency's input."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genai_tui.engine.images.diffusion import DiffusionModel


def image_footprint(model: DiffusionModel) -> tuple[int, str]:
    """(bytes the model's weights will hold once loaded, its device), before loading it.

    Blocking, and imports torch (to see CUDA): call it on a thread when a load is about
    to need torch anyway.
    """
    return model.estimate_bytes(), model.planned_device()


def image_work_bytes(width: int, height: int, device: str) -> int:
    """Working memory for one image beyond the weights (activations, latents, VAE decode).

    A rough rule (about 330 MB at 512x512 in fp16, 1.3 GB at 1024x1024), enough to keep
    a second job off a GPU that is nearly full.
    """
    return width * height * 640 * (2 if device == "cuda" else 4)
