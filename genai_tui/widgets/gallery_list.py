"""The gallery's list: one line per saved image (prompt, seed, size, model), newest first."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from genai_tui.engine.core.text import printable
from genai_tui.engine.images.gallery import GalleryImage


def _line(img: GalleryImage) -> Text:
    prompt = " ".join(printable(img.prompt).split()) or "(no prompt)"
    when = time.strftime("%m-%d %H:%M", time.localtime(img.created_at))
    text = Text(prompt[:60] + ("…" if len(prompt) > 60 else ""), no_wrap=True)
    text.append(f"  seed {img.seed} · {img.width}x{img.height} · {when}", style="dim")
    if not img.exists:
        text.append("  (file missing)", style="bold red")
    return text


class GalleryList(OptionList):
    """Highlight moves the selection; the screen shows the highlighted image beside it."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.images: list[GalleryImage] = []

    def show(self, images: list[GalleryImage]) -> None:
        keep = self.selected
        self.images = images
        self.clear_options()
        self.add_options([Option(_line(img), id=str(img.id)) for img in images])
        if not images:
            return
        ids = [img.id for img in images]
        self.highlighted = ids.index(keep.id) if keep is not None and keep.id in ids else 0

    @property
    def selected(self) -> GalleryImage | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.images):
            return None
        return self.images[index]
