"""Cheap previews: latents projected to RGB by a fixed linear map, no VAE decode.

The coefficients approximate what each model family's VAE decodes a latent
channel to (the same ones ComfyUI and A1111 use for their fast previews). The
result has the latents' size (1/8 of the image): enough to watch it form.
"""

from __future__ import annotations

from typing import Any

from genai_tui.engine.images.families import family

__all__ = ["family", "latents_to_rgb", "unpack_flux"]

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


# SD3 and Flux: 16 latent channels (ComfyUI's latent_formats.py SD3 / Flux).
SD3_RGB = (
    (-0.0922, -0.0175, 0.0749), (0.0311, 0.0633, 0.0954), (0.1994, 0.0927, 0.0458),
    (0.0856, 0.0339, 0.0902), (0.0587, 0.0272, -0.0496), (-0.0006, 0.1104, 0.0309),
    (0.0978, 0.0306, 0.0427), (-0.0042, 0.1038, 0.1358), (-0.0194, 0.0020, 0.0669),
    (-0.0488, 0.0130, -0.0268), (0.0922, 0.0988, 0.0951), (-0.0278, 0.0524, -0.0542),
    (0.0332, 0.0456, 0.0895), (-0.0069, -0.0030, -0.0810), (-0.0596, -0.0465, -0.0293),
    (-0.1448, -0.1463, -0.1189),
)
SD3_BIAS = (0.2394, 0.2135, 0.1925)
FLUX_RGB = (
    (-0.0346, 0.0244, 0.0681), (0.0034, 0.0210, 0.0687), (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617), (0.0859, 0.0721, 0.0329), (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915), (-0.0236, -0.0185, -0.0259), (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421), (-0.0515, 0.0201, 0.0011), (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749), (-0.1264, -0.0522, -0.1103), (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_BIAS = (-0.0329, -0.0718, -0.0851)
# family -> (channels' RGB rows, bias)
PROJECTIONS: dict[str, tuple[tuple[tuple[float, float, float], ...], tuple[float, ...]]] = {
    "sd1": (SD1_RGB, (0.0, 0.0, 0.0)),
    "sdxl": (SDXL_RGB, SDXL_BIAS),
    "sd3": (SD3_RGB, SD3_BIAS),
    "flux": (FLUX_RGB, FLUX_BIAS),
}


def unpack_flux(latents: Any, aspect: float = 1.0) -> Any:
    """Flux's packed latents (batch, patches, channels * 4), each patch 2x2 latent
    pixels, back to (batch, channels, h, w) as FluxPipeline._unpack_latents does;
    `aspect` (width / height) gives the patch grid's shape."""
    batch, patches, packed = latents.shape
    rows = max(1, round((patches / aspect) ** 0.5))
    while patches % rows:
        rows -= 1
    cols = patches // rows
    lat = latents.reshape(batch, rows, cols, packed // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return lat.reshape(batch, packed // 4, rows * 2, cols * 2)


def latents_to_rgb(latents: Any, kind: str = "sd1", size: tuple[int, int] | None = None) -> Any:
    """The first image of a (batch, channels, h, w) latent tensor as a PIL RGB image;
    Flux's packed (batch, patches, 64) latents are unpacked first (`size`: the image's
    width and height, for the patch grid's shape)."""
    import torch
    from PIL import Image

    with torch.no_grad():
        if latents.ndim == 3:
            latents = unpack_flux(latents.detach(), size[0] / size[1] if size else 1.0)
        lat = latents[0].detach().float().cpu()
        channels = lat.shape[0]
        rows, bias = PROJECTIONS.get(kind, PROJECTIONS["sd1"])
        if channels == len(rows) or channels == 4:
            if channels != len(rows):  # a 4-channel space the family does not name
                rows, bias = PROJECTIONS["sd1"]
            rgb = torch.einsum("chw,cr->rhw", lat, torch.tensor(rows))
            rgb = rgb + torch.tensor(bias)[:, None, None]
            rgb = (rgb + 1.0) / 2.0
        else:
            # An unknown latent space: show three channels, each stretched to 0..1.
            rgb = lat[:3] if channels >= 3 else lat[:1].expand(3, -1, -1)
            low = rgb.amin(dim=(1, 2), keepdim=True)
            high = rgb.amax(dim=(1, 2), keepdim=True)
            rgb = (rgb - low) / (high - low).clamp(min=1e-6)
        pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(pixels, "RGB")
