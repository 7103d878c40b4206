"""The files attached to the message being written, one line each, above the prompt:
`📎 main.py · 1,204 tokens`, an image `🖼 cat.png · 640×480`. Names are shown as text,
never markup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from genai_tui.engine.chat.attachments import Attachment



class AttachmentLine(Static):
    DEFAULT_CSS = """
    AttachmentLine { height: auto; max-height: 6; color: $text-muted; padding: 0 1; }
    """

    def show(self, attached: Sequence[Attachment]) -> None:
        lines = [f"{'🖼' if a.pixels else '📎'} {a.label}" for a in attached]
        if len(attached) == 1:
            lines.append("Backspace in an empty prompt removes it")
        elif attached:
            total = sum(a.tokens for a in attached)
            about = "~" if any(a.estimated for a in attached) else ""
            lines.append(f"{about}{total:,} tokens in all · Backspace removes the last")
        self.update(Content("\n".join(lines)))
        self.display = bool(attached)
