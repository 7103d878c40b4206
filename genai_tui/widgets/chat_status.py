"""One line under the messages: model, context used, the chat's own generation settings
(what differs from the defaults), speed, what is happening."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from genai_tui.engine.core.text import printable

if TYPE_CHECKING:
    from genai_tui.engine.core.events import ChatStats


def stats_line(stats: ChatStats) -> str:
    parts = [f"{stats.completion_tokens} tokens"]
    if stats.tokens_per_s:
        parts.append(f"{stats.tokens_per_s:.1f} tok/s")
    if stats.ttft_s is not None:
        parts.append(f"TTFT {stats.ttft_s:.2f} s")
    if stats.stopped:
        parts.append("stopped")
    elif stats.finish_reason == "length":
        parts.append("hit max tokens")
    return " · ".join(parts)


class ChatStatus(Static):
    DEFAULT_CSS = """
    ChatStatus { height: 1; padding: 0 1; color: $text-muted; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = ""
        self.state = ""
        self.context = ""
        self.speed = ""
        self.params = ""

    def set(
        self,
        *,
        model: str | None = None,
        state: str | None = None,
        context: tuple[int, int] | None = None,
        stats: ChatStats | None = None,
        live_tokens: tuple[int, float] | None = None,
        params: str | None = None,
    ) -> None:
        """`params`: the chat's settings that differ from the defaults, as
        Engine.sampling.describe gives them ("temp 0.2 · stop 1 · json"; "" for none)."""
        if model is not None:
            self.model = printable(model)
        if state is not None:
            self.state = state
        if context is not None:
            used, size = context
            self.context = f"ctx {used:,}/{size:,}" if size else ""
        if stats is not None:
            self.speed = stats_line(stats)
        if params is not None:
            self.params = printable(params)
        if live_tokens is not None:
            count, seconds = live_tokens
            rate = f" · {count / seconds:.1f} tok/s" if seconds > 0.2 and count > 1 else ""
            self.speed = f"{count} tokens{rate}"
        parts = [p for p in (self.model or "no model", self.context, self.params, self.speed,
                             self.state) if p]  # fmt: skip
        # One line, always: no layout of the whole screen for a new figure.
        self.update(Content(" · ".join(parts)), layout=False)
