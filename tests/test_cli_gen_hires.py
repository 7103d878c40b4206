"""`genai-tui gen --upscale / --mask`: hires fix, plain upscaling and inpainting headless,
on the tiny real SD pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genai_tui.engine.images.png_params import read_params


def test_upscale_is_a_hires_fix(gen) -> None:
    code, out, err = gen("a lighthouse", "--size", "64", "--steps", "2", "-n", "1", "--seed",
                         "4", "--upscale", "2", "--hires-strength", "0.5", "--hires-steps",
                         "4", "--upscaler", "Lanczos", "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    path = Path(data["paths"][0])
    with Image.open(path) as im:
        assert im.size == (128, 128)
    assert data["request"]["hires_scale"] == 2 and data["request"]["hires_steps"] == 4
    params = read_params(path)
    assert (params.width, params.strength) == (64, 0.5)
    assert params.extra["Hires upscale"] == "2" and params.extra["Hires steps"] == "4"
    # --from the PNG brings the hires fix back.
    code, out, err = gen("--from", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["request"]["hires_scale"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (("--mask", "mask.png"), "Inpainting needs an init image"),
    (("--upscale", "9"), "The hires scale 9 is not above 1 and up to 4"),
    (("--upscale", "2", "--upscaler", "nope"), "No upscaler model named 'nope'"),
])  # fmt: skip
def test_mistakes_exit_with_a_message(gen, tmp_path: Path, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    Image.new("L", (64, 64), 255).save(tmp_path / "mask.png")
    code, out, err = gen("x", "--size", "64", "--steps", "2", "-n", "1", *args)
    assert code == (1 if "nope" in args else 2) and out == ""
    assert message in err


def test_mask_inpaints_the_init(gen, tmp_path: Path) -> None:
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (30, 160, 60)).save(init)
    white_right = Image.new("L", (64, 64), 0)
    white_right.paste(255, (32, 0, 64, 64))
    white_right.save(mask)
    code, out, err = gen("a red door", "--init", str(init), "--mask", str(mask), "--steps",
                         "3", "--strength", "1", "-n", "1")  # fmt: skip
    assert code == 0, err
    assert "tiny-sd is not an inpainting model" in err
    path = Path(out.strip())
    with Image.open(path) as im:
        out_px = np.asarray(im.convert("RGB")).astype(int)
    assert (out_px[:, :20] == (30, 160, 60)).all()  # kept where the mask is black
    assert np.abs(out_px[:, 44:] - (30, 160, 60)).mean() > 10
    assert read_params(path).extra["Mask blur"] == "4"


def test_init_with_strength_0_only_upscales(gen, tmp_path: Path) -> None:
    pic = tmp_path / "pic.png"
    Image.new("RGB", (50, 30), (200, 10, 10)).save(pic)
    code, out, err = gen("--init", str(pic), "--upscale", "2", "--strength", "0")
    assert code == 0, err
    path = Path(out.strip())
    with Image.open(path) as im:
        assert im.size == (100, 60)
    assert "upscaled with Lanczos: no upscaler model found" in err
    assert read_params(path).extra["Postprocess upscale by"] == "2"
