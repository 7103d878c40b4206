"""The top of a long chat: how many earlier messages are not drawn, and a way to show them.

A long chat keeps only its last messages on screen: Textual lays out every widget on a
screen at each layout (every line a streamed reply grows), so the cost of a token grew
with the length of the chat. Enter or a click here asks for the next older batch; ↓
selects the first message shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.content import Content
from textual.events import Click
from textual.message import Message
from textual.widgets import Static


class EarlierMessages(Static, can_focus=True):
    """The "▲ 40 earlier messages" line: Enter or a click shows more of them."""

    DEFAULT_CSS = """
    EarlierMessages {
        width: 1fr;
        color: $text-muted;
        text-align: center;
        margin: 0 0 1 0;
    }
    EarlierMessages:focus { color: $text; background: $accent 20%; text-style: bold; }
    EarlierMessages:hover { color: $text; }
    """

    BINDINGS = [
        Binding("enter", "show", "Show earlier", tooltip="Show older messages of this chat"),
        Binding("down", "first", "First shown", show=False,
                tooltip="Select the first message shown"),  # fmt: skip
    ]

    @dataclass
    class ShowRequested(Message):
        """Enter or a click: show the next older batch."""

    def __init__(self, count: int, batch: int) -> None:
        super().__init__(id="earlier")
        self.batch = batch
        self.count = count

    @property
    def count(self) -> int:
        return self._count

    @count.setter
    def count(self, count: int) -> None:
        self._count = count
        more = min(count, self.batch)
        noun = "message" if count == 1 else "messages"
        shows = "it" if count == 1 else (f"{more} more" if more < count else "them")
        self.update(Content(f"▲ {count} earlier {noun} · Enter shows {shows}"))

    def action_show(self) -> None:
        self.post_message(self.ShowRequested())

    def on_click(self, event: Click) -> None:
        event.stop()
        self.post_message(self.ShowRequested())

    def action_first(self) -> None:
        for sibling in self.parent.children if self.parent else ():
            if sibling is not self and sibling.focusable:
                sibling.focus()
                return
