"""`genai-tui gen --from PNG`: a PNG's parameters (ours, A1111's, ComfyUI's) as the start,
the flags given on the command line over them; on the tiny real SD pipeline."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from genai_tui.engine.images.png_params import read_params


def pixels(path: Path) -> bytes:
    with Image.open(path) as im:
        return im.tobytes()


def test_from_makes_the_same_picture_and_flags_win(gen) -> None:
    code, out, err = gen("a red barn", "-m", "tiny-sd", "-n", "1", "--size", "64x96",
                         "--steps", "2", "--seed", "31", "--negative", "fog",
                         "--scheduler", "DDIM")  # fmt: skip
    assert code == 0, err
    first = Path(out.strip())
    # No prompt, no model: both from the PNG, and the same pixels again.
    code, out, err = gen("--from", str(first))
    assert code == 0, err
    again = Path(out.strip())
    p = read_params(again)
    assert p is not None and again != first
    assert (p.prompt, p.negative_prompt, p.seed, p.steps, p.sampler, p.model) == (
        "a red barn", "fog", 31, 2, "DDIM", "tiny-sd")
    assert (p.width, p.height) == (64, 96) and pixels(again) == pixels(first)
    # Flags given win over the PNG's values; the rest still comes from it.
    code, out, err = gen("a blue barn", "--from", str(first), "--seed", "5", "--steps", "1",
                         "--negative", "", "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["seeds"] == [5] and data["request"]["steps"] == 1
    assert data["request"]["prompt"] == "a blue barn" and data["request"]["negative_prompt"] == ""
    assert (data["request"]["width"], data["request"]["height"]) == (64, 96)
    assert data["request"]["scheduler"] == "DDIMScheduler"


def test_from_a_comfyui_png_and_bad_files(gen, tmp_path: Path) -> None:
    comfy = tmp_path / "ComfyUI_00001_.png"
    info = PngInfo()
    info.add_text("prompt", json.dumps({
        "3": {"class_type": "KSampler", "inputs": {"seed": 12, "steps": 2, "cfg": 6.5,
              "sampler_name": "euler", "positive": ["6", 0], "negative": ["7", 0],
              "latent_image": ["5", 0], "model": ["4", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 96, "height": 64}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a comfy cat"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "dogs"}},
    }))  # fmt: skip
    Image.new("RGB", (96, 64)).save(comfy, pnginfo=info)
    code, out, err = gen("--from", str(comfy), "--json")
    assert code == 0, err
    assert "The PNG's model sdxl is not here: using the default image model" in err
    data = json.loads(out)
    r = data["request"]
    assert data["seeds"] == [12] and data["model"] == "tiny-sd"
    assert (r["prompt"], r["negative_prompt"], r["width"], r["height"], r["guidance"],
            r["scheduler"]) == ("a comfy cat", "dogs", 96, 64, 6.5, "EulerDiscreteScheduler")
    # A PNG without parameters, a broken ComfyUI chunk, a missing file: messages, no run.
    plain = tmp_path / "plain.png"
    Image.new("RGB", (64, 64)).save(plain)
    broken = tmp_path / "broken.png"
    info = PngInfo()
    info.add_text("prompt", '{"3": {"class_type": ')
    Image.new("RGB", (64, 64)).save(broken, pnginfo=info)
    for path, message in ((plain, "holds no generation parameters"),
                          (broken, "not valid JSON"),
                          (tmp_path / "gone.png", "Cannot read")):  # fmt: skip
        code, out, err = gen("--from", str(path))
        assert code == 1 and out == "" and message in err and "Traceback" not in err
    # Without --from a prompt is still needed.
    code, out, err = gen("--steps", "1")
    assert code == 2 and "The prompt is empty" in err
