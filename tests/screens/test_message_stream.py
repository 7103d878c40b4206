"""A streamed reply: every word reaches the screen, and words added to the same line
repaint the paragraph without laying out the whole screen (counted, not timed)."""

from __future__ import annotations

import pytest
from textual._compositor import Compositor
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from genai_tui.widgets.message_view import MessageView, StreamParagraph


class OneReply(App[None]):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(MessageView("assistant"), id="messages")


@pytest.fixture
def reflows(monkeypatch):
    count = [0]
    original = Compositor.reflow

    def counted(self, parent, size):
        count[0] += 1
        return original(self, parent, size)

    monkeypatch.setattr(Compositor, "reflow", counted)
    return count


async def stream(pilot, view: MessageView, words: list[str]) -> None:
    for word in words:
        view.buffer(word)
        await view.flush()
        await pilot.pause()


async def test_words_on_the_same_line_repaint_without_a_layout(reflows):
    app = OneReply()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(MessageView)
        await stream(pilot, view, ["The", " keeper"])  # the paragraph exists, laid out
        before = reflows[0]
        await stream(pilot, view, [" lit", " the", " lamp", " at", " dusk."])
        assert reflows[0] == before  # one line all along: no layout of the screen
        paragraph = view.body.query_one(StreamParagraph)
        assert paragraph.size.height == 1
        assert "The keeper lit the lamp at dusk." in str(paragraph.render())


async def test_a_paragraph_that_wraps_grows_and_shows_every_word(reflows):
    app = OneReply()
    async with app.run_test(size=(40, 20)) as pilot:
        view = app.query_one(MessageView)
        words = [f" word{i}" for i in range(30)]
        await stream(pilot, view, ["Start"])
        before = reflows[0]
        await stream(pilot, view, words)
        await view.finish()
        await pilot.pause()
        assert reflows[0] > before  # it grew: laid out again
        paragraph = view.body.query_one(StreamParagraph)
        lines = [strip.text.strip() for strip in paragraph.render_lines(paragraph.size.region)]
        assert paragraph.size.height == len([ln for ln in lines if ln]) > 3
        assert " ".join(lines).split() == ("Start" + "".join(words)).split()
        assert view.text == "Start" + "".join(words)


async def test_a_new_paragraph_and_a_list_still_appear():
    app = OneReply()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(MessageView)
        await stream(pilot, view, ["First", " part.", "\n\n", "- one", "\n- two"])
        await view.finish()
        await pilot.pause()
        assert view.body.source == "First part.\n\n- one\n- two"
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "First part." in text and "one" in text and "two" in text


class Waiting(App[None]):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(MessageView("assistant", streaming=True), id="messages")


def screen_text(app) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def test_a_reply_waits_with_an_ellipsis_and_its_first_words_take_its_place(reflows):
    app = Waiting()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        view = app.query_one(MessageView)
        assert "…" in screen_text(app)  # something says the reply is coming
        waiting = view.body.query_one(StreamParagraph)
        before = reflows[0]
        await stream(pilot, view, ["Once"])
        # The first words repaint the paragraph that was laid out while waiting.
        assert reflows[0] == before
        assert view.body.query_one(StreamParagraph) is waiting
        shown = screen_text(app)
        assert "Once" in shown and "…" not in shown
        await stream(pilot, view, [" upon a time", "\n\n", "- a list"])
        await view.finish()
        await pilot.pause()
        assert view.body.source == view.text == "Once upon a time\n\n- a list"


async def test_a_reply_that_starts_with_a_code_block_replaces_the_ellipsis():
    app = Waiting()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        view = app.query_one(MessageView)
        await stream(pilot, view, ["```python\nprint(1)\n```"])
        await view.finish()
        await pilot.pause()
        shown = screen_text(app)
        assert "print(1)" in shown and "…" not in shown
        assert view.body.source == "```python\nprint(1)\n```"


async def test_a_reply_with_no_words_leaves_no_ellipsis():
    app = Waiting()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        view = app.query_one(MessageView)
        await view.show_error("The model stopped before it said anything.")
        await pilot.pause()
        shown = screen_text(app)
        assert "…" not in shown and "stopped before it said anything" in shown


def recording_driver() -> type:
    """A terminal driver that keeps what Textual writes (a real terminal's bytes)."""
    from textual.drivers.headless_driver import HeadlessDriver

    class Recording(HeadlessDriver):
        written: list[str] = []

        @property
        def is_headless(self) -> bool:
            return False  # Textual encodes and writes each frame, as for a terminal

        def write(self, data: str) -> None:
            Recording.written.append(data)

    return Recording


async def test_the_first_words_reach_the_terminal_at_once():
    """The chat screen flushes a reply's first words and draws them then (draw_now),
    without waiting for Textual's next update tick (up to 33 ms after a long frame)."""
    from genai_tui.widgets.draw_now import draw_now

    app = Waiting()
    app.driver_class = driver = recording_driver()
    async with app.run_test(headless=False, size=(60, 20)) as pilot:
        await pilot.pause()
        view = app.query_one(MessageView)
        driver.written.clear()
        view.buffer("Lighthouse")
        await view.flush()  # the words are in the document when this returns
        draw_now(app.screen)  # and on the terminal when this does: nothing awaited between
        assert "Lighthouse" in "".join(driver.written)
        await stream(pilot, view, [" keeper"])
        await view.finish()
        await pilot.pause()
        assert "Lighthouse keeper" in screen_text(app)


async def test_plain_words_skip_the_parser_and_show_as_it_would(monkeypatch):
    """Words streamed into an open paragraph of plain words are set without parsing the
    open block again; the paragraph shows what the parser makes of it, and markup that
    comes later still goes through the parser."""
    from genai_tui.widgets.message_view import markdown_parser

    parser = markdown_parser()
    parses = [0]
    real_parse = parser.parse

    def counted(text, env=None):
        parses[0] += 1
        return real_parse(text, env)

    monkeypatch.setattr(parser, "parse", counted)
    app = Waiting()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        view = app.query_one(MessageView)
        await stream(pilot, view, ["The keeper", "  lit", " the lamp"])  # 12+ chars: plain
        before = parses[0]
        words = [" at", " dusk,", " as", "  every", " night", " before."]
        await stream(pilot, view, words)
        assert parses[0] == before  # no parse for plain words
        paragraph = view.body.query_one(StreamParagraph)
        assert str(paragraph.render()) == "The keeper lit the lamp at dusk, as every night before."
        await stream(pilot, view, [" It was *bright*", " and", "\n\n", "- a list"])
        assert parses[0] > before  # markup, a new line: the parser's way
        await view.finish()
        await pilot.pause()
        first = view.body.query(StreamParagraph).first()
        assert str(first.render()) == (
            "The keeper lit the lamp at dusk, as every night before. It was bright and"
        )
        assert view.body.source == view.text
        assert "a list" in screen_text(app)
