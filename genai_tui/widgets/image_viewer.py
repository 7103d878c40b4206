"""Full view of one image with how it was made; Esc (or Enter) closes it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from genai_tui.engine.core.text import printable
from genai_tui.widgets.image_view import PictureBox


class ImageViewer(ModalScreen[None]):
    DEFAULT_CSS = """
    ImageViewer { align: center middle; }
    ImageViewer > Vertical { width: 100%; height: 100%; background: $surface; }
    ImageViewer .about { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, image: Any, about: str, renderer: str) -> None:
        super().__init__()
        self.image = image
        self.about = about
        self.renderer = renderer

    def compose(self) -> ComposeResult:
        with Vertical():
            yield PictureBox(self.renderer, id="viewer-image")
            yield Static(Text(printable(self.about)), classes="about", markup=False)

    def on_mount(self) -> None:
        self.query_one(PictureBox).show(self.image)

    def action_close(self) -> None:
        self.dismiss(None)
