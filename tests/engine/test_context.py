"""Fitting a conversation into the context: oldest turns go first, the system prompt stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from genai_tui.engine.chat.context import fit_messages, reply_reserve
from genai_tui.engine.core.errors import ContextOverflowError
from genai_tui.engine.chat.local import LocalChatModel

SYSTEM = {"role": "system", "content": "You are a terse assistant."}


def turn(i: int, words: int = 30) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"Question {i}: " + "tell me more " * (words // 3)},
        {"role": "assistant", "content": f"Answer {i}: " + "here is more " * (words // 3)},
    ]


@pytest.fixture(scope="module")
def model(smollm_path: Path):
    m = LocalChatModel(smollm_path, context_length=256)
    asyncio.run(m.load())
    yield m
    asyncio.run(m.close())


async def real_count(model: LocalChatModel, messages) -> int:
    return (await model.count_prompt(messages))[0]


def test_reply_reserve() -> None:
    assert reply_reserve(48, 256) == 48
    assert reply_reserve(1024, 256) == 128  # never more than half the context
    assert reply_reserve(0, 0) == 1


async def test_short_conversation_is_untouched(model: LocalChatModel) -> None:
    messages = [SYSTEM, *turn(1, 6), {"role": "user", "content": "And?"}]
    fitted, dropped, tokens = await fit_messages(
        messages, lambda m: real_count(model, m), 256, 48
    )
    assert fitted == messages and dropped == 0
    assert tokens == await real_count(model, messages)


async def test_long_conversation_drops_oldest_turns_keeps_system(model: LocalChatModel) -> None:
    newest = {"role": "user", "content": "What was my last question?"}
    messages = [SYSTEM, *turn(1), *turn(2), *turn(3), *turn(4), *turn(5), newest]
    assert await real_count(model, messages) > 256  # does not fit as is
    fitted, dropped, tokens = await fit_messages(
        messages, lambda m: real_count(model, m), 256, 48
    )
    assert fitted[0] == SYSTEM
    assert fitted[-1] == newest
    assert fitted[1]["role"] == "user"  # history still starts with a question
    assert dropped > 0 and dropped % 2 == 0  # whole turns
    assert fitted[1:] == messages[1 + dropped :]  # the newest turns, in order
    assert tokens == await real_count(model, fitted) <= 256 - 48
    # dropping one turn fewer would not have fit
    assert await real_count(model, [SYSTEM, *messages[dropped - 1 :]]) > 256 - 48


async def test_without_a_system_prompt(model: LocalChatModel) -> None:
    newest = {"role": "user", "content": "Hi"}
    messages = [*turn(1), *turn(2), *turn(3), *turn(4), *turn(5), newest]
    fitted, dropped, _ = await fit_messages(messages, lambda m: real_count(model, m), 256, 48)
    assert dropped > 0 and fitted[0]["role"] == "user" and fitted[-1] == newest


async def test_single_message_bigger_than_the_context(model: LocalChatModel) -> None:
    messages = [SYSTEM, *turn(1), {"role": "user", "content": "word " * 400}]
    with pytest.raises(ContextOverflowError) as err:
        await fit_messages(messages, lambda m: real_count(model, m), 256, 48)
    assert "context holds 256" in str(err.value)
    assert "context_length" in err.value.hint


async def test_newest_message_squeezes_the_reply_before_overflowing() -> None:
    async def count(messages) -> int:
        return sum(int(m["content"]) for m in messages)

    # 200 of 256: no room for the full 48-token reserve, but still room for a reply
    fitted, dropped, tokens = await fit_messages(
        [{"role": "user", "content": "100"}, {"role": "user", "content": "200"}], count, 256, 48
    )
    assert (dropped, tokens) == (1, 200)
    with pytest.raises(ContextOverflowError):  # 245: fewer than 16 tokens left
        await fit_messages([{"role": "user", "content": "245"}], count, 256, 48)
