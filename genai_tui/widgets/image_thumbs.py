"""The images sent with a user message, under it: each a small picture in half cells
over its name (`cat.png`, `cat.png · missing` once the file is gone). The paths come
from the message's meta (vision.IMAGES_META); names are shown as text, never markup."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from genai_tui.engine.chat.attachments import display_name
from genai_tui.engine.chat.vision import IMAGES_META
from genai_tui.widgets.half_cell import HalfCellPicture
from genai_tui.widgets.image_view import load_picture
from genai_tui.widgets.text_line import TextLine


class ImageThumb(Vertical):
    """One image: a few rows of half cells, its name below."""

    DEFAULT_CSS = """
    ImageThumb { width: 18; height: 5; margin: 0 1 0 0; }
    ImageThumb > HalfCellPicture { height: 4; width: 1fr; }
    ImageThumb > TextLine { color: $text-muted; }
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.name_shown = display_name(path)

    def compose(self) -> ComposeResult:
        yield HalfCellPicture("…")
        yield TextLine(self.name_shown, align="center")

    def on_mount(self) -> None:
        self.run_worker(self._load(), exclusive=True)

    async def _load(self) -> None:
        """Read and decode the image off the event loop; a small copy is kept."""
        image = await asyncio.to_thread(_thumbnail, self.path)
        if image is None:
            self.query_one(TextLine).update(f"{self.name_shown} · missing")
        else:
            self.query_one(HalfCellPicture).show(image)


def _thumbnail(path: Path) -> Any:
    image = load_picture(path)
    if image is not None:
        image.thumbnail((72, 32))  # 4x the cells it takes at most: cheap to redraw
    return image


class ImageThumbs(Horizontal):
    """The images of one user message, side by side."""

    DEFAULT_CSS = """
    ImageThumbs { height: auto; padding: 0 1; margin: 0 0 1 0; }
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__(*(ImageThumb(Path(p)) for p in paths))
        self.paths = tuple(Path(p) for p in paths)


def thumbs_for(role: str, meta: dict[str, Any] | None) -> list[ImageThumbs]:
    """The thumbnails to show under a message: its images' (a user message), else none."""
    paths = (meta or {}).get(IMAGES_META) if role == "user" else None
    if not paths or not isinstance(paths, list):
        return []
    return [ImageThumbs([Path(str(p)) for p in paths])]
