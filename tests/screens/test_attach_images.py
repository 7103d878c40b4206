"""Images in a chat message at 80x24: Ctrl+A takes an image when the chat's model takes
images (a remote model on the loopback fault server), the line above the prompt shows it,
the message goes with the image as a data URL part and shows a half-cell thumbnail with
its name, still there once the chat is reopened; a local model without a projector
refuses it in the dialog with what to do, and nothing typed is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai_faults import REPLY, FaultServer
from textual.widgets import Input, Label

from genai_tui.config import ProviderSettings
from genai_tui.screens.attach_dialog import AttachDialog
from genai_tui.widgets.attachment_line import AttachmentLine
from genai_tui.widgets.image_thumbs import ImageThumbs
from genai_tui.widgets.message_view import MessageView

from .conftest import send, wait_idle, wait_until
from .test_remote_chat import pick_remote

SIZE = (80, 24)
KEY = "sk-test-vision-screen"


@pytest.fixture
def server():
    with FaultServer(key=KEY) as good:
        yield good


@pytest.fixture
def png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "cat.png"
    image = Image.new("RGB", (64, 48), (200, 40, 40))
    image.paste((20, 60, 220), (0, 24, 64, 48))  # two colours: top red, bottom blue
    image.save(path)
    return path


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def info(app) -> str:
    return str(app.screen.query_one("#info", Label).render())


async def check_in_dialog(pilot, app, path: Path) -> None:
    await pilot.press("ctrl+a")
    await wait_until(pilot, lambda: isinstance(app.screen, AttachDialog))
    app.screen.query_one("#path", Input).value = str(path)
    await pilot.press("enter")
    await wait_until(pilot, lambda: info(app) and not info(app).startswith("Reading"))


async def test_an_image_goes_to_a_remote_model_and_shows_as_a_thumbnail(
    make_app, server: FaultServer, png: Path
) -> None:
    providers = [ProviderSettings(name="faulty", base_url=server.url, api_key=KEY)]
    app = make_app(providers=providers)
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        await check_in_dialog(pilot, app, png)
        assert "cat.png" in info(app) and "64×48 image" in info(app)
        await pilot.press("enter")  # adds it
        await wait_until(pilot, lambda: not isinstance(app.screen, AttachDialog))
        assert "🖼 cat.png · 64×48" in str(app.screen.query_one(AttachmentLine).render())
        await send(pilot, app, "What is in this picture?")
        await wait_idle(pilot, app)
        body = server.chat_requests()[-1]["body"]
        content = body["messages"][-1]["content"]
        assert content[0] == {"type": "text", "text": "What is in this picture?"}
        assert content[1]["type"] == "image_url"
        assert content[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        assert reply.text == REPLY
        assert not app.screen.query_one(AttachmentLine).display  # the line cleared
        await wait_until(pilot, lambda: "▀" in screen_text(app))
        assert "cat.png" in screen_text(app)
    # Reopened (a new app on the same store): the thumbnail is still under the message.
    again = make_app(providers=providers)
    async with again.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: bool(again.screen.query(ImageThumbs)))
        users = [v for v in again.screen.query(MessageView) if v.role == "user"]
        assert users[-1].text == "What is in this picture?"
        again.screen.query_one(ImageThumbs).scroll_visible(animate=False)
        await wait_until(pilot, lambda: "▀" in screen_text(again))
        assert "cat.png" in screen_text(again)


async def test_a_local_model_without_a_projector_refuses_the_image_and_keeps_the_text(
    make_app, png: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.screen.query_one("#prompt")
        prompt.text = "Describe it"
        await check_in_dialog(pilot, app, png)
        assert "no vision projector (mmproj)" in info(app)
        assert "remote vision model" in info(app)  # what to do
        assert app.screen.query_one("#info", Label).has_class("refused")
        await pilot.press("enter")  # still refused: the dialog stays
        assert isinstance(app.screen, AttachDialog)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AttachDialog))
        assert app.screen.query_one("#prompt").text == "Describe it"
        assert app.screen.attached == ()
        assert app.engine.model is None  # nothing was loaded to find out


async def test_ctrl_g_in_the_dialog_takes_the_studios_newest_picture_then_older_ones(
    make_app, server: FaultServer
) -> None:
    """The last studio picture and the ones before it, without typing a path: Ctrl+G
    fills the box with the gallery's newest, again with the one before, and checks it."""
    from PIL import Image

    from genai_tui.engine.images.diffusion_params import ImageRequest

    providers = [ProviderSettings(name="faulty", base_url=server.url, api_key=KEY)]
    app = make_app(providers=providers)
    gallery = app.engine.images.gallery
    request = ImageRequest("a lighthouse", width=64, height=64, steps=4)
    older = gallery.save(Image.new("RGB", (64, 64), "red"), request, seed=1, model="tiny-sd")
    newest = gallery.save(Image.new("RGB", (32, 48), "blue"), request, seed=2, model="tiny-sd")
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        await pilot.press("ctrl+a")
        await wait_until(pilot, lambda: isinstance(app.screen, AttachDialog))
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: "32×48 image" in info(app))
        assert app.screen.query_one("#path", Input).value == str(newest.path)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: "64×64 image" in info(app))
        assert app.screen.query_one("#path", Input).value == str(older.path)
        await pilot.press("enter")  # adds it
        await wait_until(pilot, lambda: not isinstance(app.screen, AttachDialog))
        line = str(app.screen.query_one(AttachmentLine).render())
        assert f"🖼 {older.path.name} · 64×64" in line
