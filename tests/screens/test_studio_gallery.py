"""The studio's pictures as a start (Ctrl+B: image-to-image from the selected picture;
Ctrl+F: recall any PNG's parameters) and its settings that stay, per model, across a
restart. Pilot at 80x24 on the tiny real SD pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from textual.widgets import Input

from genai_tui.engine.images.diffusion_params import ImageRequest
from genai_tui.engine.images.png_params import read_params
from genai_tui.widgets.gallery_list import GalleryList

from .conftest import studio_maker, wait_until

SIZE = (80, 24)


pytestmark = pytest.mark.usefixtures("known_cell_size")


@pytest.fixture
def studio_app(settings, tiny_sd_dir):
    folder = settings.models_path / "tiny-sd-b"  # a second model: its own folder, the same files
    folder.mkdir(parents=True)
    for part in tiny_sd_dir.iterdir():
        (folder / part.name).symlink_to(part)
    return studio_maker(settings, tiny_sd_dir, steps=2, variations=1, default_model="tiny-sd")


async def open_studio(pilot) -> None:
    await pilot.press("f3")
    await wait_until(pilot, lambda: pilot.app.screen.__class__.__name__ == "StudioScreen")
    await wait_until(pilot, lambda: pilot.app.screen.model is not None)
    await wait_until(pilot, lambda: len(pilot.app.screen.models) == 2)


def status(app) -> str:
    return str(app.screen.query_one("#studio-status").render())


def params_line(app) -> str:
    return str(app.screen.query_one("#params").render())


async def generate(pilot, app, count: int) -> None:
    await pilot.press("ctrl+g")
    await wait_until(pilot, lambda: app.engine.images.gallery.count() == count
                     and not app.engine.images.generating)  # fmt: skip
    await pilot.pause(0.05)


async def answer(pilot, key: str, text: str) -> None:
    """Open a parameter's dialog by its key, type `text`, Enter."""
    await pilot.press(key)
    await pilot.pause(0.05)
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await pilot.pause(0.05)


async def test_ctrl_b_sends_the_selected_picture_to_image_to_image(studio_app) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen, gallery = app.screen, app.engine.images.gallery
        screen.query_one("#prompt", Input).value = "a pier at dawn"
        await generate(pilot, app, 1)
        first = gallery.images()[0]
        await pilot.press("ctrl+t")  # the gallery tab: pick the picture there
        await wait_until(pilot, lambda: len(screen.query_one(GalleryList).images) == 1)
        await answer(pilot, "alt+s", "96x64")  # the form's size: the picture's replaces it
        await pilot.press("ctrl+b")
        await pilot.pause(0.05)
        assert screen.request.init_image == first.path
        assert (screen.request.width, screen.request.height) == (64, 64)
        assert f"img2img {first.path.name} @ 0.75" in params_line(app)
        assert "Image-to-image from" in status(app)
        await generate(pilot, app, 2)
        second = gallery.images()[0]
        assert second.init_image == str(first.path) and second.strength == 0.75
        png = read_params(second.path)
        assert png is not None and png.strength == 0.75 and png.prompt == "a pier at dawn"
        # Alt+B turns it off and gives the form its size back; Ctrl+B twice: on, off.
        await pilot.press("alt+b")
        await pilot.pause(0.05)
        assert screen.request.init_image is None and "img2img" not in params_line(app)
        assert (screen.request.width, screen.request.height) == (96, 64)
        await pilot.press("up")  # the older picture
        await pilot.press("ctrl+b")
        await pilot.pause(0.05)
        assert screen.request.init_image == first.path
        await pilot.press("ctrl+b")
        await pilot.pause(0.05)
        assert screen.request.init_image is None


def a1111_png(path: Path) -> Path:
    info = PngInfo()
    info.add_text("parameters", "a castle on a hill\nNegative prompt: rain\nSteps: 2, "
                  "Sampler: DDIM, CFG scale: 5.5, Seed: 4242, Size: 64x64, Model: tiny-sd-b")
    Image.new("RGB", (64, 64), (9, 9, 9)).save(path, pnginfo=info)
    return path


async def test_ctrl_f_recalls_a_png_from_another_tool(studio_app, tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    a1111 = a1111_png(folder / "a1111-castle.png")
    comfy = folder / "comfy.png"
    info = PngInfo()
    info.add_text("prompt", json.dumps({
        "3": {"class_type": "KSampler", "inputs": {"seed": 77, "steps": 3, "cfg": 6,
              "sampler_name": "euler", "positive": ["6", 0], "negative": ["7", 0],
              "latent_image": ["5", 0]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 96}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a comfy cat"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "dogs"}},
    }))  # fmt: skip
    Image.new("RGB", (64, 96)).save(comfy, pnginfo=info)
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        await pilot.press("ctrl+f")
        await pilot.pause(0.05)
        box = app.screen.query_one(Input)
        box.value = str(folder / "a1")
        await pilot.press("tab")  # completes the name
        assert box.value == str(a1111)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.request.seed == 4242)
        assert screen.query_one("#prompt", Input).value == "a castle on a hill"
        assert screen.query_one("#negative", Input).value == "rain"
        r = screen.request
        assert (r.steps, r.guidance, r.scheduler) == (2, 5.5, "DDIMScheduler")
        assert screen.model is not None and screen.model.name == "tiny-sd-b"
        assert "Recalled a1111-castle.png" in status(app)
        # A ComfyUI PNG: prompt, seed and size from its graph; Ctrl+G makes it.
        await pilot.press("ctrl+f")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = str(comfy)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.request.seed == 77)
        assert screen.query_one("#prompt", Input).value == "a comfy cat"
        assert (screen.request.width, screen.request.height) == (64, 96)
        assert "(ComfyUI)" in status(app)
        # A file without parameters, and a missing one: a message, the form unchanged.
        await pilot.press("ctrl+f")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = str(tmp_path / "nothing-here.png")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Cannot read" in status(app))
        assert screen.request.seed == 77 and app.is_running


async def test_each_models_settings_come_back_after_a_restart(studio_app) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        assert screen.model.name == "tiny-sd"
        await answer(pilot, "alt+s", "96x64")
        await answer(pilot, "alt+t", "3")
        await answer(pilot, "alt+g", "3.5")
        await pilot.press("alt+m")  # increment -> random
        await pilot.press("ctrl+g")  # no prompt: refused, and not kept
        await pilot.pause(0.05)
        assert app.engine.images.memory.recall("tiny-sd") == {}
        screen.query_one("#prompt", Input).value = "a kite"
        await generate(pilot, app, 1)
        # The other model was last used with other values (kept the same way).
        app.engine.images.memory.remember("tiny-sd-b", ImageRequest(
            "x", width=64, height=128, steps=5, variations=2))  # fmt: skip
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        r = screen.request
        assert screen.model.name == "tiny-sd"
        assert (r.width, r.height, r.steps, r.guidance, r.seed_mode, r.variations) == (
            96, 64, 3, 3.5, "random", 1)
        assert "96x64 · 3 steps · CFG 3.5" in params_line(app)
        await pilot.press("alt+o")  # the next model: its own values
        await pilot.pause(0.05)
        r = screen.request
        assert screen.model.name == "tiny-sd-b"
        assert (r.width, r.height, r.steps, r.guidance, r.seed_mode, r.variations) == (
            64, 128, 5, 7.0, "increment", 2)
        assert "64x128 · 5 steps" in params_line(app)
        await pilot.press("alt+o")  # and back: the first model's own again
        await pilot.pause(0.05)
        r = screen.request
        assert screen.model.name == "tiny-sd"
        assert (r.width, r.height, r.steps, r.seed_mode, r.variations) == (
            96, 64, 3, "random", 1)
