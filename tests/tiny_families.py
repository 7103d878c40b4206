"""Tiny SDXL, SD3 and Flux pipelines built from configs with random weights, offline.

The real diffusers classes of each family (StableDiffusionXLPipeline with two CLIP
encoders; StableDiffusion3Pipeline with two CLIPs and a T5; FluxPipeline with a CLIP and
a T5), their VAEs scaling by 8 as the real ones do (16 latent channels for SD3 and
Flux), tokenizers made here from a small vocabulary (CLIP's BPE as tests/tiny_sd.py
makes it; T5's Unigram from a list of pieces). Saved with `save_pretrained`, so the
engine loads them as it loads a downloaded model. A few MB each; their output is noise.

`write_sdxl_single_file` writes the tiny SDXL in the original (A1111 / ComfyUI)
single-file key layout, inverting diffusers' own conversion of those keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tiny_sd import _vocab

_VAE_BLOCKS = (16, 16, 32, 32)  # four blocks: the VAE scales by 8, as the real ones do


def _clip_config(vocab_size: int, hidden: int = 32, **more: Any) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=hidden, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=vocab_size, max_position_embeddings=77, hidden_act="gelu", **more,
    )  # fmt: skip


def _clip_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    vocab, merges = _vocab()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def _t5(d_model: int) -> tuple[Any, Any]:
    """A tiny T5 encoder and a T5 (Unigram) tokenizer on a small local vocabulary."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(chr(c), -3.0) for c in range(33, 127)]
    pieces += [("▁" + chr(c), -2.5) for c in range(97, 123)]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)
    config = T5Config(
        vocab_size=len(pieces), d_model=d_model, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    return T5EncoderModel(config), tokenizer


def _vae(latent_channels: int, **more: Any) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=_VAE_BLOCKS, in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=latent_channels, layers_per_block=1, norm_num_groups=8, sample_size=64,
        **more,
    )  # fmt: skip


def _save(pipe: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    return folder


def build_tiny_sdxl(folder: Path, *, seed: int = 0) -> Path:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from genai_tui.engine.images.diffusion_load import quiet_libraries

    quiet_libraries()
    torch.manual_seed(seed)
    # SDXL's own layout (three levels, two layers each, attention in the lower two), so
    # the original single-file key names exist for it; tiny widths.
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32, 32), layers_per_block=2, sample_size=8, in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1, 1), projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=32 + 48, norm_num_groups=16,
    )  # fmt: skip
    vocab_size = len(_vocab()[0])
    pipe = StableDiffusionXLPipeline(
        unet=unet,
        vae=_vae(4),
        text_encoder=CLIPTextModel(_clip_config(vocab_size)),
        # CLIP-L and OpenCLIP-G differ in width, as in SDXL (768, 1280): a single file's
        # loader tells them apart by it.
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(vocab_size, 48, projection_dim=32)),
        tokenizer=_clip_tokenizer(),
        tokenizer_2=_clip_tokenizer(),
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
            timestep_spacing="leading",
        ),  # fmt: skip
        force_zeros_for_empty_prompt=True,
    )
    return _save(pipe, folder)


def build_tiny_sd3(folder: Path, *, seed: int = 0) -> Path:
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection

    from genai_tui.engine.images.diffusion_load import quiet_libraries

    quiet_libraries()
    torch.manual_seed(seed)
    vocab_size = len(_vocab()[0])
    t5, t5_tokenizer = _t5(64)  # the two CLIPs' 32 + 32 features are padded to T5's width
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=1,
        attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32,
        joint_attention_dim=64, pooled_projection_dim=64, pos_embed_max_size=16,
    )  # fmt: skip
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        vae=_vae(16, use_quant_conv=False, use_post_quant_conv=False,
                 shift_factor=0.0609, scaling_factor=1.5305),  # fmt: skip
        text_encoder=CLIPTextModelWithProjection(_clip_config(vocab_size, projection_dim=32)),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(vocab_size, projection_dim=32)),
        text_encoder_3=t5,
        tokenizer=_clip_tokenizer(),
        tokenizer_2=_clip_tokenizer(),
        tokenizer_3=t5_tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )
    return _save(pipe, folder)


def build_tiny_flux(folder: Path, *, seed: int = 0) -> Path:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    from genai_tui.engine.images.diffusion_load import quiet_libraries

    quiet_libraries()
    torch.manual_seed(seed)
    vocab_size = len(_vocab()[0])
    t5, t5_tokenizer = _t5(32)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=(4, 4, 8),
    )  # fmt: skip
    pipe = FluxPipeline(
        transformer=transformer,
        vae=_vae(16, use_quant_conv=False, use_post_quant_conv=False,
                 shift_factor=0.1159, scaling_factor=0.3611),  # fmt: skip
        text_encoder=CLIPTextModel(_clip_config(vocab_size, projection_dim=32)),
        text_encoder_2=t5,
        tokenizer=_clip_tokenizer(),
        tokenizer_2=t5_tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
            base_image_seq_len=256, max_image_seq_len=4096,
        ),  # fmt: skip
    )
    return _save(pipe, folder)


# -- SDXL in the original single-file layout ------------------------------------------
# diffusers' own map (scripts/convert_diffusers_to_original_sdxl.py in its repository),
# pairs of (original, diffusers) name parts; from_single_file applies the reverse.


def _unet_parts() -> list[tuple[str, str]]:
    parts = []
    for i in range(3):
        for j in range(2):
            parts.append((f"input_blocks.{3 * i + j + 1}.0.", f"down_blocks.{i}.resnets.{j}."))
            if i > 0:
                parts.append((f"input_blocks.{3 * i + j + 1}.1.",
                              f"down_blocks.{i}.attentions.{j}."))  # fmt: skip
        for j in range(3):
            parts.append((f"output_blocks.{3 * i + j}.0.", f"up_blocks.{i}.resnets.{j}."))
            if i < 2:
                parts.append((f"output_blocks.{3 * i + j}.1.", f"up_blocks.{i}.attentions.{j}."))
        parts.append((f"input_blocks.{3 * (i + 1)}.0.op.", f"down_blocks.{i}.downsamplers.0.conv."))
        parts.append((f"output_blocks.{3 * i + 2}.{1 if i == 0 else 2}.",
                      f"up_blocks.{i}.upsamplers.0."))  # fmt: skip
    parts.append(("output_blocks.2.2.conv.", "output_blocks.2.1.conv."))
    parts.append(("middle_block.1.", "mid_block.attentions.0."))
    parts += [(f"middle_block.{2 * j}.", f"mid_block.resnets.{j}.") for j in range(2)]
    return parts


_UNET_NAMES = {
    "time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
    "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
    "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
}  # fmt: skip
_RESNET = [("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"),
           ("out_layers.3", "conv2"), ("emb_layers.1", "time_emb_proj"),
           ("skip_connection", "conv_shortcut")]  # fmt: skip


def _unet_key(key: str) -> str:
    for hf, sd in _UNET_NAMES.items():
        if key.startswith(hf):
            return sd + key[len(hf):]
    if "resnets" in key:
        for sd, hf in _RESNET:
            key = key.replace(hf, sd)
    for sd, hf in _unet_parts():
        key = key.replace(hf, sd)
    return key


def _vae_key(key: str) -> str:
    parts = [("nin_shortcut", "conv_shortcut"), ("norm_out", "conv_norm_out"),
             ("mid.attn_1.", "mid_block.attentions.0.")]  # fmt: skip
    for i in range(4):
        parts += [(f"encoder.down.{i}.block.{j}.", f"encoder.down_blocks.{i}.resnets.{j}.")
                  for j in range(2)]  # fmt: skip
        if i < 3:
            parts.append((f"down.{i}.downsample.", f"down_blocks.{i}.downsamplers.0."))
            parts.append((f"up.{3 - i}.upsample.", f"up_blocks.{i}.upsamplers.0."))
        parts += [(f"decoder.up.{3 - i}.block.{j}.", f"decoder.up_blocks.{i}.resnets.{j}.")
                  for j in range(3)]  # fmt: skip
    parts += [(f"mid.block_{i + 1}.", f"mid_block.resnets.{i}.") for i in range(2)]
    for sd, hf in parts:
        key = key.replace(hf, sd)
    if "attentions" in key or "attn_1" in key:
        for sd, hf in (("norm.", "group_norm."), ("q.", "to_q."), ("k.", "to_k."),
                       ("v.", "to_v."), ("proj_out.", "to_out.0.")):  # fmt: skip
            key = key.replace(hf, sd)
    return key


def _openclip(state: dict[str, Any]) -> dict[str, Any]:
    import torch

    names = [("text_model.encoder.layers.", "transformer.resblocks."), ("layer_norm1", "ln_1"),
             ("layer_norm2", "ln_2"), (".fc1.", ".c_fc."), (".fc2.", ".c_proj."),
             (".self_attn", ".attn"), ("text_model.final_layer_norm.", "ln_final."),
             ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
             ("text_model.embeddings.position_embedding.weight",
              "positional_embedding")]  # fmt: skip
    out: dict[str, Any] = {}
    qkv: dict[str, dict[str, list[Any]]] = {}
    for key, value in state.items():
        if key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
            continue
        for hf, sd in names:
            key = key.replace(hf, sd)
        if (m := re.match(r"(.*)\.([qkv])_proj\.(weight|bias)$", key)) is not None:
            slots = qkv.setdefault(m.group(1), {}).setdefault(m.group(3), [None] * 3)
            slots["qkv".index(m.group(2))] = value
            continue
        out[key] = value
    for prefix, kinds in qkv.items():
        for kind, slots in kinds.items():
            out[f"{prefix}.in_proj_{kind}"] = torch.cat(slots)
    return out


def write_sdxl_single_file(folder: Path, target: Path) -> Path:
    """The SDXL pipeline in `folder` as one .safetensors in the original layout (UNet under
    model.diffusion_model, VAE under first_stage_model, CLIP-L and OpenCLIP-G under
    conditioner.embedders.0 / .1), as A1111 and ComfyUI users have their checkpoints."""
    from safetensors.torch import load_file, save_file

    def weights(sub: str) -> dict[str, Any]:
        return load_file(str(next((folder / sub).glob("*.safetensors"))))

    state: dict[str, Any] = {}
    for key, value in weights("unet").items():
        state["model.diffusion_model." + _unet_key(key)] = value
    for key, value in weights("vae").items():
        new = _vae_key(key)
        if "mid.attn_1." in new and new.endswith(("q.weight", "k.weight", "v.weight",
                                                  "proj_out.weight")):  # fmt: skip
            value = value.reshape(*value.shape, 1, 1)  # linear -> 1x1 conv
        state["first_stage_model." + new] = value
    for key, value in weights("text_encoder").items():  # transformers 5 saves no "text_model."
        key = key if key.startswith("text_model.") else "text_model." + key
        state["conditioner.embedders.0.transformer." + key] = value
    for key, value in _openclip(weights("text_encoder_2")).items():
        state["conditioner.embedders.1.model." + key] = value
    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    return target


if __name__ == "__main__":
    import sys

    builders = {"sdxl": build_tiny_sdxl, "sd3": build_tiny_sd3, "flux": build_tiny_flux}
    print(builders[sys.argv[1]](Path(sys.argv[2])))
