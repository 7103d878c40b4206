"""`<think>` reasoning is split from the answer as it streams, whatever the token boundaries."""

from __future__ import annotations

import pytest

from genai_tui.engine.chat.thinking import ThinkSplitter, split_thinking


def run(pieces: list[str], start_thinking: bool = False) -> tuple[str, str]:
    splitter = ThinkSplitter(start_thinking=start_thinking)
    thinking, answer = [], []
    out = [p for piece in pieces for p in splitter.feed(piece)] + splitter.flush()
    for is_thinking, text in out:
        assert text, "no empty pieces"
        (thinking if is_thinking else answer).append(text)
    return "".join(thinking), "".join(answer)


REPLY = "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?"


def test_whole_reply() -> None:
    assert run([REPLY]) == ("\nThe user greets me.\n", "Hello! How can I help?")
    assert split_thinking(REPLY) == ("The user greets me.", "Hello! How can I help?")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_tags_split_across_tokens(size: int) -> None:
    chunks = [REPLY[i : i + size] for i in range(0, len(REPLY), size)]
    assert run(chunks) == run([REPLY])


def test_every_split_point() -> None:
    for cut in range(1, len(REPLY)):
        assert run([REPLY[:cut], REPLY[cut:]]) == run([REPLY]), cut


def test_partial_tag_is_held_back_then_released() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<thi") == []  # could still become <think>
    assert splitter.feed("nk>why") == [(True, "why")]
    assert splitter.feed("</th") == []
    assert splitter.feed("ink>ok") == [(False, "ok")]


def test_start_thinking_when_template_opens_the_block() -> None:
    assert run(["I should ", "say hi.</th", "ink>\nHi!"], start_thinking=True) == (
        "I should say hi.",
        "Hi!",
    )


def test_think_in_the_middle_of_an_answer_stays_text() -> None:
    text = "Use the <think> tag to show reasoning, then </think>."
    assert run([text]) == ("", text)
    # the same when the answer came in an earlier token
    assert run(["Sure.", " Write <think>", " first."]) == ("", "Sure. Write <think> first.")


def test_no_tags_is_all_answer() -> None:
    assert run(["Hello", " world", " <", "3"]) == ("", "Hello world <3")


def test_trailing_lookalike_is_flushed_as_text() -> None:
    assert run(["The end <thi"]) == ("", "The end <thi")


def test_unclosed_thinking_stays_thinking() -> None:
    # a reply cut off by max_tokens while still reasoning
    assert run(["<think>step 1", ", step 2</thi"]) == ("step 1, step 2</thi", "")
