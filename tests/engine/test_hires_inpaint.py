"""Hires fix, upscaling and inpainting on the tiny real SD pipeline and tiny real ESRGAN
models (random weights, loaded through spandrel as a downloaded one would be)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genai_tui.engine.core.errors import ImageRequestError, ModelNotFoundError, PipelineError
from genai_tui.engine.core.events import ImageReady, PreviewImage, StepProgress
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.diffusion_params import ImageRequest, validate
from genai_tui.engine.images.gallery import Gallery
from genai_tui.engine.images.inpaint import inpaint_note
from genai_tui.engine.images.png_params import read_params


@pytest.fixture(autouse=True)
def every_step(monkeypatch) -> None:
    from genai_tui.engine.images import diffusion

    monkeypatch.setattr(diffusion, "EVENTS_EVERY_S", 0.0)


@pytest.fixture(scope="module")
def tiny_inpaint_dir(tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SD pipeline with a 9-channel inpainting UNet (latents + mask + masked
    image), saved as a StableDiffusionInpaintPipeline folder."""
    import torch
    from diffusers import (
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    base = StableDiffusionPipeline.from_pretrained(tiny_sd_dir, local_files_only=True)
    torch.manual_seed(1)
    unet = UNet2DConditionModel.from_config({**base.unet.config, "in_channels": 9})
    pipe = StableDiffusionInpaintPipeline(
        unet=unet, vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer,
        scheduler=base.scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-inpaint") / "tiny-inpaint"
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def esrgan_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("spandrel", reason="the upscale extra (spandrel) is not installed")
    from tiny_esrgan import build_compact_safetensors, build_rrdb_pth

    root = tmp_path_factory.mktemp("esrgan")
    return {"pth": build_rrdb_pth(root / "tiny-rrdb-x2.pth"),
            "safetensors": build_compact_safetensors(root / "tiny-compact-x2.safetensors")}


@pytest.fixture
async def engine(settings, tiny_sd_dir, tiny_inpaint_dir):
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny-sd").symlink_to(tiny_sd_dir)
    (folder / "tiny-inpaint").symlink_to(tiny_inpaint_dir)
    eng = Engine(settings.model_copy(update={"image": settings.image.model_copy(
        update={"threads": 1, "preview_every": 1, "default_model": "tiny-sd"})}))  # fmt: skip
    yield eng
    await eng.aclose()


async def run(engine: Engine, request: ImageRequest, model: str | None = None) -> list:
    return [e async for e in engine.images.generate(request, model)]


def ready(events: list) -> list[ImageReady]:
    return [e for e in events if isinstance(e, ImageReady)]


def rgb(image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


async def test_hires_fix_makes_the_upscaled_size_counts_its_steps_and_recalls(
    engine: Engine,
) -> None:
    base = engine.images.request_defaults("a red barn", width=64, height=64, steps=4,
                                          variations=1, seed=7)  # fmt: skip
    plain = ready(await run(engine, base))[0]
    events = await run(engine, base.replace(hires_scale=2, hires_strength=0.5))
    made = ready(events)[0]
    assert made.image.size == (128, 128)
    # Not only enlarged: the second pass repainted the Lanczos upscale of the first.
    lanczos = plain.image.resize((128, 128), Image.Resampling.LANCZOS)
    assert np.abs(rgb(made.image) - rgb(lanczos)).mean() > 2
    # Progress counts both passes (4 steps + 4 x 0.5), previews come from both.
    steps = [(e.step, e.total) for e in events if isinstance(e, StepProgress)]
    assert steps == [(n, 6) for n in range(1, 7)]
    previews = [e for e in events if isinstance(e, PreviewImage)]
    assert {p.image.size for p in previews} >= {(8, 8), (16, 16)}  # 64 and 128 px latents
    # The PNG says it as A1111 does: Size is the first pass's.
    params = read_params(made.path)
    assert (params.width, params.height, params.strength) == (64, 64, 0.5)
    assert params.extra["Hires upscale"] == "2" and params.extra["Hires upscaler"] == "Lanczos"
    row = engine.images.gallery.image(made.image_id)
    assert (row.width, row.height) == (128, 128)
    for again in (Gallery.request_from_file(made.path), row.request()):
        assert (again.width, again.height, again.hires_scale, again.hires_strength) == (
            64, 64, 2.0, 0.5)  # fmt: skip
    # Recalled, it makes the same picture.
    redo = ready(await run(engine, Gallery.request_from_file(made.path)))[0]
    assert np.array_equal(rgb(redo.image), rgb(made.image))


def test_hires_fix_checks_say_the_largest_factor(tmp_path: Path) -> None:
    big = ImageRequest("x", width=2048, height=2048, hires_scale=2)
    with pytest.raises(ImageRequestError) as caught:
        validate(big)
    assert "largest factor for 2048x2048 is ×1.41" in caught.value.hint
    for bad, words in (({"hires_scale": 1}, "not above 1 and up to 4"),
                       ({"hires_scale": 2, "hires_strength": 0}, "strength 0 is outside"),
                       ({"hires_scale": 2, "hires_steps": 1, "hires_strength": 0.5},
                        "leaves no step")):  # fmt: skip
        with pytest.raises(ImageRequestError, match=words):
            validate(ImageRequest("x", width=64, height=64, **bad))
    validate(ImageRequest("x", width=512, height=512, hires_scale=2))  # 1024x1024: fine


async def test_upscaler_models_are_listed_and_run_through_spandrel(
    engine: Engine, esrgan_files: dict[str, Path], tmp_path: Path
) -> None:
    from genai_tui.engine.models.inventory import scan_for

    esrgan = engine.settings.models_path / "ESRGAN"
    esrgan.mkdir()
    for f in esrgan_files.values():
        (esrgan / f.name).symlink_to(f)
    (esrgan / "notes.pth").write_bytes(b"not a model")  # not listed
    kinds = {e.name: e.kind for e in scan_for(engine.settings)}
    assert kinds["ESRGAN/tiny-rrdb-x2.pth"] == "upscaler"
    assert kinds["ESRGAN/tiny-compact-x2.safetensors"] == "upscaler"
    assert kinds["tiny-sd"] == "diffusers" and "ESRGAN/notes.pth" not in kinds
    source = tmp_path / "pic.png"
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), np.uint8))
    picture.save(source)
    lanczos = rgb(picture.resize((80, 96), Image.Resampling.LANCZOS))
    for name in ("tiny-compact-x2", "tiny-rrdb-x2"):
        done = await engine.images.upscale(source, 2, name)
        assert (done.width, done.height, done.upscaler, done.note) == (80, 96, name, "")
        with Image.open(done.path) as out:
            assert out.size == (80, 96)
            assert np.abs(rgb(out) - lanczos).mean() > 5  # the model drew it, not Lanczos
        assert read_params(done.path).extra["Postprocess upscaler"] == name
    # The hires fix takes the first model found when none is named.
    request = engine.images.request_defaults("x", width=64, height=64, steps=2, variations=1,
                                             hires_scale=1.5)  # fmt: skip
    made = ready(await run(engine, request))[0]
    assert made.image.size == (96, 96)
    assert read_params(made.path).extra["Hires upscaler"] == "tiny-compact-x2"
    with pytest.raises(ModelNotFoundError, match="No upscaler model named 'nope'"):
        await engine.images.upscale(source, 2, "nope")


async def test_upscaling_without_a_model_uses_lanczos_and_says_so(engine: Engine) -> None:
    request = engine.images.request_defaults("a boat", width=64, height=64, steps=2,
                                             variations=1, seed=3)  # fmt: skip
    made = ready(await run(engine, request))[0]
    done = await engine.images.upscale(made.image_id, 2)
    assert done.upscaler == "Lanczos" and (done.width, done.height) == (128, 128)
    assert done.note.startswith("upscaled with Lanczos: no upscaler model found; put an "
                                "ESRGAN .pth/.safetensors in")  # fmt: skip
    assert done.note in done.message
    with Image.open(made.path) as src, Image.open(done.path) as out:
        expected = src.convert("RGB").resize((128, 128), Image.Resampling.LANCZOS)
        assert np.array_equal(rgb(out), rgb(expected))
    params = read_params(done.path)  # the source's parameters, and the upscale
    assert params.prompt == "a boat" and params.seed == 3
    assert params.extra["Postprocess upscale by"] == "2"
    assert engine.images.gallery.image(done.image_id).width == 128
    with pytest.raises(ImageRequestError, match="outside 1..8"):
        await engine.images.upscale(made.image_id, 100)
    big = made.path.with_name("big.png")
    Image.new("RGB", (1024, 1024)).save(big)
    with pytest.raises(ImageRequestError) as caught:
        await engine.images.upscale(big, 4)
    assert "The largest factor for 1024x1024 is ×2.82" in caught.value.hint


def _init_and_mask(tmp_path: Path) -> tuple[Path, Path]:
    """A 64x64 picture with detail, and a mask at another size, white on the right half."""
    init = tmp_path / "init.png"
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(ramp, (64, 1)), np.tile(ramp[:, None], (1, 64)),
                              np.full((64, 64), 90, np.uint8)], -1)).save(init)  # fmt: skip
    mask = tmp_path / "mask.png"
    black = Image.new("L", (32, 32), 0)
    black.paste(255, (16, 0, 32, 32))
    black.save(mask)
    return init, mask


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-inpaint"])
async def test_inpainting_keeps_the_unmasked_pixels(engine: Engine, tmp_path: Path,
                                                    model: str) -> None:  # fmt: skip
    init, mask = _init_and_mask(tmp_path)
    request = engine.images.request_defaults("a cat", width=64, height=64, steps=4,
                                             variations=1, seed=5, init_image=init,
                                             mask_image=mask, strength=0.9)  # fmt: skip
    events = await run(engine, request, model)
    made = ready(events)[0]
    assert made.image.size == (64, 64)
    with Image.open(init) as im:
        original = rgb(im)
    out = rgb(made.image)
    # Left of the mask's blurred edge (x < 32 - 3 x blur): the init's pixels, exactly.
    assert np.array_equal(out[:, :20], original[:, :20])
    assert np.abs(out[:, 40:] - original[:, 40:]).mean() > 10  # the white half repainted
    params = read_params(made.path)
    assert params.strength == 0.9 and params.extra["Mask blur"] == "4"
    assert params.extra["Inpaint area"] == "Whole picture" and params.extra["Mask"] == "mask.png"
    assert engine.images.gallery.image(made.image_id).request().mask_image == mask
    note = inpaint_note(engine.images.model)
    assert ("not an inpainting model" in note) == (model == "tiny-sd")
    unet = engine.images.model._pipe.unet
    assert unet.config.in_channels == (9 if model == "tiny-inpaint" else 4)


async def test_inpainting_mistakes_say_what_to_do(engine: Engine, tmp_path: Path) -> None:
    init, mask = _init_and_mask(tmp_path)
    with pytest.raises(ImageRequestError, match="Inpainting needs an init image"):
        validate(ImageRequest("x", mask_image=mask))
    with pytest.raises(ImageRequestError, match="does not exist"):
        validate(ImageRequest("x", init_image=init, mask_image=tmp_path / "nope.png"))
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    request = engine.images.request_defaults("x", width=64, height=64, steps=2, variations=1,
                                             init_image=init, mask_image=broken)  # fmt: skip
    with pytest.raises(PipelineError, match="Cannot read the mask") as caught:
        await run(engine, request)
    assert "white where the picture is repainted" in caught.value.hint
    assert json.dumps(request.to_json())  # the queue persists it


async def test_an_upscaler_model_without_spandrel_falls_back_to_lanczos_and_says_why(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """spandrel is an optional extra (its torchvision must match torch): a box with an
    upscaler model but without it still upscales, and the note says what to install."""
    import torch
    from safetensors.torch import save_file

    from genai_tui.engine.images import upscale

    folder = engine.settings.models_path / "ESRGAN"
    folder.mkdir(parents=True)
    save_file({"body.0.weight": torch.zeros(4, 3, 3, 3), "body.1.weight": torch.zeros(4)},
              str(folder / "compact-x2.safetensors"))  # fmt: skip
    monkeypatch.setattr(upscale, "spandrel_installed", lambda: False)
    chosen = upscale.pick_upscaler(engine.settings)
    assert chosen.name == "Lanczos" and chosen.path is None
    assert "compact-x2.safetensors needs the spandrel package" in chosen.note
    assert "genai-tui[upscale]" in chosen.note
