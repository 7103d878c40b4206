"""Work-arounds inside Textual (genai_tui/textual_fixes.py): a frame renders only the
widgets it changes, and the screen still shows everything (counted, not timed); a table
drawn before it measured its rows shows them whole afterwards; a widget that grows costs
one layout."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static, TextArea

from genai_tui.textual_fixes import (
    fresh_table_widths,
    one_layout_per_change,
    render_only_what_changed,
)


class Counted(TextArea):
    renders = 0

    def render_lines(self, crop):
        Counted.renders += 1
        return super().render_lines(crop)


class Pane(App[None]):
    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("tick 0", id="ticker")
            yield Counted("the prompt stays as typed")


async def test_a_frame_renders_only_the_widgets_it_changes():
    render_only_what_changed()
    app = Pane()
    async with app.run_test(size=(50, 12)) as pilot:
        await pilot.pause()
        ticker = app.query_one("#ticker", Static)
        app.query_one(Counted).cursor_blink = False
        await pilot.pause()
        Counted.renders = 0
        for i in range(1, 6):
            ticker.update(f"tick {i}", layout=False)
            await pilot.pause()
        # The ticker changed five times; the box beside it in the same pane was not
        # touched, so it was not rendered again (Textual alone renders it each frame).
        assert Counted.renders == 0
        shown = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "tick 5" in shown and "the prompt stays as typed" in shown


async def test_a_touched_widget_is_still_drawn():
    render_only_what_changed()
    app = Pane()
    async with app.run_test(size=(50, 12)) as pilot:
        box = app.query_one(Counted)
        box.text = "edited"
        await pilot.pause()
        assert "edited" in "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "edited" in "".join(str(line.text) for line in box.render_lines(box.size.region))


class Table(App[None]):
    CSS = "DataTable { height: 1fr; }"  # a table that fills its pane, as the Local tab's

    def compose(self) -> ComposeResult:
        yield DataTable()


async def test_a_table_drawn_before_it_measured_its_rows_shows_them_whole():
    fresh_table_widths()
    app = Table()
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.query_one(DataTable)
        table.add_columns("name", "ctx")
        await pilot.pause()
        table.add_row("SmolLM2-135M-Instruct", "8,192")
        # A frame drawn before the table was idle (a busy loop): columns as wide as titles.
        assert "Smol " in table.render_line(1).text
        await pilot.pause()
        await pilot.pause()
        shown = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "SmolLM2-135M-Instruct" in shown and "8,192" in shown


class Growing(App[None]):
    CSS = "#pane { height: 6; } #log { height: 4; }"

    def compose(self) -> ComposeResult:
        with Vertical(id="pane"):
            yield Static("one line", id="reply")
        with VerticalScroll(id="log"):
            yield Static("a", id="entries")


async def test_a_widget_that_grows_costs_one_layout_and_scrollbars_still_follow():
    from textual._compositor import Compositor

    one_layout_per_change()
    reflows = []
    reflow = Compositor.reflow

    def counted(self, *args, **kwargs):
        reflows.append(1)
        return reflow(self, *args, **kwargs)

    app = Growing()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        Compositor.reflow = counted
        try:
            app.query_one("#reply", Static).update("one line\ntwo lines")
            for _ in range(5):
                await pilot.pause()
        finally:
            Compositor.reflow = reflow
        # Textual alone lays the screen out twice: the second time because the grown
        # widget's new size asked for it.
        assert len(reflows) == 1
        shown = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "two lines" in shown
        # A container that can scroll still gets its scrollbar when its content outgrows it.
        log = app.query_one("#log", VerticalScroll)
        app.query_one("#entries", Static).update("\n".join("abcdefgh"))
        await pilot.pause()
        await pilot.pause()
        assert log.max_scroll_y == 4 and log.show_vertical_scrollbar
