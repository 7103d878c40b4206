"""The multi-line prompt box: Enter sends, Ctrl+J (or Shift/Alt+Enter) starts a new line;
Backspace in an empty box asks to remove the last attachment."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = frozenset({"ctrl+j", "shift+enter", "alt+enter"})


class PromptInput(TextArea):
    """TextArea that submits on Enter. Up in an empty box asks to edit the last message."""

    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 10;
    }
    """

    @dataclass
    class Submitted(Message):
        prompt_input: PromptInput
        text: str

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    class EditLastRequested(Message):
        """Up was pressed in an empty prompt."""

    class BackspaceOnEmpty(Message):
        """Backspace was pressed in an empty prompt (the chat removes its last attachment)."""

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            placeholder=placeholder,
        )

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if event.key.startswith("alt+") and len(event.key) == 5:
            # Alt+letter arrives as ESC + letter: a key for the app, never text to type.
            event.prevent_default()
            return
        if event.key == "up" and not self.text:
            event.stop()
            event.prevent_default()
            self.post_message(self.EditLastRequested())
            return
        if event.key == "backspace" and not self.text:
            event.stop()
            event.prevent_default()
            self.post_message(self.BackspaceOnEmpty())
            return
        await super()._on_key(event)
