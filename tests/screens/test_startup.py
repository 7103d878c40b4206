"""The TUI's start-up (boot.py): a first frame that looks like the chat screen, drawn
before the settings and the engine exist, and nothing the user does meanwhile is lost."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.app import App

import genai_tui.boot as boot
from genai_tui.app import GenaiApp
from genai_tui.boot import StartupScreen
from genai_tui.engine.core.errors import ConfigError
from genai_tui.screens.chat import ChatScreen

from .conftest import wait_idle, wait_until

SIZE = (80, 24)


def cells(app: App, row: int, columns: slice = slice(None)) -> list[tuple]:
    """What a terminal shows in one row: each cell's character and background, and the
    colour and boldness of what is not blank."""
    strip = app.screen._compositor.render_strips()[row]
    out = []
    for segment in strip:
        style = segment.style
        for char in segment.text:
            ink = (style.color, bool(style.bold)) if style and char != " " else ()
            out.append((char, style.bgcolor if style else None, *ink))
    return out[columns]


class StartupOnly(App[None]):
    """The start-up screen by itself, as it is before the engine exists."""

    CSS_PATH = str(Path(boot.__file__).with_name("app.tcss"))

    def on_mount(self) -> None:
        self.push_screen(StartupScreen())


async def test_the_startup_frame_looks_like_the_chat_screen(make_app):
    startup = StartupOnly()
    async with startup.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = {row: cells(startup, row) for row in range(SIZE[1])}
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        def drawn() -> bool:  # the chat opened, and the footer drawn after it
            text = ["".join(c[0] for c in cells(app, row)) for row in range(SIZE[1])]
            return "Type a message" in "".join(text) and "palette" in text[-1]

        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and drawn())
        chat = {row: cells(app, row) for row in range(SIZE[1])}
    # The footer, cell for cell: the same keys, colours and palette key.
    assert first[SIZE[1] - 1] == chat[SIZE[1] - 1]
    # The chat list's search box and its edge, the prompt box and its placeholder.
    assert first[0][:29] == chat[0][:29]
    for row in range(1, SIZE[1] - 5):
        assert first[row][27:29] == chat[row][27:29], row  # the sidebar's edge
    assert first[SIZE[1] - 4][28:] == chat[SIZE[1] - 4][28:]  # the prompt's top border
    # Its placeholder, after the cursor's cell (which blinks).
    assert first[SIZE[1] - 3][30:] == chat[SIZE[1] - 3][30:]


@pytest.fixture
def held_start(monkeypatch: pytest.MonkeyPatch):
    """Start-up held back until the test has typed: preload waits for `release`."""
    release = threading.Event()
    real = boot.preload

    def preload() -> None:
        assert release.wait(30), "the test never released start-up"
        real()

    monkeypatch.setattr(boot, "preload", preload)
    return release


async def test_typing_and_enter_during_startup_send_the_message(settings, models_dir, held_start):
    app = GenaiApp(start=lambda: settings)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, StartupScreen)
        await pilot.press(*"Say hi", "enter")
        assert isinstance(app.screen, StartupScreen)  # still starting: nothing lost yet
        held_start.set()
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await wait_until(pilot, lambda: app.engine.store.conversations())
        await wait_idle(pilot, app)
        conv = app.engine.store.conversations()[0]
        messages = app.engine.store.messages(conv.id)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[0].content == "Say hi"
        assert app.screen.query_one("#prompt").text == ""


async def test_text_and_keys_from_startup_reach_the_screens(settings, models_dir, held_start):
    app = GenaiApp(start=lambda: settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"draft", "ctrl+b", "f4")
        held_start.set()
        # F4, pressed while starting, opens the GPU screen once the App is up.
        await wait_until(pilot, lambda: type(app.screen).__name__ == "GpuScreen")
        app.action_show_chat()
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        chat = app.screen
        assert chat.query_one("#prompt").text == "draft"  # typed while starting
        assert chat.query_one("#sidebar").display is False  # Ctrl+B: sidebar hidden
        await wait_until(pilot, lambda: chat.query("#empty"))  # the chat has opened


async def test_a_bad_settings_file_ends_the_app_with_its_message():
    def start():
        raise ConfigError("Config file /x/config.toml is not valid TOML: bad line 3.",
                          "Fix that line.")  # fmt: skip

    app = GenaiApp(start=start)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.start_error is not None)
    assert app.return_code == 1
    assert "not valid TOML" in str(app.start_error)
