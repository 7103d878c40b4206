"""The chat screen's branches: select a message, edit any of yours, regenerate any reply,
step between the branches that leaves, and the "‹ 2/3 ›" markers. A base of ChatActions
(so of ChatScreen); every change goes through `Engine.branches`.

Keys: Alt+↑ (or Shift+Tab from the prompt) selects the last message; on a selected
message ↑/↓ move, ←/→ step between its branches, e/Enter edits (yours), r regenerates
(a reply). Alt+←/→ step at the selected message, else at the last place the chat
branches. Ctrl+G edits the selected message of yours, else your last one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from genai_tui.engine.core.bridge import Started
from genai_tui.engine.core.errors import GenaiError
from genai_tui.screens.chat_keys import BRANCH_KEYS
from genai_tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from textual.containers import VerticalScroll

    from genai_tui.engine.core.events import ChatEvent
    from genai_tui.engine.engine import Engine
    from genai_tui.widgets.chat_message import ChatMessage
    from genai_tui.widgets.chat_status import ChatStatus
    from genai_tui.widgets.message_view import MessageView

_ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


def select(widget: Any) -> None:
    """ChatMessage's `select` (focus now, its top in view), imported on first use."""
    from genai_tui.widgets.chat_message import select

    select(widget)


def chat_message_class() -> type[ChatMessage]:
    """ChatMessage, imported on first use (Markdown costs ~30 ms of start-up)."""
    from genai_tui.widgets.chat_message import ChatMessage

    return ChatMessage


class ChatBranching(Screen[None]):
    """Branch actions; ChatScreen supplies the state below."""

    BINDINGS = BRANCH_KEYS

    engine: Engine
    conv_id: int | None
    editing: bool
    editing_id: int | None = None
    """The message of yours an edit replaces (None: the last one)."""
    messages: VerticalScroll

    if TYPE_CHECKING:  # ChatScreen's, declared here for readers and checkers

        def _busy(self) -> bool: ...

        async def show_conversation(self, conv_id: int, keep: int | None = None) -> None: ...

        def stream_reply(self, events: Started[ChatEvent],
                         replacing: list[MessageView] | None = None) -> object: ...  # fmt: skip

        @property
        def status(self) -> ChatStatus: ...

        @property
        def prompt(self) -> PromptInput: ...

    # -- what is shown ----------------------------------------------------------

    def _views(self) -> list[Any]:
        """The message widgets in the chat (MessageView and PictureMessage), in order."""
        return [w for w in self.messages.children if hasattr(w, "message_id")]

    def sync_branches(self) -> None:
        """Give the views their saved messages' ids (a message just sent has none yet) and
        each its "‹ i/n ›" marker."""
        if self.conv_id is None:
            return
        path = [m for m in self.engine.messages(self.conv_id) if m.role != "system"]
        ids = {m.id: i for i, m in enumerate(path)}
        at = 0
        for view in self._views():
            if view.message_id is not None:
                at = ids.get(view.message_id, at - 1) + 1
            elif (at < len(path) and path[at].role == getattr(view, "role", "")
                  and path[at].content == view.text):  # fmt: skip
                view.message_id = path[at].id
                at += 1
        marks = self.engine.branches.positions(self.conv_id)
        for view in self.messages.query(chat_message_class()):
            mark = marks.get(view.message_id) if view.message_id is not None else None
            view.set_branch((mark.index, mark.count) if mark else None)

    @on(Worker.StateChanged)
    def _reply_ended(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "chat" and event.state in _ENDED:
            self.sync_branches()

    def _selected(self) -> ChatMessage | None:
        focused = self.focused
        return focused if isinstance(focused, chat_message_class()) else None

    # -- selecting and stepping ---------------------------------------------------

    def action_select_message(self) -> None:
        views = list(self.messages.query(chat_message_class()))
        if not views:
            self.notify("No message to select yet.", severity="warning")
            return
        select(views[-1])

    def action_step_branch(self, step: int) -> None:
        selected = self._selected()
        self.step_branch(selected.message_id if selected else None, step, selected is not None)

    # (Handlers by name: ChatMessage's module is imported on first use.)
    def on_chat_message_step_requested(self, event: ChatMessage.StepRequested) -> None:
        self.step_branch(event.view.message_id, event.step, True)

    def step_branch(self, message_id: int | None, step: int, keep_selected: bool) -> None:
        """Show the sibling `step` away from `message_id` (None: at the last branch point)."""
        if self._busy() or self.conv_id is None:
            return
        try:
            shown = self.engine.branches.step(self.conv_id, message_id, step)
        except GenaiError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        if shown is None:
            self.notify("No other branch here.", severity="warning")
            return
        self._show_branch(self.conv_id, shown.id if keep_selected else None)

    def _show_branch(self, conv_id: int, chosen: int | None) -> None:
        async def show() -> None:
            await self.show_conversation(conv_id, keep=chosen)
            for view in self.messages.query(chat_message_class()):
                if chosen is not None and view.message_id == chosen:
                    select(view)

        self.run_worker(show(), group="branch", exclusive=True)

    # -- editing and regenerating ---------------------------------------------------

    @on(PromptInput.EditLastRequested)
    def action_edit_last(self) -> None:
        """Ctrl+G (or ↑ in an empty prompt): edit the selected message of yours, else
        your last one."""
        selected = self._selected()
        if selected is not None and selected.role == "user" and selected.message_id:
            self.edit_message(selected)
        else:
            self.edit_message(None)

    def on_chat_message_edit_requested(self, event: ChatMessage.EditRequested) -> None:
        self.edit_message(event.view)

    def edit_message(self, view: ChatMessage | None) -> None:
        """Put the message's text (None: your last message's) into the prompt to edit;
        Enter sends it as a new branch there (`edit_events`), Esc cancels."""
        if self._busy() or self.conv_id is None:
            return
        text = view.text if view is not None else self.engine.last_user_message(self.conv_id)
        if text is None:
            self.notify("No message to edit yet.", severity="warning")
            return
        self.editing, self.editing_id = True, view.message_id if view is not None else None
        self.prompt.text = text
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()
        which = "your last message" if view is None else "this message"
        self.status.set(state=f"editing {which} · Enter sends a new branch · Esc cancels")

    async def edit_events(self, conv_id: int, text: str) -> AsyncGenerator[ChatEvent, None]:
        """The edit being sent (ChatScreen.send): the edited message and what follows it
        leave the screen (they stay saved, a branch away); the reply streams."""
        target, self.editing_id = self.editing_id, None
        views = self._views()
        if target is None:
            users = [i for i, v in enumerate(views) if getattr(v, "role", "") == "user"]
            start = users[-1] if users else len(views)
        else:
            start = next((i for i, v in enumerate(views) if v.message_id == target), len(views))
        for view in views[start:]:
            await view.remove()
        return self.engine.branches.edit(conv_id, target, text)

    async def on_chat_message_regenerate_requested(
        self, event: ChatMessage.RegenerateRequested
    ) -> None:
        """A new reply beside the selected one: the messages after it leave the screen
        now, the reply itself once the new one is saved."""
        if self._busy() or self.conv_id is None or event.view.message_id is None:
            return
        views = self._views()
        for view in views[views.index(event.view) + 1:]:
            await view.remove()
        self.prompt.focus()
        events = self.engine.branches.regenerate(self.conv_id, event.view.message_id)
        self.stream_reply(Started(events), replacing=[event.view])
