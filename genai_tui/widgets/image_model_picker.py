"""Pick an image model: diffusers folders and single-file checkpoints found on disk, and
providers' image models (PROVIDER/MODEL, remote)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from genai_tui.engine.core.text import human_bytes, printable
from genai_tui.engine.images.studio import ImageModel
from genai_tui.widgets.dialog import Dialog


class ImageModelPicker(Dialog[ImageModel | None]):
    """Enter picks the highlighted model; Esc keeps the current one."""

    DEFAULT_CSS = """
    ImageModelPicker > Vertical { width: 76; }
    ImageModelPicker OptionList { max-height: 16; }
    """

    def __init__(self, models: list[ImageModel], current: ImageModel | None, where: str) -> None:
        super().__init__()
        self.models = models
        self.current = current
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Image model (Enter picks it, Esc cancels)", classes="title")
            if self.models:
                yield OptionList(*[self._option(i, m) for i, m in enumerate(self.models)])
            else:
                yield Label(Text(
                    "No image model found.\n\nDownload one on the Models screen (F2, kind "
                    f"diffusers), or put a diffusers folder or .safetensors file in {self.where}."
                ), classes="hint")  # fmt: skip

    def _option(self, index: int, model: ImageModel) -> Option:
        mark = "● " if self.current is not None and model.path == self.current.path else "  "
        text = Text(mark + printable(model.name))
        size = "" if model.kind == "remote" else f" · {human_bytes(model.size)}"  # a server's
        detail = f"  {model.pipeline or model.kind}{size} · {printable(model.source)}"
        text.append(detail, style="dim")
        if model.error:
            text.append(f"  ✗ {printable(model.error)}", style="red")
        return Option(text, id=str(index), disabled=model.error is not None)

    def on_mount(self) -> None:
        if self.current is not None and self.models:
            options = self.query_one(OptionList)
            for i, m in enumerate(self.models):
                if m.path == self.current.path:
                    options.highlighted = i

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(self.models[int(event.option.id)])
