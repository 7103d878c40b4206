"""The studio's LoRA picker (F12, or Alt+L): the LoRAs on disk for the loaded model's
family (and those whose family is unknown); Enter puts `<lora:NAME:1>` in the prompt,
or takes it out when the prompt has it. The weight is edited in the prompt, as in
AUTOMATIC1111. A base of StudioScreen."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import human_bytes, printable
from genai_tui.engine.images.loras import (
    LoraFile,
    LoraPick,
    list_loras,
    loaded_family,
    split_tags,
    toggle_tag,
)
from genai_tui.engine.models.lora_info import family_name
from genai_tui.widgets.dialog import Dialog

if TYPE_CHECKING:
    from genai_tui.engine.engine import Engine


class LoraPicker(Dialog[str | None]):
    """Enter picks the highlighted LoRA (its name); Esc closes."""

    DEFAULT_CSS = """
    LoraPicker > Vertical { width: 76; }
    LoraPicker OptionList { max-height: 14; }
    """

    def __init__(self, loras: list[LoraFile], family: str | None, in_prompt: set[str],
                 hidden: int, where: str) -> None:  # fmt: skip
        super().__init__()
        self.loras, self.family, self.in_prompt = loras, family, in_prompt
        self.hidden, self.where = hidden, where

    def compose(self) -> ComposeResult:
        model = f"the loaded {family_name(self.family)} model" if self.family else "any model"
        with Vertical():
            yield Static(Content(f"LoRAs for {model} · Enter: in or out of the prompt · "
                                 "Esc closes"), classes="title")  # fmt: skip
            if self.loras:
                yield OptionList(*[self._option(i, f) for i, f in enumerate(self.loras)])
            else:
                yield Static(Text(
                    "No LoRA found. Put .safetensors LoRA files in "
                    f"{printable(self.where)} or download one into the Hugging Face cache."
                ), classes="hint")  # fmt: skip
            if self.hidden:
                yield Static(Content(f"{self.hidden} more for other model families are not "
                                     "listed."), classes="hint")  # fmt: skip
            yield Static(Content("The weight is the number in <lora:NAME:1>: edit it in the "
                                 "prompt."), classes="hint")  # fmt: skip

    def _option(self, index: int, lora: LoraFile) -> Option:
        mark = "● " if lora.name.lower() in self.in_prompt else "  "
        text = Text(mark + printable(lora.name))
        text.append(f"  {lora.family_label} · {human_bytes(lora.size)} · {lora.source}",
                    style="dim")  # fmt: skip
        return Option(text, id=str(index))

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(self.loras[int(event.option.id)].name)


class StudioLora(Screen[None]):
    """F12 / Alt+L: the LoRA picker. Needs the studio's `engine`, `#prompt` and `say`."""

    BINDINGS = [
        Binding("f12", "loras", "LoRA", tooltip="Pick LoRAs: <lora:NAME:1> in the prompt"),
        Binding("alt+l", "loras", "LoRA", show=False, priority=True,
                tooltip="Pick LoRAs (F12)"),  # fmt: skip
    ]

    engine: Engine

    if TYPE_CHECKING:  # StudioScreen's

        def say(self, text: str, error: bool = False) -> None: ...

    def action_loras(self) -> None:
        self.pick_lora()

    @work(exclusive=True, group="studio-loras", exit_on_error=False)
    async def pick_lora(self) -> None:
        settings = self.engine.settings
        family = loaded_family(self.engine.images.model)
        every = await asyncio.to_thread(list_loras, settings)
        shown = [f for f in every if family is None or f.family in (family, None)]
        box = self.query_one("#prompt", Input)
        in_prompt = {p.name.lower() for p in _tags(box.value)}
        picker = LoraPicker(shown, family, in_prompt, len(every) - len(shown),
                            str(settings.models_path))  # fmt: skip
        name = await self.app.push_screen_wait(picker)
        if name is None:
            return
        box.value, added = toggle_tag(box.value, name)
        box.focus()
        box.cursor_position = len(box.value)
        self.say(f"{'Added' if added else 'Took out'} the LoRA {name}"
                 + (": change the 1 in the tag for another weight." if added else "."))


def _tags(prompt: str) -> list[LoraPick]:
    try:
        return split_tags(prompt)[1]
    except GenaiError:  # a tag with a bad weight: generating says so
        return []
