"""Work-arounds inside Textual (pinned in pyproject), each applied once by the App and
undone by nothing.

- `unpin_styles_caches`: a leak (Textualize/textual#6665).
- `render_only_what_changed`: every frame re-rendered widgets that were not touched.
- `fresh_table_widths`: a table drawn before it measured its new rows kept those lines.
- `render_only_changed_regions`: a frame with two changes far apart rendered every
  widget between them.
- `one_layout_per_change`: every layout that resized a widget asked for a second one.
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


def render_only_changed_regions() -> None:
    """Render, for a partial frame, only the widgets that meet one of its changed regions,
    and only their lines in those regions' rows.

    Textual crops a partial frame to the one rectangle around every changed region, so
    two changes far apart (a progress line at the top of the studio, a preview at the
    bottom) rendered every widget between them: about twenty per frame, three of them
    changed, the rest only for their lines to be dropped (the frame writes the changed
    spans alone). A widget that meets none of the changed regions, or meets them only
    where a widget in front of it covers them whole (its containers), contributes nothing
    to the frame and is now skipped; the others render only the changed rows.
    Supersedes `render_only_what_changed` (the same pick by visible region, for full
    frames too); either order of applying them works.
    """
    from textual._compositor import ChopsUpdate, Compositor
    from textual.geometry import Region

    if getattr(Compositor.render_partial_update, "_genai_tui", False):
        return

    def render_partial_update(self: Any) -> Any:
        # Textual 8.2.8's body; the changed regions are kept for `get_renders`.
        update_regions = self._dirty_regions.copy()
        self._dirty_regions.clear()
        if not update_regions:
            return None
        crop = Region.from_union(update_regions).intersection(self.size.region)
        spans = list(self._regions_to_spans(update_regions))
        is_rendered_line = {y for y, _, _ in spans}.__contains__
        self._genai_changed = list(update_regions)
        try:
            chops = self._render_chops(crop, is_rendered_line)
        finally:
            self._genai_changed = None
        chop_ends = [cut_set[1:] for cut_set in self.cuts]
        return ChopsUpdate(chops, spans, chop_ends)

    def get_renders(
        self: Any, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Any]]]:
        changed: list[Region] | None = getattr(self, "_genai_changed", None)
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            shown = region.intersection(clip)
            if not shown or crop and not crop.overlaps(shown):
                continue
            if changed is not None:
                met = [r for r in changed if r.overlaps(shown)]
                if not met:
                    continue
                # A changed region inside this widget is all drawn by it: the widgets
                # behind it (its containers) would only be covered there.
                changed = [r for r in changed if not shown.contains_region(r)]
                # Only the rows of the changed regions are written: render those alone
                # (whole rows; a changed region's columns need not fall on a cut).
                top = max(shown.y, min(r.y for r in met))
                bottom = min(shown.bottom, max(r.bottom for r in met))
                shown = clip = Region(shown.x, top, shown.width, bottom - top)
            x, y, width, height = shown
            if shown == region:
                yield region, clip, widget.render_lines(Region(0, 0, width, height))
            else:
                lines = widget.render_lines(Region(x - region.x, y - region.y, width, height))
                yield region, clip, lines
            if changed == []:
                return

    render_partial_update._genai_tui = True  # type: ignore[attr-defined]
    get_renders._genai_tui = True  # type: ignore[attr-defined]
    Compositor.render_partial_update = render_partial_update  # type: ignore[method-assign]
    Compositor._get_renders = get_renders  # type: ignore[method-assign]


def one_layout_per_change() -> None:
    """Lay the screen out once per change, not twice.

    After a layout Textual gives each widget its new size, and setting the size's
    reactive `virtual_size` asks for another layout of the whole screen: each line a
    streamed reply grew cost two full layouts (22 per 150-token reply, 13 now; in a long
    chat ~40 ms each). The second one finds nothing to change unless the widget can show
    scrollbars (a virtual size larger than the widget makes room for them), so only a
    widget that can scroll (overflow auto or scroll) still asks for it.

    That second request also emptied the containers' arrangement caches, which hold the
    children they were arranged with: a container now drops its cached arrangements of
    an older set of children itself, or a chat's removed messages stayed alive in them.
    """
    from textual.widget import Widget

    size_updated = Widget._size_updated
    if getattr(size_updated, "_genai_tui", False):
        return
    scrolls = ("auto", "scroll")
    arrange = Widget.arrange

    def arrange_current(self: Any, size: Any, optimal: bool = False) -> Any:
        cache = self._arrangement_cache
        updates = self._nodes._updates  # moves at every child mounted or removed
        if cache and any(key[1] != updates for key in cache.keys()):
            cache.clear()
        return arrange(self, size, optimal)

    def _size_updated(self: Any, size: Any, virtual_size: Any, container_size: Any,
                      layout: bool = True) -> bool:  # fmt: skip
        styles = self.styles
        can_scroll = styles.overflow_x in scrolls or styles.overflow_y in scrolls
        return size_updated(self, size, virtual_size, container_size, layout and can_scroll)

    _size_updated._genai_tui = True  # type: ignore[attr-defined]
    Widget._size_updated = _size_updated  # type: ignore[method-assign]
    Widget.arrange = arrange_current  # type: ignore[method-assign]
