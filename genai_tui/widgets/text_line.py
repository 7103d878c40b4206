"""One line of text that changes often (a caption, a status), drawn as one cached strip.

`update` repaints this widget only, never the layout, and does nothing when the text is
the same; the strip is built once per text and width. Outside text is shown through
`printable` (visible stand-ins, never markup or escapes).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.filter import LineFilter
from textual.strip import Strip
from textual.widget import Widget

from genai_tui.engine.core.text import printable
from genai_tui.widgets.half_cell import filters_for_own_strips


class TextLine(Widget):
    """A one-line text, left-aligned or centred (`align`), cut to the widget's width."""

    DEFAULT_CSS = """
    TextLine { height: 1; width: 1fr; }
    """

    def __init__(self, text: str = "", *, align: str = "left", id: str | None = None,
                 classes: str | None = None) -> None:  # fmt: skip
        super().__init__(id=id, classes=classes)
        self.text = " ".join(printable(text).split())
        self.align = align
        self._strip: Strip | None = None
        self._width = -1
        self._style: Style | None = None  # rich_style walks every ancestor: once per style

    def update(self, text: str) -> None:
        text = " ".join(printable(text).split())
        if text != self.text:
            self.text = text
            self.redraw()

    def redraw(self) -> None:
        """Build the strip again at the next frame (one line of fixed size: no layout)."""
        self._strip = None
        self.refresh()

    def segments(self, width: int, style: Style) -> list[Segment]:
        """What the line shows; a subclass draws more (the step progress: a bar)."""
        left = max(0, (width - cell_len(self.text)) // 2) if self.align == "center" else 0
        return [Segment(" " * left + self.text, style)] if self.text or left else []

    @property
    def line_style(self) -> Style:
        """This widget's Rich style, kept until its styles change (not made per text)."""
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None
        self._style = None

    def get_line_filters(self) -> list[LineFilter]:
        return filters_for_own_strips(self, text=True)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._strip is None or width != self._width:
            self._width = width
            style = self.line_style
            self._strip = Strip(self.segments(width, style)).adjust_cell_length(width, style)
        return self._strip if y == 0 else Strip.blank(width, self.line_style)
