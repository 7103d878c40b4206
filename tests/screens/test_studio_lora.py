"""The studio's LoRA picker (F12) at 80x24, on the tiny real SD pipeline and a real LoRA."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from genai_tui.app import GenaiApp
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.png_params import read_params
from genai_tui.screens.studio_lora import LoraPicker

from .conftest import wait_until


@pytest.fixture(scope="module")
def lora_dir(tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_lora import build_tiny_lora, write_kohya_lora

    root = tmp_path_factory.mktemp("studio-loras")
    build_tiny_lora(tiny_sd_dir, root / "ink.safetensors")
    write_kohya_lora(root / "xl-glow.safetensors", {"ss_base_model_version": "sdxl_base_v1-0"})
    return root


@pytest.fixture
def app(settings, tiny_sd_dir: Path, lora_dir: Path) -> GenaiApp:
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny-sd").symlink_to(tiny_sd_dir)
    (folder / "loras").symlink_to(lora_dir)
    image = settings.image.model_copy(update={
        "renderer": "halfcell", "threads": 1, "width": 64, "height": 64, "steps": 2,
        "variations": 1, "preview_every": 0,
    })  # fmt: skip
    s = settings.model_copy(update={"image": image})
    return GenaiApp(s, Engine(s))


def listed(app: GenaiApp) -> list[str]:
    options = app.screen.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_f12_puts_a_lora_of_the_models_family_in_the_prompt(app: GenaiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: getattr(app.screen, "model", None) is not None)
        studio = app.screen
        prompt = studio.query_one("#prompt", Input)
        await pilot.click("#prompt")
        await pilot.press(*"a red fox")
        # No model loaded yet: every LoRA, with its family.
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, LoraPicker))
        shown = listed(app)
        assert len(shown) == 2 and "ink" in shown[0] and "SDXL" in shown[1]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is studio)
        await pilot.press("enter")  # generate: the model loads
        await wait_until(pilot, lambda: app.engine.images.model is not None
                         and not app.engine.images.generating)  # fmt: skip
        # The SD 1.x model is loaded: the SDXL LoRA is not offered.
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, LoraPicker))
        assert len(listed(app)) == 1 and "ink" in listed(app)[0]
        assert "1 more for other model families" in str(app.screen.query(".hint")[-2].render())
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is studio)
        assert prompt.value == "a red fox <lora:ink:1>" and prompt.has_focus
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.engine.images.gallery.images()) == 2
                         and not app.engine.images.generating)  # fmt: skip
        newest = app.engine.images.gallery.images()[0]
        params = read_params(newest.path)
        assert params.prompt == "a red fox <lora:ink:1>" and list(params.lora_hashes) == ["ink"]
        # Picked again, it comes out of the prompt (marked ● as in it).
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, LoraPicker))
        assert listed(app)[0].startswith("● ink")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is studio)
        assert prompt.value == "a red fox"
