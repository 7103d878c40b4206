"""Fit a conversation into the model's context: drop the oldest turns, keep the system prompt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from genai_tui.engine.core.errors import ContextOverflowError

Messages = list[dict[str, str]]


def reply_reserve(max_tokens: int, context_size: int) -> int:
    """Tokens kept free for the reply: the max_tokens asked for, at most half the context."""
    return max(1, min(max_tokens, context_size // 2))


async def fit_messages(
    messages: Messages,
    count: Callable[[Messages], Awaitable[int]],
    context_size: int,
    reserve: int,
) -> tuple[Messages, int, int]:
    """Drop the oldest turns until the prompt leaves `reserve` tokens for the reply.

    The system message (if first) and the newest message are always kept.
    Returns (messages, number dropped, prompt tokens). Raises ContextOverflowError
    when even the newest message alone does not leave room for a reply.
    """
    system = messages[:1] if messages and messages[0]["role"] == "system" else []
    turns = messages[len(system) :]
    dropped = 0
    tokens = await count(system + turns)
    while tokens > context_size - reserve and len(turns) > 1:
        # Drop one turn: the oldest message, and any assistant messages that follow
        # it, so the history still starts with a user message.
        cut = 1
        while cut < len(turns) - 1 and turns[cut]["role"] == "assistant":
            cut += 1
        turns = turns[cut:]
        dropped += cut
        tokens = await count(system + turns)
    if tokens >= context_size - min(16, reserve):
        raise ContextOverflowError(
            f"This message needs {tokens:,} tokens, but the context holds {context_size:,}.",
            "Shorten the message, or raise context_length (settings, or --ctx).",
        )
    return system + turns, dropped, tokens
