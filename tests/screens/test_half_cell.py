"""The half-cell picture widget: what its strips show, when it builds them again, and the
one-line widgets (caption, step progress) drawn the same way."""

from __future__ import annotations

from PIL import Image
from rich.color import Color
from textual.app import App, ComposeResult
from textual.containers import Container

from genai_tui.terminal_safety import ControlFilter
from genai_tui.widgets.half_cell import PREVIEW_PIXELS, HalfCellPicture, fit
from genai_tui.widgets.step_progress import BAR_CELLS, StepProgressBar
from genai_tui.widgets.text_line import TextLine

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


class Frame(App[None]):
    """A box of a given size holding one widget; the control filter installed as GenaiApp
    installs it."""

    CSS = "#box { width: 8; height: 4; }"

    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget
        self._filters.append(ControlFilter())

    def compose(self) -> ComposeResult:
        with Container(id="box"):
            yield self.widget


def cells(strip) -> list[tuple[str, object, object]]:
    """(character, colour, background) per cell of a strip."""
    out = []
    for segment in strip:
        for ch in segment.text:
            style = segment.style
            out.append((ch, style and style.color, style and style.bgcolor))
    return out


def rgb(color: tuple[int, int, int]) -> Color:
    return Color.from_rgb(*color)


def stripes(width: int, height: int) -> Image.Image:
    """Pixel rows alternating red and blue, and the right half green on even rows."""
    image = Image.new("RGB", (width, height))
    for y in range(height):
        for x in range(width):
            image.putpixel((x, y), (GREEN if x >= width // 2 else RED) if y % 2 == 0 else BLUE)
    return image


async def test_each_cell_is_the_top_pixel_on_the_bottom_pixel() -> None:
    picture = HalfCellPicture("#1")
    async with Frame(picture).run_test() as pilot:
        await pilot.pause()
        assert picture.size == (8, 4)
        picture.show(stripes(8, 8))  # exactly 8 x 4 cells
        await pilot.pause()
        for y in range(4):
            row = cells(picture.render_line(y))
            assert len(row) == 8
            assert all(ch == "▀" for ch, _, _ in row)
            assert [fg for _, fg, _ in row] == [rgb(RED)] * 4 + [rgb(GREEN)] * 4
            assert {bg for _, _, bg in row} == {rgb(BLUE)}
        # Cells of the same colour pair are one segment: two per line here.
        assert len(list(picture.render_line(0))) == 2


async def test_the_picture_keeps_its_shape_centred_and_redraws_at_a_new_size() -> None:
    picture = HalfCellPicture()
    async with Frame(picture).run_test() as pilot:
        picture.show(Image.new("RGB", (4, 8), WHITE))  # 1:2, in 8 x 4 cells (8 x 8 pixels)
        await pilot.pause()
        drawn = [cells(picture.render_line(y)) for y in range(4)]
        painted = [[x for x, (ch, *_) in enumerate(row) if ch == "▀"] for row in drawn]
        assert painted == [[2, 3, 4, 5]] * 4
        assert all(len(row) == 8 for row in drawn)
        before = picture.draws
        box = pilot.app.query_one("#box")
        box.styles.width, box.styles.height = 12, 6
        await pilot.pause()
        await pilot.pause()
        assert picture.size == (12, 6)
        painted = [[x for x, (ch, *_) in enumerate(cells(picture.render_line(y))) if ch == "▀"]
                   for y in range(6)]  # fmt: skip
        assert painted == [[3, 4, 5, 6, 7, 8]] * 6
        assert picture.draws == before + 1


async def test_lines_are_built_once_per_picture_and_size() -> None:
    picture = HalfCellPicture()
    async with Frame(picture).run_test() as pilot:
        picture.show(stripes(16, 16))
        await pilot.pause()
        first = picture.draws
        lines = [picture.render_line(y) for y in range(4)]
        picture.refresh()  # a repaint (focus, another widget's frame) reuses the strips
        await pilot.pause()
        assert [picture.render_line(y) for y in range(4)] == lines
        assert all(a is b for a, b in zip(lines, [picture.render_line(y) for y in range(4)],
                                          strict=True))  # fmt: skip
        assert picture.draws == first
        picture.show(Image.new("RGB", (16, 16), RED))  # new pixels: built again, once
        await pilot.pause()
        await pilot.pause()
        assert picture.draws == first + 1
        assert {fg for _, fg, _ in cells(picture.render_line(1))} == {rgb(RED)}


async def test_a_preview_is_drawn_coarse_from_few_pixels() -> None:
    picture = HalfCellPicture()
    picture.styles.width, picture.styles.height = 64, 32
    app = Frame(picture)
    app.CSS = "#box { width: 64; height: 32; }"
    noise = Image.effect_noise((128, 128), 80).convert("RGB")
    async with app.run_test(size=(80, 40)) as pilot:
        picture.show(noise)
        await pilot.pause()
        fine = max(len(list(picture.render_line(y))) for y in range(32))
        picture.show(noise, coarse=True)
        await pilot.pause()
        coarse = max(len(list(picture.render_line(y))) for y in range(32))
        assert picture.coarse
        assert coarse <= PREVIEW_PIXELS < fine  # runs of equal cells joined


async def test_placeholder_until_a_picture_and_no_control_characters() -> None:
    picture = HalfCellPicture("#2\x1b]0;x\x07")
    async with Frame(picture).run_test() as pilot:
        await pilot.pause()
        text = "".join(seg.text for seg in picture.render_line(2))
        assert "#2" in text and "\x1b" not in text and "\x07" not in text
        # Its own lines skip the control filter only when they are pure "▀" and spaces.
        assert any(isinstance(f, ControlFilter) for f in picture.get_line_filters())
        picture.show(Image.new("RGB", (4, 4), RED))
        await pilot.pause()
        assert not any(isinstance(f, ControlFilter) for f in picture.get_line_filters())


def test_fit_keeps_the_aspect_ratio_in_whole_cells() -> None:
    assert fit((64, 64), (80, 20)) == (40, 40)  # limited by height: 40 columns x 20 rows
    assert fit((128, 64), (20, 40)) == (20, 10)  # limited by width
    assert fit((64, 64), (0, 10)) == (0, 0)
    assert fit((1000, 10), (10, 10))[1] == 2  # never less than one row


async def test_caption_line_is_one_cached_strip_of_printable_text() -> None:
    line = TextLine("seed 1", align="center")
    async with Frame(line).run_test() as pilot:
        await pilot.pause()
        strip = line.render_line(0)
        assert "".join(s.text for s in strip) == " seed 1 "
        assert line.render_line(0) is strip  # nothing changed: the same strip
        line.update("a\x1b[31mb\nc")
        await pilot.pause()
        shown = "".join(s.text for s in line.render_line(0))
        assert "\x1b" not in shown and "\n" not in shown and "a" in shown


async def test_step_progress_draws_the_bar_and_the_summary() -> None:
    bar = StepProgressBar()
    app = Frame(bar)
    app.CSS = "#box { width: 80; height: 1; }"
    async with app.run_test(size=(80, 5)) as pilot:
        bar.start(40, "starting…")
        assert bar.step(0, 2, 10, 20, 3.0)  # the first step is drawn at once
        assert not bar.step(0, 2, 11, 20, 3.0)  # the next, right after: not drawn again
        await pilot.pause()
        assert bar.text.startswith("image 1/2 · step 10/20 · 25%")
        strip = bar.render_line(0)
        done = bar.get_component_rich_style("step-progress--done")
        filled = sum(len(s.text) for s in strip if s.text.strip("━") == "" and s.style == done)
        assert filled == BAR_CELLS // 4
        bar.finish("2 images in 4.0 s")
        await pilot.pause()
        text = "".join(s.text for s in bar.render_line(0))
        assert "━" * BAR_CELLS in text and "2 images in 4.0 s" in text


async def test_a_new_theme_redraws_caption_bar_and_letterbox_in_its_colours() -> None:
    # The lines keep their styles between texts; a theme change must still reach them.
    line, bar, picture = TextLine("seed 1"), StepProgressBar(), HalfCellPicture()
    app = Frame(line)
    app.CSS = "#box { width: 40; height: 6; }"
    async with app.run_test() as pilot:
        await app.query_one("#box").mount_all([bar, picture])
        bar.start(10, "starting…")
        bar.step(0, 1, 5, 10, None, force=True)  # half done: both parts of the bar
        picture.show(stripes(2, 2))
        app.theme = "textual-dark"
        await pilot.pause()

        def drawn() -> tuple[object, ...]:
            letterbox = picture.render_line(0)
            return (
                next(iter(line.render_line(0))).style.color,
                [s.style.color for s in bar.render_line(0)][1],  # the part to do
                next(iter(letterbox)).style.bgcolor,
            )

        before = drawn()
        line.update("seed 2")  # a new text: the cached style is used again
        bar.step(0, 1, 6, 10, None, force=True)
        await pilot.pause()
        assert drawn() == before
        app.theme = "textual-light"
        await pilot.pause()
        after = drawn()
        assert all(a != b for a, b in zip(after, before, strict=True)), (before, after)
        # Each is what Textual itself computes for the new theme.
        assert after[0] == line.rich_style.color
        assert after[2] == picture.rich_style.bgcolor
