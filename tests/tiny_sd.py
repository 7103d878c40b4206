"""A tiny Stable Diffusion pipeline built from configs with random weights, offline.

Real diffusers classes (UNet2DConditionModel, AutoencoderKL, CLIPTextModel, a
CLIPTokenizer on a small local vocab), saved with `save_pretrained` so the
engine loads it exactly as it loads a downloaded model. A few MB; its output
is noise, but deterministic for a seed.
"""

from __future__ import annotations

import json
from pathlib import Path

# Printable ASCII, then the same with the word-end marker, then a few merges:
# enough for any English prompt to tokenize without unknown tokens.
_CHARS = [chr(c) for c in range(33, 127)]


def _vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    tokens = ["<|startoftext|>", "<|endoftext|>", "!"]
    tokens += [c for c in _CHARS if c not in tokens]
    tokens += [c + "</w>" for c in _CHARS]
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("an", "d</w>"), ("i", "n"), ("o", "n</w>")]
    tokens += ["th", "the</w>", "an", "and</w>", "in", "on</w>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def build_tiny_sd(folder: Path, *, seed: int = 0, scale: int = 1) -> Path:
    """Write the tiny pipeline to `folder` (a diffusers layout with model_index.json).

    `scale` widens the UNet (bench/image.py uses 2 so timings are not noise).
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from genai_tui.engine.images.diffusion_load import quiet_libraries

    quiet_libraries()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32 * scale, 64 * scale),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=16,
        attention_head_dim=8,
    )
    # Four blocks: the VAE scales by 8, as Stable Diffusion's does.
    vae = AutoencoderKL(
        block_out_channels=(16, 16, 32, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
    )
    vocab, merges = _vocab()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            max_position_embeddings=77,
        )
    )
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    (folder / "tiny-sd.json").write_text(json.dumps({"seed": seed, "scale": scale}))
    return folder


if __name__ == "__main__":
    import sys

    print(build_tiny_sd(Path(sys.argv[1])))
