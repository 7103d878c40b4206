"""The studio's upscale key and hires/mask parameters, under Pilot on the tiny SD pipeline."""

from __future__ import annotations

import pytest
from textual.widgets import Input


from .conftest import studio_maker, wait_until

SIZE = (80, 24)


pytestmark = pytest.mark.usefixtures("known_cell_size")


@pytest.fixture
def studio_app(settings, tiny_sd_dir):
    return studio_maker(settings, tiny_sd_dir, steps=2, variations=1, preview_every=0)


async def test_u_upscales_the_selected_picture_and_f8_sets_the_hires_fix(studio_app) -> None:
    from genai_tui.screens.studio_params import ParameterList

    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "StudioScreen")
        screen = app.screen
        await wait_until(pilot, lambda: screen.model is not None)
        await pilot.press(*"a boat", "enter")
        await wait_until(pilot, lambda: any(t.image_id is not None for t in screen.tiles),
                         timeout=120)  # fmt: skip
        await wait_until(pilot, lambda: not screen.images.generating)
        screen.tiles[0].focus()
        await pilot.press("u")
        status = screen.query_one("#studio-status")
        await wait_until(pilot, lambda: "128x128" in str(status.render()), timeout=60)
        assert "upscaled with Lanczos: no upscaler model found" in str(status.render())
        assert screen.images.gallery.count() == 2
        # F8 -> "Hires fix: upscale" (the 11th line) -> 2
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ParameterList))
        await pilot.press(*["down"] * 10, "enter")
        await wait_until(pilot, lambda: app.screen.query(Input) and app.screen is not screen)
        app.screen.query_one(Input).value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.request.hires_scale == 2)
        assert "hires ×2 @ 0.5" in str(screen.query_one("#params").render())
