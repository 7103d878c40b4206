"""Cheap previews: latents projected to RGB by a fixed linear map, no VAE decode.

The coefficients approximate what each model family's VAE decodes a latent
channel to (the same ones ComfyUI and A1111 use for their fast previews). The
result has the latents' size (1/8 of the image): enough to watch it form.
"""

from __future__ import annotations

from typing import Any

# Rows: latent channels; columns: R, G, B.
SD1_RGB = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SDXL_RGB = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_BIAS = (0.1084, -0.0175, -0.0011)


def family(pipeline_class: str) -> str:
    """'sdxl' for SDXL pipelines, else 'sd1' (the 4-channel latent space of SD 1.x/2.x)."""
    return "sdxl" if "XL" in pipeline_class else "sd1"


def latents_to_rgb(latents: Any, kind: str = "sd1") -> Any:
    """The first image of a (batch, channels, h, w) latent tensor as a PIL RGB image."""
    import torch
    from PIL import Image

    with torch.no_grad():
        lat = latents[0].detach().float().cpu()
        channels = lat.shape[0]
        if channels == 4:
            coeffs = torch.tensor(SDXL_RGB if kind == "sdxl" else SD1_RGB)
            rgb = torch.einsum("chw,cr->rhw", lat, coeffs)
            if kind == "sdxl":
                rgb = rgb + torch.tensor(SDXL_BIAS)[:, None, None]
            rgb = (rgb + 1.0) / 2.0
        else:
            # An unknown latent space: show three channels, each stretched to 0..1.
            rgb = lat[:3] if channels >= 3 else lat[:1].expand(3, -1, -1)
            low = rgb.amin(dim=(1, 2), keepdim=True)
            high = rgb.amax(dim=(1, 2), keepdim=True)
            rgb = (rgb - low) / (high - low).clamp(min=1e-6)
        pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(pixels, "RGB")
