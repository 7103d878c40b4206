"""LoRA files for the tiny SD pipeline (tests/tiny_sd.py), written as real tools write them.

- `build_tiny_lora`: a real LoRA for the tiny UNet's attention projections (peft's
  `LoraConfig`, non-zero random A and B), saved with diffusers'
  `StableDiffusionPipeline.save_lora_weights`, as a diffusers training script leaves
  it; `metadata` adds a kohya-style `__metadata__`.
- `write_kohya_lora`: a file in kohya's sd-scripts layout (`lora_unet_..._attn2_to_k`
  `.lora_down.weight`, `.alpha`) with its metadata, its cross-attention as wide as a
  real family's: for the family found from metadata or key shapes (never loaded).
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_lora(
    sd_dir: Path,
    out: Path,
    *,
    seed: int = 1,
    scale: float = 4.0,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A LoRA for the tiny SD pipeline in `sd_dir`, written to `out` (.safetensors).

    `scale` multiplies lora_B, so the LoRA visibly changes the tiny model's noise."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    from genai_tui.engine.images.diffusion_load import quiet_libraries

    quiet_libraries()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(sd_dir / "unet", local_files_only=True)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))  # fmt: skip
    state = get_peft_model_state_dict(unet)
    state = {k: v * scale if "lora_B" in k else v for k, v in state.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        out.parent, unet_lora_layers=convert_state_dict_to_diffusers(state),
        weight_name=out.name, safe_serialization=True,
    )  # fmt: skip
    if metadata:
        from safetensors.torch import load_file, save_file

        save_file(load_file(out), out, metadata={"format": "pt", **metadata})
    return out


def write_kohya_lora(out: Path, metadata: dict[str, str] | None = None, width: int = 2048) -> Path:
    """A kohya-layout LoRA file whose UNet cross-attention reads a `width`-wide context
    (768: SD 1.x, 1024: SD 2.x, 2048: SDXL)."""
    import numpy as np
    from safetensors.numpy import save_file

    block = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {
        f"{block}.lora_down.weight": np.full((4, width), 0.01, dtype=np.float16),
        f"{block}.lora_up.weight": np.full((640, 4), 0.01, dtype=np.float16),
        f"{block}.alpha": np.array(4.0, dtype=np.float16),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    return out
