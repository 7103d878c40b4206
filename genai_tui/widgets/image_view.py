"""Images in the terminal: the renderer chosen by setting, and a tile holding one picture
with a caption.

Half cells are drawn by our own widget (half_cell.HalfCellPicture: cached strips, no
per-frame Rich objects); Sixel, kitty and the Unicode fallback by textual-image, imported
only when one of those is used (terminal_graphics says which this terminal can show).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widget import Widget
from textual.widgets import Static

from genai_tui.widgets.half_cell import HalfCellPicture
from genai_tui.widgets.text_line import TextLine

RENDERERS = ("auto", "kitty", "sixel", "halfcell", "unicode")


_CLASSES: dict[str, type[Widget]] = {}


def load_picture(path: Path) -> Any:
    """A picture file as an RGB PIL image; None when it is gone or unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as src:
            return src.convert("RGB")
    except OSError:
        return None


class _Guarded:
    """A textual-image renderable that draws nothing (instead of raising) at a size it
    cannot scale to, as happens for a frame while a grid is laid out again."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __rich_console__(self, console: Any, options: Any) -> Any:
        try:
            return list(self.inner.__rich_console__(console, options))
        except ValueError:
            return []

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        return self.inner.__rich_measure__(console, options)


def image_class(renderer: str) -> type[Widget]:
    """The textual-image widget for a renderer setting; "auto" is what the terminal can
    really show (terminal_graphics: textual-image's detection, checked against kitty's
    version)."""
    if renderer in _CLASSES:
        return _CLASSES[renderer]
    from textual_image import widget as w

    from genai_tui.terminal_graphics import current_choice

    setting, renderer = renderer, current_choice(renderer).renderer

    bases: dict[str, Any] = {
        "auto": w.Image,
        "kitty": w.TGPImage,
        "sixel": w.SixelImage,
        "halfcell": w.HalfcellImage,
        "unicode": w.UnicodeImage,
    }
    base = bases.get(renderer, w.Image)

    def render(self: Any) -> Any:
        # Mid-layout a widget can be a cell wide and no pixels tall; textual-image's
        # resize then fails. Draw nothing until the layout settles.
        size = self.content_size
        if size.width < 1 or size.height < 1:
            return ""
        inner = base.render(self)
        return _Guarded(inner) if hasattr(inner, "__rich_console__") else inner

    def swap(self: Any, image: Any) -> None:
        # New pixels: repaint only. The box fixes this widget's size in cells, so the
        # layout of the whole screen that textual-image's own setter asks for is not
        # needed (and is too slow for live previews).
        if self._renderable:
            self._renderable.cleanup()
            self._renderable = None
        self._image = image
        self._image_width, self._image_height = image.size
        self.refresh()

    members: dict[str, Any] = {"render": render}
    if base is not w.SixelImage:  # Sixel draws through a child widget: keep its setter
        members["swap"] = swap
    cls = type(f"Safe{base.__name__}", (base,), members, Renderable=base._Renderable)
    _CLASSES[setting] = cls
    return cls


def half_cells(renderer: str) -> bool:
    """Whether pictures for this renderer setting are drawn in half cells (by us)."""
    if renderer == "halfcell":
        return True
    from genai_tui.terminal_graphics import current_choice

    return current_choice(renderer).renderer == "halfcell"


def picture_widget(renderer: str, placeholder: str = "", *, id: str | None = None,
                   shape: tuple[int, int] = (0, 0)) -> HalfCellPicture | PictureBox:  # fmt: skip
    """The widget that shows pictures for `renderer`; both kinds have `show(image)`."""
    if half_cells(renderer):
        return HalfCellPicture(placeholder, id=id, classes="picture")
    return PictureBox(renderer, placeholder, id=id, shape=shape)


class PictureBox(Container):
    """A textual-image picture (Sixel, kitty, Unicode) as large as fits this box, its
    aspect ratio kept, centred.

    textual-image draws at the top left of its widget; the box sizes the widget to
    the picture (in cells, from the terminal's cell size) so it sits in the middle.
    """

    DEFAULT_CSS = """
    PictureBox { align: center middle; height: 1fr; width: 1fr; }
    PictureBox > .placeholder { width: auto; height: auto; color: $text-muted; }
    """

    def __init__(self, renderer: str, placeholder: str = "", id: str | None = None,
                 shape: tuple[int, int] = (0, 0)) -> None:  # fmt: skip
        super().__init__(id=id)
        self.renderer = renderer
        self.placeholder = placeholder
        self._picture: Any = None
        self._pixels = shape  # known ahead (the size asked for): sized once, at mount
        self._cells = (0, 0)

    def compose(self) -> ComposeResult:
        if self._pixels[0] and self._pixels[1]:
            # The picture's shape is known: its widget exists (empty) from the start, so
            # showing previews and the result never changes the layout.
            self._picture = image_class(self.renderer)(None, classes="picture")
            yield self._picture
        else:
            yield Static(Text(self.placeholder), classes="placeholder", markup=False)

    def show(self, image: Any, *, coarse: bool = False) -> None:
        """Show a PIL image; once the widget exists only its pixels change (no layout).
        (`coarse`, for previews, matters to half cells only.)"""
        self._pixels = image.size
        if self._picture is None:
            self._picture = image_class(self.renderer)(image, classes="picture")
            self.query(".placeholder").remove()
            self.mount(self._picture)
        elif hasattr(self._picture, "swap"):
            self._picture.swap(image)
        else:
            self._picture.image = image
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        width, height = self._pixels
        box = self.content_size
        if self._picture is None or not width or not height or not box.width or not box.height:
            return
        from textual_image._terminal import get_cell_size

        cell = get_cell_size()
        ratio = width * cell.height / (height * cell.width)  # columns per row
        rows = box.height
        cols = round(rows * ratio)
        if cols > box.width:
            cols = box.width
            rows = max(1, round(cols / ratio))
        size = (max(1, cols), max(1, rows))
        if size != self._cells:  # a style change lays out the whole screen again
            self._cells = size
            self._picture.styles.width, self._picture.styles.height = size


class ImageTile(Vertical, can_focus=True):
    """One picture (or the placeholder before it exists) over a one-line caption."""

    DEFAULT_CSS = """
    ImageTile { height: 1fr; width: 1fr; border: round $panel; }
    ImageTile:focus { border: round $accent; }
    ImageTile > .caption { height: 1; width: 100%; color: $text-muted; }
    """

    def __init__(self, renderer: str, caption: str = "", *, index: int = 0,
                 id: str | None = None, shape: tuple[int, int] = (0, 0)) -> None:  # fmt: skip
        super().__init__(id=id)
        self.shape = shape
        self.renderer = renderer
        self.index = index
        self.caption = caption
        self.path: Any = None  # the saved file, once there is one
        self.image_id: int | None = None
        self._caption: TextLine | None = None

    def compose(self) -> ComposeResult:
        self.picture = picture_widget(self.renderer, f"#{self.index + 1}", shape=self.shape)
        yield self.picture
        self._caption = TextLine(self.caption, align="center", classes="caption")
        yield self._caption

    def show(self, image: Any, caption: str | None = None, *, preview: bool = False) -> None:
        """Show a PIL image: a live preview (drawn coarse) or the result."""
        self.picture.show(image, coarse=preview)
        if caption is not None:
            self.set_caption(caption)

    def set_caption(self, caption: str) -> None:
        self.caption = caption  # shown once composed, if not yet
        if self._caption is not None:
            self._caption.update(caption)
