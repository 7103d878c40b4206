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
from genai_tui.widgets.image_view import picture_widget


class ImageViewer(ModalScreen[str | None]):
    """A picture full size. With `actions` (a picture of the chat) it also offers
    n (draw it again with the next seed) and s (send it to the studio): dismissed
    with "next" or "studio"."""

    DEFAULT_CSS = """
    ImageViewer { align: center middle; }
    ImageViewer > Vertical { width: 100%; height: 100%; background: $surface; }
    ImageViewer .about { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,enter,q", "close", "Close"),
        Binding("n", "choose('next')", "Next seed", tooltip="Draw it again with the next seed"),
        Binding("s", "choose('studio')", "To studio", tooltip="Open it in the studio (F3)"),
    ]

    def __init__(self, image: Any, about: str, renderer: str, actions: bool = False) -> None:
        super().__init__()
        self.actions = actions
        self.image = image
        self.about = about
        self.renderer = renderer

    def compose(self) -> ComposeResult:
        with Vertical():
            self.picture = picture_widget(self.renderer, id="viewer-image")
            yield self.picture
            keys = "\nn: again with the next seed · s: to the studio · Esc: close"
            about = printable(self.about) + (keys if self.actions else "")
            yield Static(Text(about), classes="about", markup=False)

    def on_mount(self) -> None:
        self.picture.show(self.image)

    def action_close(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.actions or action != "choose"

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
