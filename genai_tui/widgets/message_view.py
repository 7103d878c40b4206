"""One chat message: a role line, collapsible thinking, and the Markdown body.

Replies stream in through `MarkdownStream`, so each token appends to the
document instead of re-rendering the whole message. Everything shown passes
through `printable` first: model output is data, never terminal control.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets._markdown import MarkdownParagraph
from textual.widgets.markdown import MarkdownStream

from genai_tui.engine.core.text import printable

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from textual.geometry import Size


@cache
def markdown_parser() -> MarkdownIt:
    """One parser for every message: Textual's Markdown builds a new one (its rules
    compiled again) for every streamed append; parsing keeps no state in it."""
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like")


class StreamParagraph(MarkdownParagraph):
    """A paragraph that asks for a layout of the screen only when its height changes.

    While a reply streams, its open paragraph is set again at every flush; Textual lays
    out the whole screen for each (every message on it), though most flushes add words
    to the same line. Here a flush that keeps the height at the width it was laid out
    at only repaints the paragraph."""

    _laid_out: tuple[int, int] | None = None  # (width, height) at the last layout

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        height = super().get_content_height(container, viewport, width)
        self._laid_out = (width, height)  # (Textual's own cache is dropped at any repaint)
        return height

    def set_content(self, content: Content) -> None:
        self._content = content
        self.update(content, layout=False)
        if not self.is_attached:
            return  # a block parsed only to be copied from (Markdown.append): no screen
        laid_out = self._laid_out
        if laid_out is None or self._render().get_height(self.styles, laid_out[0]) != laid_out[1]:
            self.refresh(layout=True)


WAITING = "…"  # a streaming reply's body until its first words
# What may make a paragraph's text more than its words (emphasis, code, links, HTML,
# entities, escapes, breaks, tables, headings, autolinks).
MAYBE_MARKUP = re.compile(r"[\n\\`*_~<>\[\]!&|#:$]")
PLAIN_PREFIX = 12  # a paragraph this long, with a space, can no longer become a list


class ReplyMarkdown(Markdown):
    """Markdown for replies: streamed paragraphs repaint without a layout when they can,
    and one parser serves every message.

    A reply that is `waiting` shows WAITING in a paragraph from the start (mounted and
    laid out while the model reads the prompt); its first words take that paragraph's
    place, so the first token on screen costs a repaint, not a mount and a layout."""

    BLOCKS = {**Markdown.BLOCKS, "paragraph_open": StreamParagraph}

    def __init__(self, markdown: str = "", *, id: str | None = None,
                 waiting: bool = False) -> None:  # fmt: skip
        super().__init__(WAITING if waiting else markdown, id=id, parser_factory=markdown_parser)
        self.waiting = waiting

    def compose(self) -> ComposeResult:
        if self.waiting:  # WAITING's paragraph is in the view's first layout, not a later one
            yield from self._parse_markdown(markdown_parser().parse(WAITING))

    def update(self, markdown: str) -> AwaitComplete:
        if self.waiting and markdown == WAITING and self.children:
            return AwaitComplete()  # Markdown's own mount-time update: composed already
        return super().update(markdown)

    def append(self, markdown: str) -> AwaitComplete:
        if self.waiting:  # the document starts here; WAITING's paragraph is reused
            self.waiting = False
            self._markdown = ""
            self._last_parsed_line = 0
        elif self._append_words(markdown):
            return AwaitComplete()
        return super().append(markdown)

    def _append_words(self, markdown: str) -> bool:
        """Plain words added to an open paragraph of plain words: its text is set from its
        source at once (what the parser would make of it: whitespace runs as one space,
        the ends trimmed), without parsing the open block again and building a widget per
        block to copy from. Anything that could be markup, a new line or a paragraph that
        could still turn into another block goes the parser's way (False)."""
        blocks = self.children
        last = blocks[-1] if blocks else None
        if type(last) is not StreamParagraph or self.lock.is_locked:
            return False
        start, end = last.source_range
        lines = self._markdown.splitlines(keepends=True)
        if end < len(lines) or self._markdown.endswith("\n"):
            return False  # the paragraph is not the open end of the document
        text = "".join(lines[start:]) + markdown
        words = " ".join(text.split())
        if MAYBE_MARKUP.search(text) or len(words) < PLAIN_PREFIX or " " not in words:
            return False
        self._markdown += markdown
        last.set_content(Content(words))
        return True

    async def stop_waiting(self) -> None:
        """No words came (an empty reply, an error): WAITING goes."""
        if self.waiting:
            self.waiting = False
            await self.update("")


class MessageView(Vertical):
    """A user or assistant message; assistant replies may be streamed into it."""

    DEFAULT_CSS = """
    MessageView {
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    MessageView.user { border-left: thick $primary; background: $boost; }
    MessageView.assistant { border-left: thick $success; }
    MessageView.stopped { border-left: thick $warning; }
    MessageView.error { border-left: thick $error; }
    MessageView .role { color: $text-muted; text-style: bold; }
    MessageView .meta { color: $text-muted; }
    MessageView Markdown { margin: 0; padding: 0; }
    MessageView .plain { padding: 0 0 1 0; }
    MessageView Collapsible { margin: 0; padding: 0; border: none; background: transparent; }
    MessageView Collapsible Markdown { color: $text-muted; }
    MessageView .error-text { color: $error; }
    """

    def __init__(
        self,
        role: str,
        content: str = "",
        thinking: str = "",
        meta: str = "",
        *,
        message_id: int | None = None,
        streaming: bool = False,
    ) -> None:
        super().__init__(classes=role)
        self.streaming = streaming  # a reply about to stream in: its body starts WAITING
        self.role = role
        self.message_id = message_id
        self._content = content
        self._thinking = thinking
        self._meta = meta
        self._stream: MarkdownStream | None = None
        self._written = False  # the first write appends at once; then a stream takes them
        self._thinking_stream: MarkdownStream | None = None
        self._pending: list[str] = []
        self._pending_thinking: list[str] = []
        self.text = content  # the raw text (for copying), not the displayed one

    def compose(self) -> ComposeResult:
        label = {"user": "You", "assistant": "Assistant", "system": "System"}.get(self.role)
        yield Static(Content(label or self.role), classes="role")
        if self._thinking:
            yield self._thinking_section(self._thinking)
        if self.role == "user":
            # What the user typed is shown as typed: line breaks kept, no Markdown.
            yield Static(Content(printable(self._content)), id="body", classes="plain")
        else:
            yield ReplyMarkdown(printable(self._content), id="body", waiting=self.streaming)
        if self._meta:  # made when there is one: a message's first frame costs less
            yield self._meta_line(self._meta)

    @staticmethod
    def _meta_line(meta: str) -> Static:
        return Static(Content(meta), classes="meta", id="meta")

    @staticmethod
    def _thinking_section(text: str) -> Collapsible:
        """The collapsed Thinking section: made only for a message that has reasoning, so
        the other messages cost the screen's layout four widgets fewer each."""
        body = ReplyMarkdown(printable(text), id="thinking-body")
        return Collapsible(body, title="Thinking",
                           collapsed=True, id="thinking")  # fmt: skip

    @property
    def body(self) -> Markdown:
        return self.query_one("#body", Markdown)

    @property
    def shown(self) -> str:
        """The text as displayed (after control characters were made visible)."""
        body = self.query_one("#body")
        if isinstance(body, Markdown):
            return body.source
        return str(body.render())

    def buffer(self, text: str, *, thinking: bool = False) -> None:
        """Take streamed text now; it reaches the screen at the next `flush`.

        Rendering costs the same for one token as for ten, and it runs on the
        thread that also has to hand the GIL back to generation, so the screen
        flushes at a steady rate instead of once per token.
        """
        if thinking:
            self._pending_thinking.append(text)
        else:
            self.text += text
            self._pending.append(text)

    async def flush(self) -> None:
        """Write buffered text into the Markdown streams."""
        if self._pending_thinking:
            text, self._pending_thinking = "".join(self._pending_thinking), []
            await self.append_thinking(text)
        if self._pending:
            text, self._pending = "".join(self._pending), []
            await self._write(text)

    async def append(self, text: str) -> None:
        """Append answer text and write it at once."""
        self.text += text
        await self._write(text)

    async def _write(self, text: str) -> None:
        if not self._written:
            self._written = True
            # The first words are in the document when this returns (a stream's task
            # would append them later), so the caller can put them on screen at once.
            await self.body.append(printable(text))
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        await self._stream.write(printable(text))

    async def append_thinking(self, text: str) -> None:
        """Append reasoning text (streamed) into the collapsed Thinking section."""
        if self._thinking_stream is None:
            if not self.query("#thinking"):
                await self.mount(self._thinking_section(""), before=self.query_one("#body"))
            body = self.query_one("#thinking-body", Markdown)
            self._thinking_stream = Markdown.get_stream(body)
        await self._thinking_stream.write(printable(text))

    async def finish(self, meta: str = "", *, stopped: bool = False) -> None:
        """Flush, end streaming and show the reply's stats line."""
        await self.flush()
        for stream in (self._stream, self._thinking_stream):
            if stream is not None:
                await stream.stop()
        if isinstance(body := self.query_one("#body"), ReplyMarkdown):
            await body.stop_waiting()
        self._stream = self._thinking_stream = None
        self.set_class(stopped, "stopped")
        self.set_meta(meta)

    def set_meta(self, meta: str) -> None:
        """Show `meta` (the stats line) under the message; "" hides it."""
        if found := self.query("#meta"):
            widget = found.first(Static)
            widget.update(Content(meta))
            widget.display = bool(meta)
        elif meta:
            self.mount(self._meta_line(meta))

    async def show_error(self, message: str) -> None:
        await self.finish()
        self.add_class("error")
        await self.mount(Static(Content(message), classes="error-text"))
