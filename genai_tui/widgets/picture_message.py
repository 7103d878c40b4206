"""A picture message of the chat: an /imagine result (its prompt, a grid of pictures with
their seeds) or a story page (title, then each scene's text and its picture, in order).

The pictures are drawn as the studio draws them (half-cell, Sixel or Kitty). A picture
tile takes the focus; Enter on it posts `PictureTile.Opened` for the screen to open the
full view.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from genai_tui.engine.core.text import printable
from genai_tui.widgets.image_view import ImageTile, load_picture


class PictureTile(ImageTile):
    """A saved picture of the chat; Enter opens it."""

    BINDINGS = [Binding("enter", "open", "Open", tooltip="Full view: n next seed, s to studio")]

    class Opened(Message):
        def __init__(self, tile: PictureTile) -> None:
            super().__init__()
            self.tile = tile

    def __init__(self, renderer: str, picture: dict[str, Any], caption: str, about: str) -> None:
        super().__init__(renderer, caption)
        self.path = Path(picture["path"])
        self.image_id = picture.get("id")
        self.seed = picture.get("seed")
        self.about = about

    def on_mount(self) -> None:
        self.run_worker(self._load(), exclusive=True)

    async def _load(self) -> None:
        """Read and decode the PNG off the event loop (a chat may hold many)."""
        image = await asyncio.to_thread(load_picture, self.path)
        if image is None:
            self.set_caption(f"{self.caption} · file missing")
        else:
            self.show(image)

    def action_open(self) -> None:
        self.post_message(self.Opened(self))


class PictureMessage(Vertical):
    """The pictures of one message; `show(meta)` redraws it (a story gains scenes)."""

    DEFAULT_CSS = """
    PictureMessage { height: auto; padding: 0 1; margin: 0 0 1 0;
                     border-left: thick $success; }
    PictureMessage .role, PictureMessage .note { color: $text-muted; }
    PictureMessage .title { text-style: bold; }
    PictureMessage .scene-text { margin: 1 0 0 0; }
    PictureMessage Horizontal { height: auto; }
    PictureMessage PictureTile { height: 14; width: 1fr; max-width: 40; }
    """

    def __init__(self, kind: str, meta: dict[str, Any], renderer: str, *,
                 message_id: int | None = None) -> None:  # fmt: skip
        super().__init__(classes="assistant")
        self.kind = kind
        self.meta = meta
        self.renderer = renderer
        self.message_id = message_id
        self.role = "assistant"
        self.text = ""

    def compose(self) -> ComposeResult:
        yield from self._parts()

    def _parts(self) -> list[Any]:
        meta, parts = self.meta, []
        if self.kind == "story":
            parts.append(Static(Text("Story", style="bold"), classes="role"))
            parts.append(Static(Text(printable(meta.get("title", ""))), classes="title"))
            for number, scene in enumerate(meta.get("scenes", []), 1):
                parts.append(Static(Text(printable(scene["text"])), classes="scene-text"))
                if scene.get("image"):
                    parts.append(Horizontal(PictureTile(
                        self.renderer, scene["image"], f"scene {number}",
                        scene["prompt"])))  # fmt: skip
            self.text = "\n\n".join(s["text"] for s in meta.get("scenes", []))
            return parts
        mode = meta.get("mode", "art")
        parts.append(Static(Text(f"Pictures · {mode}", style="bold"), classes="role"))
        parts.append(Static(Text(printable(meta.get("prompt", ""))), classes="note"))
        if meta.get("slogan"):
            parts.append(Static(Text(printable(f"slogan: {meta['slogan']}")), classes="note"))
        tiles = [PictureTile(self.renderer, p, f"seed {p['seed']}", meta.get("prompt", ""))
                 for p in meta.get("images", [])]  # fmt: skip
        parts.append(Horizontal(*tiles))
        self.text = meta.get("prompt", "")
        return parts

    async def show(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        await self.remove_children()
        await self.mount_all(self._parts())
