"""The chat turn: one reply from any chat model, the one copy used by the chat screen,
the CLI, compare and the create flows (`model_reply` is its unsaved core).

A turn fits the history into the model's context, streams the reply while splitting
`<think>` reasoning from the answer, saves the reply with its stats and cost (a
failed or abandoned reply is kept, marked), and ends with a `ChatDone` that carries
the stats and the cost.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack, aclosing
from typing import TYPE_CHECKING, Any, Protocol

from genai_tui.engine.chat.context import fit_messages, reply_reserve
from genai_tui.engine.chat.thinking import ThinkSplitter
from genai_tui.engine.core.errors import GenerationError
from genai_tui.engine.core.events import (
    ChatDone,
    ChatEvent,
    ChatStats,
    ContextTrimmed,
    ThinkingDelta,
    TokenDelta,
)
from genai_tui.engine.core.message_tree import path_to

if TYPE_CHECKING:
    from genai_tui.engine.chat.local import SamplingParams
    from genai_tui.engine.core.store import Conversation, Message, Store
    from genai_tui.engine.gpu.residency import Residency

DEFAULT_TITLE = "New chat"

Messages = list[dict[str, str]]
StreamItem = TokenDelta | ThinkingDelta | ChatStats


class ChatModel(Protocol):
    """What a turn needs of a model, local (llama.cpp) or remote (OpenAI-compatible).

    `stream` yields the reply's deltas and, last, its `ChatStats`. `residency_key` is
    the key a local model holds the GPU under (None for a remote model: no GPU turn).
    """

    name: str
    context_size: int
    residency_key: str | None

    @property
    def loaded(self) -> bool: ...

    async def count_prompt(self, messages: Messages) -> tuple[int, str]: ...

    def stream(
        self,
        messages: Messages,
        params: SamplingParams,
        cancel: threading.Event,
        prompt_tokens: int = 0,
    ) -> AsyncGenerator[StreamItem, None]: ...

    def cost(self, stats: ChatStats) -> float | None: ...


def title_from(text: str, limit: int = 60) -> str:
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), DEFAULT_TITLE)
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def add_user_message(store: Store, conv: Conversation, text: str, title: str = "") -> None:
    """Save the user's message; a new chat takes its title from it (or from `title`)."""
    store.add_message(conv.id, "user", text)
    if conv.title == DEFAULT_TITLE:
        store.update_conversation(conv.id, title=title_from(title or text))


def history(store: Store, conv: Conversation, path: Sequence[Message] | None = None) -> Messages:
    """The conversation's active path (or `path`) as chat messages, its system prompt
    first: the model sees one branch only."""
    path = store.messages(conv.id) if path is None else path
    messages = [{"role": m.role, "content": m.content} for m in path]
    if conv.system_prompt:
        messages.insert(0, {"role": "system", "content": conv.system_prompt})
    return messages


async def model_reply(
    model: ChatModel,
    messages: Messages,
    params: SamplingParams,
    cancel: threading.Event,
    residency: Residency | None = None,
    retry_hint: str = "Send the message again to load it back.",
) -> AsyncGenerator[ChatEvent | ChatStats, None]:
    """One reply from `model` to `messages`, saved nowhere: the core of every turn.

    A local model takes its turn on the GPU through `residency` (it waits rather than
    collide with an image job); if it was unloaded meanwhile, the reply fails with
    `retry_hint`. The messages are fitted into the context (`ContextTrimmed` says what
    was left out), reasoning is split from the answer (`ThinkingDelta` / `TokenDelta`),
    and the last item is the reply's `ChatStats`.
    """
    async with AsyncExitStack() as stack:
        if residency is not None and model.residency_key is not None:
            await stack.enter_async_context(residency.gpu_slot(model.residency_key))
        if not model.loaded:
            raise GenerationError(
                f"{model.name} was unloaded to make room for another model.", retry_hint
            )
        prompt_text = ""

        async def count(msgs: Messages) -> int:
            nonlocal prompt_text
            tokens, prompt_text = await model.count_prompt(msgs)
            return tokens

        reserve = reply_reserve(params.max_tokens, model.context_size)
        fitted, dropped, prompt_tokens = await fit_messages(
            messages, count, model.context_size, reserve
        )
        if dropped:
            yield ContextTrimmed(dropped, prompt_tokens, model.context_size)
        splitter = ThinkSplitter(start_thinking=prompt_text.rstrip().endswith("<think>"))
        stats: ChatStats | None = None
        async with aclosing(model.stream(fitted, params, cancel, prompt_tokens)) as items:
            async for item in items:
                if isinstance(item, ChatStats):
                    stats = item
                    continue
                # A server may send reasoning apart from the answer (reasoning_content).
                pieces = [(True, item.text)] if isinstance(item, ThinkingDelta) else (
                    splitter.feed(item.text))  # fmt: skip
                for is_thinking, piece in pieces:
                    yield ThinkingDelta(piece) if is_thinking else TokenDelta(piece)
        for is_thinking, piece in splitter.flush():
            yield ThinkingDelta(piece) if is_thinking else TokenDelta(piece)
        if stats is None:
            raise GenerationError(f"{model.name} ended its reply without a summary.",
                                  "The partial reply was kept. Try again.")  # fmt: skip
        yield stats


async def chat_turn(
    store: Store,
    conv: Conversation,
    model: ChatModel,
    params: SamplingParams,
    cancel: threading.Event,
    residency: Residency | None = None,
    retry_hint: str = "Send the message again to load it back.",
    answering: int | None = None,
) -> AsyncGenerator[ChatEvent, None]:
    """Stream `model`'s reply to `conv`'s history (`model_reply`) and save it.

    The reply answers the active path's last message, or `answering` (a regenerate):
    then the model sees the path up to that message, and the new reply is saved
    beside the earlier ones as a branch; a regenerate that fails is not saved (the
    earlier replies stay shown).
    """
    path = store.messages(conv.id)
    if answering is not None:
        path = path_to(store.message_tree(conv.id), answering)
    parent = path[-1].id if path else None
    answer: list[str] = []
    thinking: list[str] = []
    saved = False

    def save(stats: ChatStats | None, cost: float | None = None) -> int | None:
        nonlocal saved
        saved = True
        text = "".join(answer)
        if not text and not thinking and (stats is None or stats.stopped):
            return None  # stopped before the first token: nothing to keep
        if stats is None and answering is not None:
            return None  # a failed regenerate: the replies shown before stay
        fields: dict[str, Any] = {
            "thinking": "".join(thinking).strip(),
            "model": model.name,
            "provider": conv.provider,
        }
        if stats is not None:
            fields.update(
                prompt_tokens=stats.prompt_tokens,
                completion_tokens=stats.completion_tokens,
                ttft_s=stats.ttft_s,
                tokens_per_s=stats.tokens_per_s,
                duration_s=stats.duration_s,
                finish_reason=stats.finish_reason,
                stopped=int(stats.stopped),
                cost=cost,
            )
        else:
            fields.update(finish_reason="error", stopped=1)
        return store.add_message(conv.id, "assistant", text, parent=parent, **fields).id

    stats: ChatStats | None = None
    reply = model_reply(model, history(store, conv, path), params, cancel, residency,
                        retry_hint)  # fmt: skip
    try:
        async with aclosing(reply) as events:
            async for event in events:
                if isinstance(event, ChatStats):
                    stats = event
                    continue
                if isinstance(event, TokenDelta):
                    answer.append(event.text)
                elif isinstance(event, ThinkingDelta):
                    thinking.append(event.text)
                yield event
        assert stats is not None  # model_reply ends with its stats or raises
        cost = model.cost(stats)
        message_id = save(stats, cost)
        yield ChatDone("".join(answer), "".join(thinking).strip(), stats, message_id, cost)
    finally:
        if not saved:
            # Failed or abandoned mid-reply: keep what was produced, marked stopped.
            save(None)
