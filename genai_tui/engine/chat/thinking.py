"""Separate `<think>…</think>` reasoning (DeepSeek-R1 style) from the answer, as it streams."""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


class ThinkSplitter:
    """Feed streamed text; get back (is_thinking, text) pieces.

    Tags may arrive split across tokens, so a trailing fragment that could be
    the start of a tag is held back until the next feed (or `flush`).
    Some templates open the thinking block in the prompt, so the reply starts
    inside it: pass `start_thinking=True` then.
    """

    def __init__(self, start_thinking: bool = False) -> None:
        self.thinking = start_thinking
        self._pending = ""
        self._seen_answer = False
        self._after_close = False  # newlines right after </think> are dropped

    def feed(self, text: str) -> list[tuple[bool, str]]:
        buf = self._pending + text
        self._pending = ""
        if self._after_close:
            # The newlines after </think> may come in later tokens than the tag.
            buf = buf.lstrip("\n")
            self._after_close = not buf
        out: list[tuple[bool, str]] = []
        while buf:
            tag = CLOSE if self.thinking else OPEN
            idx = buf.find(tag)
            if idx >= 0:
                before, buf = buf[:idx], buf[idx + len(tag) :]
                if before:
                    out.append((self.thinking, before))
                if not self.thinking and (self._seen_answer or before.strip()):
                    # A <think> in the middle of an answer is just text.
                    out.append((False, tag))
                    continue
                self.thinking = not self.thinking
                if not self.thinking:
                    buf = buf.lstrip("\n")
                    self._after_close = not buf
                continue
            keep = _partial_suffix(buf, tag)
            emit = buf[: len(buf) - keep] if keep else buf
            if emit:
                out.append((self.thinking, emit))
            self._pending = buf[len(buf) - keep :] if keep else ""
            break
        for thinking, piece in out:
            if not thinking and piece.strip():
                self._seen_answer = True
        return out

    def flush(self) -> list[tuple[bool, str]]:
        rest, self._pending = self._pending, ""
        return [(self.thinking, rest)] if rest else []


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def split_thinking(text: str) -> tuple[str, str]:
    """Split a complete reply into (thinking, answer)."""
    splitter = ThinkSplitter()
    thinking: list[str] = []
    answer: list[str] = []
    for is_thinking, piece in splitter.feed(text) + splitter.flush():
        (thinking if is_thinking else answer).append(piece)
    return "".join(thinking).strip(), "".join(answer)
