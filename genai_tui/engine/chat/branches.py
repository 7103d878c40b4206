"""Branching chats: edit any earlier message of yours, regenerate any reply, and step
between the branches that leaves. Nothing is deleted: an edit adds a sibling of the
message it edits, a regenerate a sibling of the reply, and the chat (and the model)
follows one path through them, the one last shown (core/message_tree.py).

`Engine.branches` is one of these; `Engine.edit_last` and `Engine.regenerate` call it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import ChatEvent
from genai_tui.engine.core.message_tree import BranchPosition, positions, sibling
from genai_tui.engine.core.store import Message, Store

Reply = Callable[..., AsyncGenerator[ChatEvent, None]]


class ChatBranches:
    """Edits, regenerates and branch steps of the engine's chats (one reply at a time:
    `check_idle` refuses them while one streams; `reply` streams and saves one)."""

    def __init__(self, store: Store, check_idle: Callable[[], None], reply: Reply) -> None:
        self._store = store
        self._check_idle = check_idle
        self._reply = reply

    def positions(self, conv_id: int) -> dict[int, BranchPosition]:
        """Where each message of the shown path that has siblings sits among them."""
        return positions(self._store.message_tree(conv_id))

    def step(self, conv_id: int, message_id: int | None, step: int) -> Message | None:
        """Show the sibling `step` places from `message_id` (wrapping round), with the
        branch below it as it was last shown; None when there is no other branch.
        `message_id` None: the last message of the path that has siblings."""
        self._check_idle()
        tree = self._store.message_tree(conv_id)
        if message_id is None:
            found = positions(tree)
            message_id = max(found, default=None)  # the deepest: a reply is newer
            if message_id is None:
                return None
        other = sibling(tree, message_id, step)
        if other is None:
            return None
        self._store.choose_message(other.id)
        return self._store.message(other.id)

    def _shown(self, conv_id: int, message_id: int | None, role: str) -> Message:
        path = [m for m in self._store.messages(conv_id) if m.role == role]
        if message_id is None:
            if not path:
                raise GenaiError("There is no message to answer yet.", "Type one and press Enter.")
            return path[-1]
        message = self._store.message(message_id)
        if message.conversation_id != conv_id or message.role != role:
            what = "your own messages" if role == "user" else "replies"
            raise GenaiError(f"Only {what} can be {'edited' if role == 'user' else 'regenerated'}.",
                             "Pick another message.")  # fmt: skip
        return message

    async def edit(
        self, conv_id: int, message_id: int | None, text: str
    ) -> AsyncGenerator[ChatEvent, None]:
        """Send `text` in place of your message `message_id` (None: the last one) and
        stream the reply: a new branch there; the old one is kept, a step away."""
        self._check_idle()
        try:
            edited = self._shown(conv_id, message_id, "user")
        except GenaiError:
            if message_id is not None:
                raise
            parent = None  # nothing sent yet: the edit is the first message
        else:
            parent = edited.parent_id
        self._store.add_message(conv_id, "user", text, parent=parent)
        async with aclosing(self._reply(conv_id)) as events:
            async for event in events:
                yield event

    async def regenerate(
        self, conv_id: int, message_id: int | None = None
    ) -> AsyncGenerator[ChatEvent, None]:
        """A new reply beside reply `message_id` (None: a new reply to your last
        message); the earlier replies are kept, a step away."""
        self._check_idle()
        if message_id is None:
            answering = self._shown(conv_id, None, "user").id
        else:
            parent = self._shown(conv_id, message_id, "assistant").parent_id
            if parent is None:
                raise GenaiError("That reply answers no message.", "Pick another reply.")
            answering = parent
        async with aclosing(self._reply(conv_id, answering=answering)) as events:
            async for event in events:
                yield event
