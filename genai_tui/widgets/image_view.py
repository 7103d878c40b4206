"""Images in the terminal (textual-image): the renderer chosen by setting, and a tile
holding one picture with a caption.

textual-image asks the terminal what it supports when first imported; the app
imports it before `App.run()` (app.run_app) so that query never races Textual.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

RENDERERS = ("auto", "kitty", "sixel", "halfcell", "unicode")


def image_class(renderer: str) -> type[Widget]:
    """The textual-image widget for a renderer setting; "auto" is what the terminal supports."""
    from textual_image import widget as w

    classes: dict[str, Any] = {
        "auto": w.Image,
        "kitty": w.TGPImage,
        "sixel": w.SixelImage,
        "halfcell": w.HalfcellImage,
        "unicode": w.UnicodeImage,
    }
    return classes.get(renderer, w.Image)


def detected_renderer() -> str:
    """What "auto" resolved to on this terminal, in the setting's words."""
    from textual_image import renderable as r

    names = {r.SixelImage: "sixel", r.TGPImage: "kitty", r.HalfcellImage: "halfcell"}
    return names.get(r.Image, "unicode")


class ImageTile(Vertical, can_focus=True):
    """One picture (or the placeholder before it exists) over a one-line caption."""

    DEFAULT_CSS = """
    ImageTile { height: 1fr; width: 1fr; border: round $panel; align-horizontal: center; }
    ImageTile:focus { border: round $accent; }
    ImageTile > .picture { width: auto; height: 1fr; }
    ImageTile > .placeholder { height: 1fr; color: $text-muted; content-align: center middle; }
    ImageTile > .caption { height: 1; width: 100%; color: $text-muted; text-align: center; }
    """

    def __init__(self, renderer: str, caption: str = "", *, index: int = 0,
                 id: str | None = None) -> None:  # fmt: skip
        super().__init__(id=id)
        self.renderer = renderer
        self.index = index
        self.caption = caption
        self.path: Any = None  # the saved file, once there is one
        self.image_id: int | None = None
        self._picture: Any = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"#{self.index + 1}"), classes="placeholder")
        yield Static(Text(self.caption), classes="caption", markup=False)

    def show(self, image: Any, caption: str | None = None) -> None:
        """Show a PIL image (a preview or the result); keeps the widget, swaps the pixels."""
        if self._picture is None:
            self._picture = image_class(self.renderer)(image, classes="picture")
            for old in self.query(".placeholder"):
                old.remove()
            self.mount(self._picture, before=0)
        else:
            self._picture.image = image
        if caption is not None:
            self.set_caption(caption)

    def set_caption(self, caption: str) -> None:
        self.caption = caption
        self.query_one(".caption", Static).update(Text(caption))
