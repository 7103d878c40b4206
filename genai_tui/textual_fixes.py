"""Work-arounds inside Textual (pinned in pyproject), each applied once by the App and
undone by nothing.

- `unpin_styles_caches`: a leak (Textualize/textual#6665).
- `render_only_what_changed`: every frame re-rendered widgets that were not touched.
- `fresh_table_widths`: a table drawn before it measured its new rows kept those lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any


def unpin_styles_caches() -> None:
    """Let Textual free the line caches of removed widgets.

    Textual's `StylesCache.get_inner_outer` is an `lru_cache` on an instance method
    (Textualize/textual#6665): its 1024 entries keep the StylesCache of widgets long
    removed, with every line they rendered (in a long chat: about half of the memory
    each reply added, until 1024 widgets had come and gone). Its
    answer depends on the two colours only, so it is cached on those instead.
    """
    import inspect

    from textual._styles_cache import StylesCache

    pinned = inspect.getattr_static(StylesCache, "get_inner_outer", None)
    if not hasattr(pinned, "cache_clear"):
        return  # done already, or fixed upstream
    compute = pinned.__wrapped__
    by_colours = lru_cache(1024)(lambda base, background: compute(None, base, background))
    StylesCache.get_inner_outer = (  # type: ignore[method-assign]
        lambda _self, base, background: by_colours(base, background)
    )
    pinned.cache_clear()


def render_only_what_changed() -> None:
    """Render, for a partial frame, only the widgets whose visible part meets the
    changed area.

    Textual's `Compositor._get_renders` picks the widgets to render by their *clip*
    (the container's region), so a streaming reply re-rendered every widget in its
    pane each frame (the prompt box, a TextArea, ~20 % of the event loop's time while
    a reply streamed), only to throw their lines away: a partial update keeps the
    changed spans alone. A widget whose visible region misses the crop contributes
    nothing to the frame and is now skipped; the others render as before.
    """
    from textual._compositor import Compositor
    from textual.geometry import Region

    if getattr(Compositor._get_renders, "_genai_tui", False):
        return

    def get_renders(
        self: Any, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Any]]]:
        # Textual 8.2.8's body, but a widget is picked by its visible region, not its clip.
        visible = self.visible_widgets.items()
        if crop:
            meets = crop.overlaps
            picked = [(w, region, clip) for w, (region, clip) in visible
                      if meets(clip) and meets(region.intersection(clip))]  # fmt: skip
        else:
            picked = [(w, region, clip) for w, (region, clip) in visible]
        for widget, region, clip in picked:
            if clip.contains_region(region):
                yield region, clip, widget.render_lines(Region(0, 0, region.width, region.height))
            else:
                x, y, width, height = region.intersection(clip)
                if width and height:
                    lines = widget.render_lines(Region(x - region.x, y - region.y, width, height))
                    yield region, clip, lines

    get_renders._genai_tui = True  # type: ignore[attr-defined]
    Compositor._get_renders = get_renders  # type: ignore[method-assign]


def fresh_table_widths() -> None:
    """Let a DataTable redraw its lines once it has measured new rows.

    A DataTable measures added rows when it is next idle, and widens its columns then;
    its line cache is keyed by an update counter that measuring does not move. When a
    frame was drawn between `add_row` and that idle (a busy loop, a slow machine), the
    lines drawn at the old widths stayed: the Local models table showed `Smol` for
    `SmolLM2-135M-Instruct` until something else changed. Measuring now moves the
    counter, so the next frame draws the rows at their new widths.
    """
    from textual.widgets import DataTable

    measure = DataTable._update_dimensions
    if getattr(measure, "_genai_tui", False):
        return

    def update_dimensions(self: Any, new_rows: Iterable[Any]) -> None:
        measure(self, new_rows)
        self._update_count += 1
        self.refresh()

    update_dimensions._genai_tui = True  # type: ignore[attr-defined]
    DataTable._update_dimensions = update_dimensions  # type: ignore[method-assign]
