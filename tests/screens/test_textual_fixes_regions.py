"""textual_fixes.render_only_changed_regions: a frame with two changes far apart (a line
at the top, a picture in a bordered tile at the bottom) renders those two widgets, not
the ones between them, and what the frames wrote adds up to what the screen shows
(a terminal replayed from the frames, cell by cell, against a full render)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.segment import ControlType
from textual._compositor import Compositor
from textual.app import App, ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Static, TextArea

from genai_tui.textual_fixes import render_only_changed_regions, render_only_what_changed


class Counted(TextArea):
    renders = 0

    def render_lines(self, crop: Any) -> Any:
        Counted.renders += 1
        return super().render_lines(crop)


class Studio(App[None]):
    CSS = """
    #tiles { grid-size: 2 2; height: 1fr; }
    .tile { border: round $accent; }
    Counted { height: 5; }
    """

    def compose(self) -> ComposeResult:
        yield Static("progress 0", id="progress")
        yield Counted("the prompt stays as typed")
        with Grid(id="tiles"):
            for i in range(4):
                with Vertical(classes="tile"):
                    yield Static(f"picture {i} step 0", id=f"picture-{i}")


class Replay:
    """A terminal that applies each frame the app writes, cell by cell."""

    def __init__(self, strips: list[Any]) -> None:
        self.cells = [self._cells(strip) for strip in strips]

    @staticmethod
    def _cells(strip: Any) -> list[tuple[str, str]]:  # (character, style without meta)
        return [(ch, str(seg.style or "")) for seg in strip for ch in seg.text]

    def apply(self, update: Any, console: Console) -> None:
        x = y = 0
        for seg in update.__rich_console__(console, console.options):
            if seg.control:
                for code in seg.control:
                    if code[0] == ControlType.CURSOR_MOVE_TO:
                        x, y = code[1], code[2]
                continue
            for ch in seg.text:
                if ch == "\n":
                    continue
                self.cells[y][x] = (ch, str(seg.style or ""))
                x += 1


async def test_two_changes_far_apart_render_only_the_two_widgets_and_draw_the_same_screen(
    monkeypatch: Any,
) -> None:
    render_only_what_changed()  # as the App applies it; this one supersedes it
    render_only_changed_regions()
    updates: list[Any] = []
    render_update = Compositor.render_update

    def recorded(self: Compositor, *args: Any, **kwargs: Any) -> Any:
        update = render_update(self, *args, **kwargs)
        if update is not None:
            updates.append(update)
        return update

    monkeypatch.setattr(Compositor, "render_update", recorded)
    app = Studio()
    async with app.run_test(size=(60, 30)) as pilot:
        app.query_one(Counted).cursor_blink = False
        await pilot.pause()
        compositor = app.screen._compositor
        screen = Replay(compositor.render_strips())
        updates.clear()
        Counted.renders = 0
        for step in range(1, 4):
            app.query_one("#progress", Static).update(f"progress {step}", layout=False)
            app.query_one("#picture-3", Static).update(f"picture 3 step {step}", layout=False)
            await pilot.pause()
        app.query_one("#picture-0").parent.styles.border = ("heavy", "red")  # a border too
        await pilot.pause()
        assert updates, "no frame was drawn"
        # The prompt box between the two changes was never rendered again.
        assert Counted.renders == 0
        console = Console(width=60, height=30, color_system="truecolor", force_terminal=True)
        for update in updates:
            screen.apply(update, console)
        full = Replay(compositor.render_strips())
        assert screen.cells == full.cells
        shown = "\n".join("".join(ch for ch, _ in row) for row in screen.cells)
        assert "progress 3" in shown and "picture 3 step 3" in shown
        assert "the prompt stays as typed" in shown and "picture 0 step 0" in shown
        assert "┏" in shown  # the heavy border the last frame drew
