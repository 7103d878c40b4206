"""The sidebar: a search box over a list of conversations, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from genai_tui.engine.core.text import printable

if TYPE_CHECKING:
    from genai_tui.engine.core.store import Conversation


class ConversationList(Vertical):
    """Search and pick a conversation. Posts messages; the screen does the work."""

    DEFAULT_CSS = """
    ConversationList { width: 28; border-right: vkey $foreground 20%; }
    ConversationList Input { margin: 0; border: none; height: 1; }
    ConversationList OptionList { border: none; height: 1fr; padding: 0; }
    """

    BINDINGS = [
        Binding("delete", "delete", "Delete chat", show=False),
        Binding("slash", "search", "Search", show=False),
    ]

    @dataclass
    class Selected(Message):
        conversation_id: int

    @dataclass
    class DeleteRequested(Message):
        conversation_id: int

    @dataclass
    class SearchChanged(Message):
        text: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._ids: list[int] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ search chats", id="chat-search", compact=True)
        yield OptionList(id="chat-options")

    @property
    def options(self) -> OptionList:
        return self.query_one("#chat-options", OptionList)

    def show(self, conversations: list[Conversation], selected: int | None) -> None:
        """Replace the list; keep `selected` highlighted when present."""
        self._ids = [c.id for c in conversations]
        options = self.options
        options.clear_options()
        options.add_options([Option(self._label(c), id=str(c.id)) for c in conversations])
        if selected in self._ids:
            options.highlighted = self._ids.index(selected)

    @staticmethod
    def _label(conv: Conversation) -> Content:
        title = printable(conv.title).replace("\n", " ")
        if conv.project:
            return Content.assemble((f"{printable(conv.project)}/", "dim"), title)
        return Content(title)

    @property
    def highlighted_id(self) -> int | None:
        index = self.options.highlighted
        return self._ids[index] if index is not None and index < len(self._ids) else None

    @on(OptionList.OptionSelected, "#chat-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Selected(int(event.option.id)))

    @on(Input.Changed, "#chat-search")
    def _search(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.SearchChanged(event.value))

    @on(Input.Submitted, "#chat-search")
    def _search_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.options.focus()

    def action_delete(self) -> None:
        if (conv_id := self.highlighted_id) is not None:
            self.post_message(self.DeleteRequested(conv_id))

    def action_search(self) -> None:
        self.query_one("#chat-search", Input).focus()
