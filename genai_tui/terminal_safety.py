"""The one choke point between widgets and the terminal: no control character gets through.

Rich `Text` and Textual `Content` keep ESC, BEL and the C1 range, and a `Strip`
writes them to the terminal as they are: a process name, a file name or a model
reply carrying `ESC]52;…BEL` would set the clipboard, `ESC]2;…` the window
title. Call sites show outside text through `printable` (visible stand-ins such
as ␛); `ControlFilter` is installed on the App as a line filter, so every line
a widget renders is cleaned last, and a screen that forgets `printable` still
cannot write an escape. Control characters are zero cells wide to Rich, so
dropping them leaves the layout as it was.

Segments marked as control (cursor moves Textual makes itself) pass. Widgets
that paint terminal graphics (textual-image's Sixel widget) render their own
lines and never pass through the filter.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

# C0 (tab and newline too: a strip is one line), DEL, C1, and the bidi overrides
# that reorder what the rest of the line appears to say.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# The same, less newline and tab, for text that leaves as text (the clipboard).
_CLIPBOARD_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class ControlFilter(LineFilter):
    """Drop control characters from the text of every rendered segment."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        search = _UNSAFE.search
        if not any(search(text) for text, _style, control in segments if not control):
            return segments
        return [
            segment
            if segment.control or not search(segment.text)
            else Segment(_UNSAFE.sub("", segment.text), segment.style, segment.control)
            for segment in segments
        ]


def clipboard_text(text: str) -> str:
    """What a copy puts on the clipboard: no control characters but newline and tab.

    A pasted reply holding `ESC[201~` would end a shell's bracketed paste and run
    the rest as typed commands; `\r` would run the line before it.
    """
    return _CLIPBOARD_UNSAFE.sub("", text.replace("\r\n", "\n"))

