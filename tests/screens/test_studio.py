"""The image studio under Pilot at 80x24, on the tiny real SD pipeline, half-cell renderer."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, TabbedContent

from genai_tui.app import GenaiApp
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.png_params import read_params
from genai_tui.widgets.gallery_list import GalleryList
from genai_tui.widgets.image_view import ImageTile
from genai_tui.widgets.image_viewer import ImageViewer

from .conftest import studio_maker, wait_until

SIZE = (80, 24)


pytestmark = pytest.mark.usefixtures("known_cell_size")


@pytest.fixture
def studio_app(settings, tiny_sd_dir):
    return studio_maker(settings, tiny_sd_dir, steps=4, variations=4, preview_every=1)


async def open_studio(pilot) -> None:
    await pilot.press("f3")
    await wait_until(pilot, lambda: pilot.app.screen.__class__.__name__ == "StudioScreen")
    await wait_until(pilot, lambda: pilot.app.screen.model is not None)


def made(app) -> list[ImageTile]:
    return [t for t in app.screen.tiles if t.image_id is not None]


async def test_generate_shows_a_grid_and_saves_to_the_gallery(studio_app) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        assert "tiny-sd" in str(screen.query_one("#params").render())
        await pilot.click("#prompt")
        await pilot.press(*"a red fox", "enter")
        await wait_until(pilot, lambda: len(made(app)) == 4 and not app.engine.images.generating)
        await pilot.pause(0.1)
        tiles = screen.tiles
        assert len(tiles) == 4 and all(t.path.is_file() for t in tiles)
        assert all(t.region.width > 0 and t.region.height > 3 for t in tiles)  # fits at 80x24
        assert "4 images" in screen.query_one("#progress").text
        gallery = app.engine.images.gallery.images()
        assert len(gallery) == 4 and {g.prompt for g in gallery} == {"a red fox"}
        seeds = [g.seed for g in sorted(gallery, key=lambda g: g.id)]
        assert seeds == list(range(seeds[0], seeds[0] + 4))  # increment mode
        # The gallery tab lists them; Enter opens the full view, Esc closes it.
        await pilot.press("ctrl+t")
        assert screen.query_one(TabbedContent).active == "gallery"
        await wait_until(pilot, lambda: len(screen.query_one(GalleryList).images) == 4)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ImageViewer))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)


async def test_previews_show_while_steps_run_then_the_picture_replaces_them(
    studio_app, monkeypatch
) -> None:
    from genai_tui.widgets import step_progress
    from genai_tui.widgets.half_cell import HalfCellPicture

    # Every step drawn (not a few a second): each preview reaches its tile at the next step.
    monkeypatch.setattr(step_progress, "UPDATE_S", 0.0)
    shown: list[tuple[int, bool, tuple[int, int]]] = []
    real = HalfCellPicture.show

    def show(self, image, *, coarse: bool = False) -> None:
        shown.append((self.parent.index, coarse, image.size))
        real(self, image, coarse=coarse)

    monkeypatch.setattr(HalfCellPicture, "show", show)
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        screen.request = screen.request.replace(variations=2)  # 4 steps, a preview each
        screen.query_one("#prompt", Input).value = "a lamp"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(made(app)) == 2 and not app.engine.images.generating)
        for index in (0, 1):
            mine = [(coarse, size) for i, coarse, size in shown if i == index]
            # Latent previews (1/8 of 64 px), drawn coarse, then the picture, last.
            assert mine[:-1] and all(m == (True, (8, 8)) for m in mine[:-1])
            assert mine[-1] == (False, (64, 64))
            tile = screen.tiles[index]
            assert not tile.picture.coarse and tile.caption.startswith("seed")
        assert screen.query_one("#progress").text.startswith("2 images")


async def test_the_prompt_cursor_is_steady_while_generating_and_blinks_after(studio_app) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        prompt, negative = screen.query_one("#prompt", Input), screen.query_one("#negative", Input)
        screen.request = screen.request.replace(steps=500, variations=1)
        prompt.value = "long"
        await pilot.press("ctrl+g")
        images = app.engine.images
        await wait_until(pilot, lambda: images.generating)
        assert not prompt.cursor_blink and not negative.cursor_blink
        assert prompt._cursor_visible  # shown, not blinked away
        await pilot.press("escape")
        await wait_until(pilot, lambda: not images.generating)
        await pilot.pause(0.05)
        assert prompt.cursor_blink and negative.cursor_blink
        assert prompt._blink_timer._active.is_set()  # the focused box blinks again
        assert not negative._blink_timer._active.is_set()  # the other stays still


async def test_parameters_by_key_and_a_bad_size_message(studio_app) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        await pilot.press("alt+s")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = "100x64"
        await pilot.press("enter")
        await pilot.pause(0.05)
        status = str(screen.query_one("#studio-status").render())
        assert "not a multiple of 8" in status and "Use 96 or 104" in status
        await pilot.press("alt+s")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = "96x64"
        await pilot.press("enter")
        await pilot.press("alt+v")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = "1"
        await pilot.press("enter")
        await pilot.press("alt+e")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = "1234"
        await pilot.press("enter")
        await pilot.press("alt+m", "alt+m")  # increment -> random -> fixed
        await pilot.pause(0.05)
        req = screen.request
        assert (req.width, req.height, req.variations, req.seed, req.seed_mode) == (
            96, 64, 1, 1234, "fixed")
        assert "96x64" in str(screen.query_one("#params").render())
        screen.query_one("#prompt", Input).value = "a lake"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(made(app)) == 1 and not app.engine.images.generating)
        img = app.engine.images.gallery.images()[0]
        assert (img.seed, img.width, img.height) == (1234, 96, 64)


async def test_cancel_keeps_the_app_and_the_model(studio_app) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        screen.request = screen.request.replace(steps=500, variations=2)  # the most allowed
        screen.query_one("#prompt", Input).value = "long"
        await pilot.press("ctrl+g")
        images = app.engine.images
        progress = screen.query_one("#progress")
        await wait_until(pilot, lambda: images.generating and images.model is not None
                         and progress.text.startswith("image"))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not images.generating)
        await pilot.pause(0.05)
        assert "Cancelled" in str(screen.query_one("#studio-status").render())
        assert images.gallery.count() == 0 and images.model.loaded


async def test_recall_rerun_copy_and_delete(studio_app) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        screen.request = screen.request.replace(variations=1, seed=77, seed_mode="fixed")
        screen.query_one("#prompt", Input).value = "a tower, at dusk"
        screen.query_one("#negative", Input).value = "fog"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(made(app)) == 1 and not app.engine.images.generating)
        # Recall into a changed studio: the prompt, negative and parameters come back.
        screen.query_one("#prompt", Input).value = "something else"
        screen.request = screen.request.replace(steps=9, seed=5)
        await pilot.press("ctrl+r")
        assert screen.query_one("#prompt", Input).value == "a tower, at dusk"
        assert screen.query_one("#negative", Input).value == "fog"
        assert (screen.request.seed, screen.request.steps) == (77, 4)
        # Same seed again: identical pixels; next seed: seed 78.
        await pilot.press("f5")
        await wait_until(pilot, lambda: app.engine.images.gallery.count() == 2
                         and not app.engine.images.generating)
        await pilot.press("f6")
        await wait_until(pilot, lambda: app.engine.images.gallery.count() == 3
                         and not app.engine.images.generating)
        rows = sorted(app.engine.images.gallery.images(), key=lambda g: g.id)
        assert [r.seed for r in rows] == [77, 77, 78]
        from PIL import Image

        def px(p: Path) -> bytes:
            with Image.open(p) as im:
                return im.tobytes()

        assert px(rows[0].path) == px(rows[1].path) != px(rows[2].path)
        params = read_params(rows[2].path)
        assert params and params.prompt == "a tower, at dusk" and params.negative_prompt == "fog"
        # Copy the path of the selected (last made) image, then delete it after confirming.
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await pilot.press("ctrl+y")
        assert copied == [str(rows[2].path)]
        await pilot.press("ctrl+delete")
        await pilot.pause(0.05)
        await pilot.press("n")  # no: nothing is deleted
        await pilot.pause(0.05)
        assert rows[2].path.exists()
        await pilot.press("ctrl+delete")
        await pilot.pause(0.05)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.engine.images.gallery.count() == 2)
        assert not rows[2].path.exists()


async def test_recall_from_the_gallery_after_restart(studio_app) -> None:
    """The gallery (PNG + store) outlives the app: a new session lists and recalls it."""
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        app.screen.request = app.screen.request.replace(variations=2, seed=9)
        app.screen.query_one("#prompt", Input).value = "kept"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(made(app)) == 2 and not app.engine.images.generating)
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: len(screen.query_one(GalleryList).images) == 2)
        await pilot.press("down")  # the older one: seed 9
        await pilot.press("ctrl+r")
        assert screen.request.seed == 9 and screen.query_one("#prompt", Input).value == "kept"


async def test_no_model_says_where_to_get_one(settings) -> None:
    app = GenaiApp(settings, Engine(settings))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: "No image model" in str(
            app.screen.query_one("#studio-status").render()))
        app.screen.query_one("#prompt", Input).value = "anything"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: not app.engine.images.generating)
        await pilot.pause(0.1)
        assert "No image model found" in str(app.screen.query_one("#studio-status").render())
        assert app.is_running


async def test_out_of_memory_offers_a_retry_with_offload(studio_app, monkeypatch) -> None:
    import torch
    from diffusers import UNet2DConditionModel

    real = UNet2DConditionModel.forward
    failing = {"on": True}

    def forward(self, *args, **kwargs):  # the GPU running out of memory mid-run
        if failing["on"]:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", forward)
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        screen.request = screen.request.replace(variations=1)
        screen.query_one("#prompt", Input).value = "huge"
        await pilot.press("ctrl+g")
        status = screen.query_one("#studio-status")
        await wait_until(pilot, lambda: "ran out of memory" in str(status.render()))
        assert "ctrl+g to retry with CPU offload" in str(status.render())
        assert screen.offload_next and "offload" in str(screen.query_one("#params").render())
        failing["on"] = False
        await pilot.press("ctrl+g")  # the retry: offload requested, the model still loaded
        await wait_until(pilot, lambda: len(made(app)) == 1 and not app.engine.images.generating)
        assert app.engine.images.gallery.images()[0].params["offload"] is True
        assert not screen.offload_next


async def test_image_to_image_by_keys(studio_app, tmp_path: Path) -> None:
    from PIL import Image

    init = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (250, 10, 10)).save(init)
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        for key, value in (("alt+i", str(tmp_path / "missing.png")), ("alt+i", str(init)),
                           ("alt+r", "0.5"), ("alt+v", "1")):  # fmt: skip
            await pilot.press(key)
            await pilot.pause(0.05)
            app.screen.query_one(Input).value = value
            await pilot.press("enter")
            await pilot.pause(0.05)
            if value.endswith("missing.png"):
                assert "does not exist" in str(screen.query_one("#studio-status").render())
        assert "img2img photo.png @ 0.5" in str(screen.query_one("#params").render())
        screen.query_one("#prompt", Input).value = "redder"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(made(app)) == 1 and not app.engine.images.generating)
        img = app.engine.images.gallery.images()[0]
        assert img.init_image == str(init) and img.strength == 0.5
        # An empty path turns image-to-image off again.
        await pilot.press("alt+i")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = ""
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert screen.request.init_image is None


def test_renderer_setting_picks_the_textual_image_class() -> None:
    from textual_image import widget as w

    from genai_tui.widgets.half_cell import HalfCellPicture
    from genai_tui.widgets.image_view import PictureBox, image_class, picture_widget

    # Half cells are ours (cached strips); Sixel, kitty and Unicode are textual-image's.
    assert isinstance(picture_widget("halfcell"), HalfCellPicture)
    assert isinstance(picture_widget("sixel"), PictureBox)

    assert issubclass(image_class("halfcell"), w.HalfcellImage)
    assert issubclass(image_class("sixel"), w.SixelImage)
    assert issubclass(image_class("kitty"), w.TGPImage)
    assert issubclass(image_class("unicode"), w.UnicodeImage)
    from genai_tui.terminal_graphics import current_choice

    auto = current_choice("auto").renderer  # what this terminal can show (none here)
    assert image_class("auto") is image_class(auto) or issubclass(
        image_class("auto"), {"halfcell": w.HalfcellImage, "unicode": w.UnicodeImage,
                              "sixel": w.SixelImage, "kitty": w.TGPImage}[auto])  # fmt: skip


async def test_model_picker_lists_image_models(studio_app, settings, tiny_sd_dir) -> None:
    import shutil

    from genai_tui.widgets.image_model_picker import ImageModelPicker

    shutil.copytree(tiny_sd_dir, settings.models_path / "other-sd")  # a link would be one model
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.models) == 2)
        first = screen.model.name
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ImageModelPicker))
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.model.name != first
        assert screen.model.name in str(screen.query_one("#params").render())
        await pilot.press("alt+o")  # next model, without the picker
        assert screen.model.name == first


async def test_f8_reaches_every_parameter_without_alt(studio_app) -> None:
    """F8 (sent by every terminal) lists the parameters; Enter edits or cycles one."""
    from genai_tui.screens.studio_params import ParameterList

    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ParameterList))
        listed = str(app.screen.query_one("#parameter-list").render_line(0))
        assert "Size" in listed and "64x64" in listed
        await pilot.press("down", "enter")  # Steps
        await wait_until(pilot, lambda: app.screen.query(Input) and app.screen is not screen)
        app.screen.query_one(Input).value = "12"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.request.steps == 12)
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ParameterList))
        await pilot.press("down", "down", "down", "down", "enter")  # Seed mode: cycles
        await wait_until(pilot, lambda: screen.request.seed_mode != "increment")
        assert "12 steps" in str(screen.query_one("#params").render())


async def test_ctrl_o_finds_a_model_copied_in_while_the_studio_is_open(
    studio_app, settings, tiny_sd_dir
) -> None:
    import shutil

    from genai_tui.widgets.image_model_picker import ImageModelPicker

    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.models) == 1)
        shutil.copytree(tiny_sd_dir, settings.models_path / "copied-in")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ImageModelPicker))
        assert "copied-in" in [m.name for m in app.screen.models]
