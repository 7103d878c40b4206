"""What one image needs in memory beyond the weights: residency's input for a GPU turn."""

from __future__ import annotations


def image_work_bytes(width: int, height: int, device: str) -> int:
    """Working memory for one image beyond the weights (activations, latents, VAE decode).

    A rough rule (about 330 MB at 512x512 in fp16, 1.3 GB at 1024x1024), enough to keep
    a second job off a GPU that is nearly full.
    """
    return width * height * 640 * (2 if device == "cuda" else 4)
