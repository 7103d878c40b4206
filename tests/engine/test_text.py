"""Text from models is data: control characters are shown, never obeyed."""

from __future__ import annotations

import pytest

from genai_tui.engine.core.text import human_duration, last_code_block, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\u241b[2J"),  # ESC: clear-screen cannot fire
        ("ding\x07", "ding\u2407"),  # BEL
        ("\x9b31m", "\\x9b31m"),  # one-byte CSI
        ("\x1b]0;title\x07", "\u241b]0;title\u2407"),  # OSC: set window title
        ("a\x00b", "a\u2400b"),  # NUL
        ("del\x7f", "del\u2421"),
        ("over\rwrite", "over\u240dwrite"),  # a lone CR would overwrite the line
        ("\x85next", "\\x85next"),  # C1 NEL
    ],
)
def test_control_characters_become_visible(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_newlines_tabs_and_unicode_are_kept() -> None:
    text = "line 1\n\tindented\nnaïve café — 你好 🙂"
    assert printable(text) == text


def test_crlf_becomes_lf() -> None:
    assert printable("a\r\nb\r\n") == "a\nb\n"


def test_no_control_character_survives() -> None:
    shown = printable("".join(chr(c) for c in range(0x00, 0xA0)))
    for ch in shown:
        assert ch in "\n\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F), repr(ch)


def test_last_code_block_picks_the_last_fence() -> None:
    md = (
        "Here:\n```python\nprint(1)\n```\n"
        "And then:\n```bash\necho one\necho two\n```\nDone."
    )
    assert last_code_block(md) == "echo one\necho two"


def test_last_code_block_tilde_fence_and_nested_backticks() -> None:
    md = "~~~\n```\nnot a fence here\n```\n~~~\n"
    assert last_code_block(md) == "```\nnot a fence here\n```"


def test_last_code_block_unclosed_final_fence_counts() -> None:
    # a reply stopped mid-code is still copyable
    assert last_code_block("Try:\n```js\nconst a = 1;\nconst b") == "const a = 1;\nconst b"


def test_last_code_block_none_without_fences() -> None:
    assert last_code_block("just `inline` code") is None
    assert last_code_block("") is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (9.9, "9s"), (60, "1m00s"), (75, "1m15s"), (3599, "59m59s"), (3725, "1h02m")],
)
def test_human_duration(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown
