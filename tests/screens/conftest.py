"""Fixtures and helpers for Pilot tests of the TUI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from genai_tui.app import GenaiApp
from genai_tui.config import Settings
from genai_tui.engine.engine import Engine

SIZE = (100, 32)


@pytest.fixture
def make_app(settings: Settings, models_dir):
    """A GenaiApp on the test settings; the real SmolLM2 model is in the models dir."""

    def make(**overrides) -> GenaiApp:
        s = settings.model_copy(update=overrides) if overrides else settings
        return GenaiApp(s, Engine(s))

    return make


async def wait_until(pilot, condition, timeout: float = 60.0) -> None:
    """Let the app run until `condition()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def wait_idle(pilot, app: GenaiApp, timeout: float = 60.0) -> None:
    """Wait until no reply is streaming and the chat workers are done."""
    await pilot.pause(0.05)
    await wait_until(
        pilot,
        lambda: not app.engine.generating
        and not any(w.is_running for w in app.workers if w.group == "chat"),
        timeout,
    )
    await pilot.pause(0.05)
    await asyncio.sleep(0)


async def send(pilot, app: GenaiApp, text: str) -> None:
    prompt = app.screen.query_one("#prompt")
    prompt.text = text
    prompt.focus()
    await pilot.press("enter")


@pytest.fixture
def known_cell_size():
    """As textual-image's own tests: a known cell size instead of asking a terminal."""
    from textual_image._terminal import CellSize, get_cell_size

    get_cell_size._result = CellSize(10, 20)  # type: ignore[attr-defined]
    yield


def studio_maker(settings: Settings, tiny_sd_dir: Path, **image: object) -> Callable[[], GenaiApp]:
    """Apps whose models dir holds the tiny SD pipeline as `tiny-sd`, drawn in half cells
    on one thread at 64x64, with the `image` settings given over those."""
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny-sd").symlink_to(tiny_sd_dir)
    fields = {"renderer": "halfcell", "threads": 1, "width": 64, "height": 64} | image
    s = settings.model_copy(update={"image": settings.image.model_copy(update=fields)})
    return lambda: GenaiApp(s, Engine(s))
