"""The studio (F3) with a provider's image model: listed as PROVIDER/MODEL remote, picked
with ctrl+o, generating on a loopback images server (tests/image_server.py)."""

from __future__ import annotations

import pytest
from image_server import ImageServer

from genai_tui.app import GenaiApp
from genai_tui.config import ProviderSettings
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.png_params import read_params

from .conftest import wait_until

KEY = "sk-studio-remote-0123456789"


pytestmark = pytest.mark.usefixtures("known_cell_size")


async def test_the_picker_lists_the_remote_model_and_the_studio_generates_with_it(
    settings,
) -> None:
    from genai_tui.widgets.image_model_picker import ImageModelPicker

    with ImageServer(key=KEY) as server:
        provider = ProviderSettings(name="imgbox", base_url=server.url, api_key=KEY,
                                    image_models=["tiny-painter"], image_extras=["seed"])
        image = settings.image.model_copy(
            update={"renderer": "halfcell", "width": 64, "height": 64, "variations": 2}
        )
        s = settings.model_copy(update={"image": image, "providers": [provider]})
        app = GenaiApp(s, Engine(s))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "StudioScreen")
            screen = app.screen
            listed = lambda: [m.name for m in screen.models] == ["imgbox/tiny-painter"]  # noqa: E731
            await wait_until(pilot, listed)
            await pilot.press("ctrl+o")
            await wait_until(pilot, lambda: isinstance(app.screen, ImageModelPicker))
            line = str(app.screen.query_one("OptionList").render_line(0))
            assert "imgbox/tiny-painter" in line and "remote" in line and server.url in line
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen is screen)
            assert screen.model.name == "imgbox/tiny-painter"
            said: list[str] = []
            say = screen.say
            screen.say = lambda text, error=False: (said.append(text), say(text, error))[1]
            screen.query_one("#prompt").value = "a lighthouse"
            await pilot.press("ctrl+g")
            await wait_until(pilot, lambda: len(app.engine.images.gallery.images()) == 2
                             and not app.engine.images.generating)  # fmt: skip
            await pilot.pause(0.1)
            status = str(screen.query_one("#studio-status").render())
            assert "Saved 2 images" in status
            assert "imgbox/tiny-painter on imgbox (remote): generating on the server, no live "\
                   "previews; server ignored: steps, guidance." in said
            made = [t for t in screen.tiles if t.image_id is not None]
            assert len(made) == 2 and all(t.path.is_file() for t in made)
            assert read_params(made[0].path).model == "imgbox/tiny-painter"
            assert [r["body"]["prompt"] for r in server.image_requests()] == ["a lighthouse"] * 2


async def test_editing_the_provider_in_settings_keeps_its_image_models(
    make_settings, tmp_path
) -> None:
    import tomllib

    from genai_tui.screens.settings import SettingsScreen
    from genai_tui.widgets.provider_form import ProviderForm

    config = tmp_path / "config.toml"
    config.write_text('[[providers]]\nname = "imgbox"\nbase_url = "http://127.0.0.1:9/v1"\n'
                      'image_models = ["tiny-painter"]\nimage_extras = ["seed"]\n')  # fmt: skip
    s = make_settings()
    app = GenaiApp(s, Engine(s))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f7")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 5)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ProviderForm), 5)
        app.screen.query_one("#api_key_env").value = "IMGBOX_KEY"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 5)
    (table,) = tomllib.loads(config.read_text())["providers"]
    assert table["api_key_env"] == "IMGBOX_KEY"
    assert (table["image_models"], table["image_extras"]) == (["tiny-painter"], ["seed"])
