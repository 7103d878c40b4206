"""Pilot tests of the create flows: the studio's prompt writer (real SmolLM2), /imagine
and /story in the chat (a scripted OpenAI-compatible server plans; the tiny diffusers
pipeline draws), the clarifying question, the pictures after a restart, the export."""

from __future__ import annotations

import json
import re

import pytest
from openai_faults import FaultServer
from textual.widgets import Input

from genai_tui.app import GenaiApp
from genai_tui.config import ProviderSettings
from genai_tui.engine.engine import Engine
from genai_tui.screens.clarify import ClarifyDialog
from genai_tui.widgets.picture_message import PictureMessage, PictureTile

from .conftest import send, wait_until

SIZE = (100, 40)
IMAGES = {"renderer": "halfcell", "threads": 1, "width": 64, "height": 64, "steps": 2,
          "variations": 2, "preview_every": 0}  # fmt: skip


pytestmark = pytest.mark.usefixtures("known_cell_size")


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


@pytest.fixture
def create_settings(settings, models_dir, tiny_sd_dir, server):
    (settings.models_path / "tiny-sd").symlink_to(tiny_sd_dir)
    return settings.model_copy(update={
        "image": settings.image.model_copy(update=IMAGES),
        "providers": [ProviderSettings(name="script", base_url=server.url)],
    })  # fmt: skip


def app_for(s) -> GenaiApp:
    return GenaiApp(s, Engine(s))


async def open_scripted_chat(pilot, app) -> int:
    conv = app.engine.new_conversation("fault-model", provider="script")
    await app.screen.show_conversation(conv.id)
    return conv.id


def pictures(app) -> list[PictureMessage]:
    return list(app.screen.query(PictureMessage))


async def test_the_studio_prompt_writer_fills_both_boxes(create_settings) -> None:
    app = app_for(create_settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "StudioScreen")
        prompt, negative = app.screen.query_one("#prompt", Input), app.screen.query_one(
            "#negative", Input)  # fmt: skip
        prompt.value = "a lighthouse at dusk"
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: not app.engine.generating
                         and prompt.value != "a lighthouse at dusk" and negative.value, 120)
        assert len(prompt.value) > len("a lighthouse at dusk") and negative.value
        assert "ready" in str(app.screen.query_one("#studio-status").render())


async def test_imagine_puts_pictures_in_the_chat_and_they_are_there_after_a_restart(
    create_settings, server
) -> None:
    server.replies = [json.dumps({"action": "draw", "prompt": "a red apple, still life",
                                  "negative_prompt": "blurry"})]  # fmt: skip
    app = app_for(create_settings)
    async with app.run_test(size=SIZE) as pilot:
        conv_id = await open_scripted_chat(pilot, app)
        await send(pilot, app, "/imagine an apple")
        await wait_until(pilot, lambda: pictures(app) and not app.engine.generating, 120)
        tiles = list(pictures(app)[0].query(PictureTile))
        assert len(tiles) == 2 and all(t.path.exists() for t in tiles)
        assert len(app.engine.images.gallery.images()) == 2
        # Typing on a picture writes in the message box.
        tiles[1].focus()
        await pilot.press("h", "i")
        assert app.screen.prompt.text == "hi" and app.screen.prompt.has_focus
        app.screen.prompt.clear()
        # Enter on a picture: the full view, with n / s.
        tiles[0].focus()
        await pilot.press("enter")
        assert app.screen.__class__.__name__ == "ImageViewer"
        await pilot.press("s")  # to the studio, its parameters recalled
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "StudioScreen")
        assert app.screen.query_one("#prompt", Input).value == "a red apple, still life"
    again = app_for(create_settings)
    async with again.run_test(size=SIZE) as pilot:
        await again.screen.show_conversation(conv_id)
        await pilot.pause(0.3)
        shown = pictures(again)
        assert len(shown) == 1 and shown[0].meta["prompt"] == "a red apple, still life"
        assert len(list(shown[0].query(PictureTile))) == 2


async def test_a_vague_request_asks_once_and_a_number_answers(create_settings, server) -> None:
    server.replies = [
        json.dumps({"action": "ask", "question": "What did you do today?",
                    "suggestions": ["hiking", "coding"]}),
        json.dumps({"action": "draw", "prompt": "a hiker on a ridge"}),
    ]  # fmt: skip
    app = app_for(create_settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_scripted_chat(pilot, app)
        await send(pilot, app, "/imagine draw my day")
        await wait_until(pilot, lambda: isinstance(app.screen, ClarifyDialog), 60)
        await pilot.press("1")
        await wait_until(pilot, lambda: pictures(app) and not app.engine.generating, 120)
        assert server.chat_requests()[-1]["body"]["messages"][-1]["content"] == (
            "draw my day (hiking)")
        assert pictures(app)[0].meta["prompt"] == "a hiker on a ridge"


async def test_a_story_page_and_its_markdown_export(create_settings, server) -> None:
    story = {"title": "The Fox", "scenes": [
        {"text": "A fox wakes in the snow.", "prompt": "a red fox in snow"},
        {"text": "It finds the river.", "prompt": "a fox by a frozen river"}]}  # fmt: skip
    server.replies = [json.dumps(story)]
    app = app_for(create_settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        conv_id = await open_scripted_chat(pilot, app)
        await send(pilot, app, "/story a fox in winter 2 scenes")
        await wait_until(pilot, lambda: not app.engine.generating and pictures(app)
                         and len(list(pictures(app)[0].query(PictureTile))) == 2, 120)
        page = pictures(app)[0]
        assert page.meta["title"] == "The Fox"
        assert [s["text"] for s in page.meta["scenes"]] == [
            "A fox wakes in the snow.", "It finds the river."]
        await pilot.press("ctrl+s")
        md, _ = app.engine.export(conv_id)
        text = md.read_text()
        links = re.findall(r"!\[Scene \d\]\(([^)]+)\)", text)
        assert len(links) == 2 and all((md.parent / link).is_file() for link in links)
        assert text.index("A fox wakes") < text.index(links[0]) < text.index("It finds")
