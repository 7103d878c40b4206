"""Recall from a ComfyUI PNG: the `prompt` graph ComfyUI's SaveImage writes as a tEXt chunk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.images.gallery import Gallery

# ComfyUI's default text-to-image graph, as its SaveImage writes it (API format).
GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 8566257, "steps": 20, "cfg": 8.0, "sampler_name": "euler_ancestral",
        "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple",
          "inputs": {"ckpt_name": "sd15\\v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768,
                                                       "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {
        "text": "beautiful scenery, nature, glass bottle, purple galaxy", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark",
                                                     "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI",
                                                "images": ["8", 0]}},
}  # fmt: skip


def comfy_png(path: Path, prompt: str, workflow: str = '{"nodes": []}') -> Path:
    info = PngInfo()
    info.add_text("prompt", prompt)  # what ComfyUI's SaveImage writes
    info.add_text("workflow", workflow)
    Image.new("RGB", (64, 96), (1, 2, 3)).save(path, pnginfo=info)
    return path


def test_a_comfyui_png_recalls_its_sampler_prompts_and_size(tmp_path: Path) -> None:
    png = comfy_png(tmp_path / "ComfyUI_00001_.png", json.dumps(GRAPH))
    request = Gallery.request_from_file(png)
    assert request.prompt == "beautiful scenery, nature, glass bottle, purple galaxy"
    assert request.negative_prompt == "text, watermark"
    assert (request.seed, request.steps, request.guidance) == (8566257, 20, 8.0)
    assert (request.width, request.height) == (512, 768)
    assert request.scheduler == "EulerAncestralDiscreteScheduler"
    assert request.variations == 1 and request.seed_mode == "fixed"
    params = Gallery.params_from_file(png)
    assert params.model == "v1-5-pruned-emaonly" and params.extra["Source"] == "ComfyUI"


def test_linked_text_advanced_sampler_and_a_64_bit_seed(tmp_path: Path) -> None:
    graph = json.loads(json.dumps(GRAPH))
    graph["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **{k: v for k, v in GRAPH["3"]["inputs"].items() if k not in ("seed", "denoise")},
        "noise_seed": 2**40 + 5, "sampler_name": "dpmpp_2m"}}  # fmt: skip
    graph["6"]["inputs"]["text"] = ["10", 0]  # a text primitive feeds the prompt
    graph["10"] = {"class_type": "PrimitiveString", "inputs": {"value": "a lighthouse"}}
    params = Gallery.params_from_file(comfy_png(tmp_path / "c.png", json.dumps(graph)))
    assert params.prompt == "a lighthouse" and params.sampler == "DPM++ 2M"
    assert params.seed == 5 and params.extra["ComfyUI seed"] == str(2**40 + 5)


@pytest.mark.parametrize(("text", "message"), [
    ('{"3": {"class_type": "KSampler", "inputs": {"seed": 1,', "not valid JSON"),
    ('{"1": {"class_type": "LoadImage", "inputs": {}}}', "no KSampler node"),
    ("[1, 2, 3]", "not a workflow graph"),
])  # fmt: skip
def test_a_broken_comfyui_chunk_is_a_clear_message(tmp_path: Path, text: str,
                                                   message: str) -> None:  # fmt: skip
    png = comfy_png(tmp_path / "broken.png", text)
    with pytest.raises(GenaiError, match=message) as caught:
        Gallery.request_from_file(png)
    assert caught.value.hint  # says what to do next


def test_an_a1111_chunk_wins_over_a_comfyui_one(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("prompt", json.dumps(GRAPH))
    info.add_text("parameters", "a cat\nSteps: 5, Sampler: Euler, CFG scale: 3, Seed: 9, "
                                "Size: 64x64")  # fmt: skip
    png = tmp_path / "both.png"
    Image.new("RGB", (64, 64)).save(png, pnginfo=info)
    request = Gallery.request_from_file(png)
    assert (request.prompt, request.seed, request.steps) == ("a cat", 9, 5)
