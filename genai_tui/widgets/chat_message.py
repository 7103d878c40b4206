"""A message of the chat screen: a MessageView that can be selected (focused) and shows
where the chat branches ("‹ 2/3 ›" on its role line).

Selected, its keys are plain ones (no text box has focus then): ↑/↓ the previous/next
message (↓ from the last goes back to the prompt), ←/→ the previous/next branch here,
e or Enter edits one of your messages (a new branch), r regenerates a reply (one more
branch). The widget only says what was asked; the chat screen does it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from genai_tui.widgets.message_view import MessageView

ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System"}


class ChatMessage(MessageView):
    """A chat message that can be selected, with its place among its branches."""

    can_focus = True

    DEFAULT_CSS = """
    ChatMessage:focus { border-left: thick $accent; background: $accent 12%; }
    ChatMessage .role { width: 1fr; }
    """

    BINDINGS = [
        Binding("left", "step(-1)", "‹ Branch", tooltip="Show the previous branch here"),
        Binding("right", "step(1)", "Branch ›", tooltip="Show the next branch here"),
        Binding("e,enter", "edit", "Edit", tooltip="Edit this message and send it (a new branch)"),
        Binding("r", "regenerate", "Regen", tooltip="A new reply here (the old one is kept)"),
        Binding("up", "move(-1)", "Previous", show=False, tooltip="Select the previous message"),
        Binding("down", "move(1)", "Next", show=False,
                tooltip="Select the next message (from the last: the prompt)"),  # fmt: skip
    ]

    @dataclass
    class StepRequested(Message):
        """←/→ on a selected message: show its previous (-1) or next (+1) sibling."""

        view: ChatMessage
        step: int

    @dataclass
    class EditRequested(Message):
        """e/Enter on one of the user's messages."""

        view: ChatMessage

    @dataclass
    class RegenerateRequested(Message):
        """r on a reply."""

        view: ChatMessage

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.branch: tuple[int, int] | None = None

    def role_line(self) -> Content:
        label = ROLE_LABELS.get(self.role, self.role)
        if self.branch is None:
            return Content(label)
        index, count = self.branch
        return Content.assemble(label, (f"  ‹ {index}/{count} ›", "$accent"))

    def set_branch(self, branch: tuple[int, int] | None) -> None:
        """Show `(index, count)` among the message's siblings; None: no other branch."""
        if branch != self.branch:
            self.branch = branch
            if self.is_mounted:
                self.query_one(".role", Static).update(self.role_line())

    def on_mount(self) -> None:
        if self.branch is not None:
            self.query_one(".role", Static).update(self.role_line())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit":
            return self.role == "user" and self.message_id is not None
        if action == "regenerate":
            return self.role == "assistant" and self.message_id is not None
        if action == "step":
            return self.branch is not None
        return True

    def action_step(self, step: int) -> None:
        if self.branch is not None:
            self.post_message(self.StepRequested(self, step))

    def action_edit(self) -> None:
        self.post_message(self.EditRequested(self))

    def action_regenerate(self) -> None:
        self.post_message(self.RegenerateRequested(self))

    def action_move(self, step: int) -> None:
        """Select the message `step` away; down from the last one goes to the prompt."""
        parent = self.parent
        if parent is None:
            return
        chain = [w for w in self.screen.focus_chain if parent in w.ancestors and w is not parent]
        # From the message selected now: a held key's repeats may have been sent to this
        # one before the first of them moved the selection.
        at = self.screen.focused if self.screen.focused in chain else self
        index = chain.index(at) if at in chain else -1
        target = index + step
        if 0 <= target < len(chain):
            select(chain[target])
        elif target >= len(chain):
            self.screen.focus_next()


def select(widget: Widget) -> None:
    """Focus `widget` now (not after this event, as `focus()` does: the next key of a
    held ↑ goes to it) and scroll its top into view."""
    screen = widget.screen
    screen.set_focus(widget, scroll_visible=False)
    screen.call_after_refresh(screen.scroll_to_widget, widget, animate=False, top=True)
