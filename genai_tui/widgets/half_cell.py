"""A picture in coloured half cells, drawn straight into Textual strips.

Each cell is "▀" coloured with the top pixel, on the bottom pixel as background, so a
cell holds two square-ish pixels. The lines are built once per picture and size: one
Rich Style per colour pair, reused from a shared dict, and neighbouring cells of the
same pair joined into one segment. A frame that redraws the picture gets those strips
as they are (`render_line`), so no Text, Segment or Style is made per frame.

A live preview is drawn coarse: from at most `PREVIEW_PIXELS` across, blown up with
nearest-neighbour, so its lines are a few long segments and cost little to draw.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.cells import cell_len
from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.filter import ANSIToTruecolor, LineFilter
from textual.strip import Strip
from textual.widget import Widget

from genai_tui.engine.core.text import printable
from genai_tui.terminal_safety import ControlFilter

UPPER_HALF = "▀"
PREVIEW_PIXELS = 32  # a preview is drawn from at most this many pixels across
MAX_STYLES = 1 << 16  # colour pairs kept; the dict starts again past this

_COLORS: dict[int, Color] = {}  # 0x..BBGGRR -> Color
_STYLES: dict[tuple[int, int], Style] = {}  # (top, bottom) -> Style


def _color(rgb: int) -> Color:
    color = _COLORS.get(rgb)
    if color is None:
        if len(_COLORS) >= MAX_STYLES:
            _COLORS.clear()
        red, green, blue = rgb & 0xFF, rgb >> 8 & 0xFF, rgb >> 16 & 0xFF
        # Color.from_rgb, without its detours (a third of the time; a new picture makes
        # hundreds).
        color = _COLORS[rgb] = Color(f"#{red:02x}{green:02x}{blue:02x}", ColorType.TRUECOLOR,
                                     None, ColorTriplet(red, green, blue))  # fmt: skip
    return color


def pair_style(top: int, bottom: int) -> Style:
    """The style of a half cell: colour = top pixel, background = bottom pixel, each a
    packed 0x..BBGGRR (the top byte is ignored); made once per pair and reused."""
    key = (top, bottom)
    style = _STYLES.get(key)
    if style is None:
        if len(_STYLES) >= MAX_STYLES:
            _STYLES.clear()
        style = _STYLES[key] = Style.from_color(_color(top), _color(bottom))
    return style


def filters_for_own_strips(widget: Widget, text: bool) -> list[LineFilter]:
    """The App's line filters, less those with nothing to do on strips a widget builds
    itself: ANSIToTruecolor (their colours are 24-bit or theme colours already) and, with
    `text` False (only "▀" and spaces), the control-character filter. Each would copy
    every segment of every redrawn line; the others (no colour, dim) still apply."""
    skip: tuple[type, ...] = (ANSIToTruecolor,) if text else (ANSIToTruecolor, ControlFilter)
    return [f for f in widget.app.get_line_filters() if not isinstance(f, skip)]


def fit(pixels: tuple[int, int], cells: tuple[int, int]) -> tuple[int, int]:
    """The largest (columns, pixel rows) a picture of `pixels` takes in `cells`, its aspect
    ratio kept (a half cell is about square); the pixel rows are even (whole cells)."""
    width, height = pixels
    cols, rows = cells
    if width <= 0 or height <= 0 or cols <= 0 or rows <= 0:
        return 0, 0
    if width * 2 * rows >= height * cols:  # as wide as the box
        tall = max(2, 2 * round(cols * height / width / 2))
        return cols, min(tall, 2 * rows)
    return max(1, min(cols, round(2 * rows * width / height))), 2 * rows


def picture_rows(image: Any, cols: int, tall: int, coarse: bool = False) -> list[list[Segment]]:
    """`image` scaled to `cols` x `tall` pixels, as one list of "▀" segments per cell row."""
    from PIL import Image

    if coarse and max(image.size) > PREVIEW_PIXELS:
        scale = PREVIEW_PIXELS / max(image.size)
        small = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(small, Image.Resampling.BOX)
    if image.size != (cols, tall):
        if coarse or cols > image.width:  # blown up: keep the blocks (long runs)
            image = image.resize((cols, tall), Image.Resampling.NEAREST)
        else:
            image = image.resize((cols, tall), Image.Resampling.LANCZOS, reducing_gap=3.0)
    # Four bytes a pixel, read as one native int each (no Python loop over bytes).
    packed = memoryview(image.convert("RGBX").tobytes()).cast("I").tolist()
    if sys.byteorder == "big":
        packed = [int.from_bytes(p.to_bytes(4, "big"), "little") for p in packed]
    rows: list[list[Segment]] = []
    for y in range(0, tall - 1, 2):
        top = packed[y * cols : (y + 1) * cols]
        bottom = packed[(y + 1) * cols : (y + 2) * cols]
        segments: list[Segment] = []
        run_top = run_bottom = -1
        length = 0
        for t, b in zip(top, bottom, strict=True):
            if t == run_top and b == run_bottom:
                length += 1
                continue
            if length:
                segments.append(Segment(UPPER_HALF * length, pair_style(run_top, run_bottom)))
            run_top, run_bottom, length = t, b, 1
        if length:
            segments.append(Segment(UPPER_HALF * length, pair_style(run_top, run_bottom)))
        rows.append(segments)
    return rows


class HalfCellPicture(Widget):
    """A picture (or a one-line placeholder before it has one), centred, as large as fits.

    `show` swaps the pixels and repaints this widget only: its size never depends on the
    picture, so previews and results never lay the screen out again. `draws` counts how
    often the lines were built (once per picture and size).
    """

    DEFAULT_CSS = """
    HalfCellPicture { width: 1fr; height: 1fr; color: $text-muted; }
    """

    def __init__(self, placeholder: str = "", *, id: str | None = None,
                 classes: str | None = None) -> None:  # fmt: skip
        super().__init__(id=id, classes=classes)
        self.placeholder = printable(placeholder)
        self.image: Any = None
        self.coarse = False
        self.draws = 0
        self._lines: list[Strip] = []
        self._drawn_at: tuple[int, int] | None = None  # the size the lines were built for
        self._blank = Strip([])
        self._style: Style | None = None  # rich_style walks every ancestor: once per style

    def show(self, image: Any, *, coarse: bool = False) -> None:
        """Draw a PIL image; `coarse` for a live preview (see `PREVIEW_PIXELS`)."""
        self.image, self.coarse = image, coarse
        self._drawn_at = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn_at = None  # the letterbox takes the (new) background
        self._style = None

    def get_line_filters(self) -> list[LineFilter]:
        # Only "▀", spaces and the placeholder (printable, ours) are drawn here.
        return filters_for_own_strips(self, text=not self.image)

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._drawn_at != (width, height):
            self._draw(width, height)
        return self._lines[y] if 0 <= y < len(self._lines) else self._blank

    def _draw(self, width: int, height: int) -> None:
        self.draws += 1
        self._drawn_at = (width, height)
        if self._style is None:
            self._style = self.rich_style
        style = self._style
        blank = self._blank = Strip.blank(width, style)
        lines = [blank] * height
        if self.image is None:
            if self.placeholder and height and width:
                left = max(0, (width - cell_len(self.placeholder)) // 2)
                text = [Segment(" " * left + self.placeholder, style)]
                lines[height // 2] = Strip(text).adjust_cell_length(width, style)
            self._lines = lines
            return
        cols, tall = fit(self.image.size, (width, height))
        if not cols:
            self._lines = lines
            return
        rows = picture_rows(self.image, cols, tall, self.coarse)
        left, top = (width - cols) // 2, (height - len(rows)) // 2
        pad_left = [Segment(" " * left, style)] if left else []
        pad_right = [Segment(" " * (width - cols - left), style)] if width - cols - left else []
        for y, segments in enumerate(rows, top):
            lines[y] = Strip([*pad_left, *segments, *pad_right], width)
        self._lines = lines
