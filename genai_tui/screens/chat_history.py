"""How much of a chat is drawn: its last HISTORY_WINDOW messages, with "▲ N earlier
messages" above them (Enter or a click there shows the next older batch). A base of
ChatScreen.

Textual lays out every widget of a screen at each layout, and a streamed reply asks for
one at every line it grows: with every message drawn, what a token cost the event loop
grew with the chat (2.4 times a new chat's after 30 exchanges: bench/chat_history.py).
Opening a long chat also mounts only its last messages. After a reply, a chat that has
grown past twice the window (the user showed older batches) is cut back to the window,
if the newest messages are in view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.screen import Screen
from textual.widget import Widget

from genai_tui.screens.chat_actions import message_meta, message_view
from genai_tui.widgets.earlier_messages import EarlierMessages
from genai_tui.widgets.image_thumbs import thumbs_for
from genai_tui.widgets.picture_message import PictureMessage

if TYPE_CHECKING:
    from textual.containers import VerticalScroll

    from genai_tui.engine.core.store import Message
    from genai_tui.engine.engine import Engine

HISTORY_WINDOW = 20  # messages drawn when a chat opens, and per "show earlier"


class ChatHistory(Screen[None]):
    """The window of a chat's messages that is drawn."""

    if TYPE_CHECKING:
        engine: Engine
        conv_id: int | None

        @property
        def messages(self) -> VerticalScroll: ...

        @property
        def renderer(self) -> str: ...

        def _views(self) -> list[Any]: ...

    def views_for(self, path: list[Message]) -> list[Widget]:
        """The widgets of `path`'s messages (no system prompts among them), in order."""
        return [
            view for m in path for view in (
                message_view(m.role, m.content, m.thinking, message_meta(m), message_id=m.id)
                if not m.kind else PictureMessage(m.kind, m.meta, self.renderer, message_id=m.id),
                *thumbs_for(m.role, m.meta))  # the images sent with a user message
        ]  # fmt: skip

    def window(self, path: list[Message], keep: int | None = None) -> list[Widget]:
        """The widgets to draw for a chat whose messages are `path`: the last
        HISTORY_WINDOW, or from message `keep` if that is older, under the
        earlier-messages line when some are left out."""
        path = [m for m in path if m.role != "system"]
        start = max(0, len(path) - HISTORY_WINDOW)
        if keep is not None:
            start = min(start, next((i for i, m in enumerate(path) if m.id == keep), start))
        views = self.views_for(path[start:])
        return [EarlierMessages(start, HISTORY_WINDOW), *views] if start else views

    @on(EarlierMessages.ShowRequested)
    async def show_earlier(self) -> None:
        """Draw the next HISTORY_WINDOW older messages above the ones shown. Asked from
        the keyboard (the line selected), the message above the one that was first is
        selected; else the message that was first stays where it was on screen."""
        bar = next(iter(self.messages.query(EarlierMessages)), None)
        shown = [v.message_id for v in self._views() if v.message_id is not None]
        if bar is None or self.conv_id is None or not shown:
            return
        path = [m for m in self.engine.messages(self.conv_id) if m.role != "system"]
        ids = [m.id for m in path]
        end = ids.index(shown[0]) if shown[0] in ids else 0
        start = max(0, end - HISTORY_WINDOW)
        first = next(w for w in self.messages.children if w is not bar)
        was_focused = bar.has_focus
        views = self.views_for(path[start:end])
        if views:
            await self.messages.mount_all(views, after=bar)
        if start:
            bar.count = start
        else:
            await bar.remove()
        focusable = [v for v in views if v.focusable]
        if was_focused and focusable:  # ↑ went on from the first message: the one above it
            from genai_tui.widgets.chat_message import select

            select(focusable[-1])
        else:  # what was on screen stays where it was
            self.call_after_refresh(self.messages.scroll_to_widget, first, animate=False, top=True)

    async def trim_history(self) -> None:
        """Cut a chat grown past twice the window back to the last HISTORY_WINDOW
        messages, when the newest are in view and no older message is selected."""
        container = self.messages
        children = list(container.children)
        views = self._views()
        if len(views) <= 2 * HISTORY_WINDOW or not container.is_vertical_scroll_end:
            return
        keep_from = children.index(views[-HISTORY_WINDOW])
        bar = next((w for w in children if isinstance(w, EarlierMessages)), None)
        doomed = [w for w in children[:keep_from] if w is not bar]
        if any(w.has_focus or w.has_focus_within for w in doomed):
            return
        dropped = sum(1 for w in doomed if hasattr(w, "message_id"))
        await container.remove_children(doomed)
        if bar is not None:
            bar.count += dropped
        else:
            await container.mount(EarlierMessages(dropped, HISTORY_WINDOW), before=0)

    def all_replies(self) -> list[str]:
        """Every reply of the open chat, drawn or not, oldest first."""
        if self.conv_id is None:
            return []
        return [m.content for m in self.engine.messages(self.conv_id)
                if m.role == "assistant" and not m.kind]  # fmt: skip
