"""Attach a file to the message being written: type its path (Tab completes it), Enter
shows its size, its tokens and whether it fits what the context has left; Enter again
adds it, Ctrl+T adds its head when it does not fit, Esc cancels. An image is added when
the chat's model takes images, else refused with what to do (engine/chat/vision.py).

The dialog measures through the callables it is given (the chat's `Engine.attachments`);
the file's name and every message are shown as text, never markup.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label

from genai_tui.engine.chat.attachments import Attachment, Fit
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import human_bytes, printable
from genai_tui.widgets.dialog import Dialog

MAX_SHOWN = 6  # completions listed under the path


def complete_path(value: str) -> tuple[str, list[str]]:
    """`value` completed as far as its matches agree (a lone folder gains a `/`), and the
    names that match. Hidden files are offered once the name typed starts with a dot."""
    head, prefix = os.path.split(value)
    folder = Path(head or ".").expanduser()
    try:
        names = sorted(
            n for n in os.listdir(folder) if n.startswith(prefix) and (prefix or n[0] != ".")
        )
    except OSError:
        return value, []
    if not names:
        return value, []
    common = os.path.commonprefix(names)
    completed = os.path.join(head, common) if head else common
    if len(names) == 1 and (folder / common).is_dir():
        completed += os.sep
    return completed, names


class AttachDialog(Dialog["Attachment | None"]):
    """The path of a file to attach; dismisses with the Attachment (whole or trimmed)."""

    DEFAULT_CSS = """
    AttachDialog Label { width: 1fr; }
    AttachDialog #info { margin-top: 1; }
    AttachDialog #info.refused { color: $text-error; }
    AttachDialog #matches { color: $text-muted; }
    """
    BINDINGS = [
        Binding("tab", "complete", "Complete path", priority=True, show=False),
        Binding("ctrl+t", "trim", "Trim & attach", priority=True),
        Binding("ctrl+g", "gallery", "Gallery picture", priority=True),
    ]

    def __init__(
        self,
        measure: Callable[[Path], Awaitable[Fit]],
        trim: Callable[[Fit], Awaitable[Attachment]],
        start: str = "",
        pictures: Callable[[], list[Path]] | None = None,
    ) -> None:
        super().__init__()
        self.pictures = pictures  # the gallery's pictures, newest first (Ctrl+G)
        self.picture_index = -1  # which of them Ctrl+G showed last
        self.measure = measure
        self.trim_fit = trim
        self.start = start
        self.fit: Fit | None = None  # the last file measured
        self.fit_path = ""  # ... and the path it was measured from

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Attach a file to the message", classes="title")
            yield Input(value=self.start, id="path",
                        placeholder="path of a text file or an image (Tab completes)")
            yield Label("", id="matches").set_styles("display: none;")
            yield Label("", id="info")
            yield Label(
                "Enter checks it, Enter again adds it · Ctrl+T adds its head when it does "
                "not fit · Ctrl+G the newest studio picture (again: older) · Esc cancels",
                classes="hint",
            )
            with Horizontal():
                yield Button("Attach (Enter)", variant="primary", id="attach")
                yield Button("Trim & attach (Ctrl+T)", id="trim", disabled=True)

    @property
    def path_input(self) -> Input:
        return self.query_one("#path", Input)

    def on_mount(self) -> None:
        self.path_input.focus()
        self.path_input.cursor_position = len(self.path_input.value)

    def _say(self, text: str, refused: bool = False) -> None:
        info = self.query_one("#info", Label)
        info.update(Content(text))
        info.set_class(refused, "refused")

    # -- keys -----------------------------------------------------------------

    def action_complete(self) -> None:
        if self.focused is not self.path_input:
            self.focus_next()
            return
        value, names = complete_path(self.path_input.value)
        self.path_input.value = value
        self.path_input.cursor_position = len(value)
        shown = [printable(n) for n in names[:MAX_SHOWN]] if len(names) > 1 else []
        more = f"  (+{len(names) - MAX_SHOWN} more)" if len(names) > MAX_SHOWN else ""
        matches = self.query_one("#matches", Label)
        matches.update(Content("  ".join(shown) + more))
        matches.display = bool(shown)

    def action_gallery(self) -> None:
        """The newest picture in the studio's gallery; pressed again, the one before."""
        pictures = self.pictures() if self.pictures is not None else []
        if not pictures:
            self._say("The gallery has no pictures yet: make some in the studio (F3).",
                      refused=True)  # fmt: skip
            return
        self.picture_index = (self.picture_index + 1) % len(pictures)
        value = str(pictures[self.picture_index])
        self.path_input.value = value
        self.path_input.cursor_position = len(value)
        self._measure(value)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#attach")
    def action_attach(self) -> None:
        value = self.path_input.value.strip()
        if not value:
            self._say("Type the path of a file.", refused=True)
            return
        if self.fit is not None and self.fit_path == value and self.fit.fits:
            self.dismiss(self.fit.attachment)
            return
        self._measure(value)

    @on(Button.Pressed, "#trim")
    def action_trim(self) -> None:
        value = self.path_input.value.strip()
        if self.fit is None or self.fit_path != value:
            self._measure(value, then_trim=True)
        elif self.fit.fits:
            self.dismiss(self.fit.attachment)
        else:
            self._trim(self.fit)

    # -- work -----------------------------------------------------------------

    @work(exclusive=True, group="attach", exit_on_error=False)
    async def _measure(self, value: str, then_trim: bool = False) -> None:
        self.fit = None
        self.query_one("#trim", Button).disabled = True
        self._say("Reading and counting…")
        try:
            fit = await self.measure(Path(value))
        except GenaiError as exc:
            self._say(str(exc), refused=True)
            return
        self.fit, self.fit_path = fit, value
        a = fit.attachment
        if a.pixels:
            self._say(f"{a.name} · {human_bytes(a.size)} · {a.pixels[0]}×{a.pixels[1]} image\n"
                      "The chat's model takes images: it goes with the message. Enter adds it.")
            return
        count = f"{a.tokens:,} tokens" + (" (an estimate)" if a.estimated else "")
        count = f"about {count}" if a.estimated else count
        line = f"{a.name} · {human_bytes(a.size)} · {count}"
        if fit.fits:
            self._say(f"{line}\nFits: the context has {fit.room:,} tokens left. Enter adds it.")
        elif then_trim:
            await self._add_trimmed(fit)
        else:
            self.query_one("#trim", Button).disabled = False
            self._say(f"{line}\nDoes not fit. {fit.explain()}\nCtrl+T adds its head (as much as "
                      "fits); the rest is left out, and a note says so.", refused=True)  # fmt: skip

    @work(exclusive=True, group="attach", exit_on_error=False)
    async def _trim(self, fit: Fit) -> None:
        await self._add_trimmed(fit)

    async def _add_trimmed(self, fit: Fit) -> None:
        self._say("Trimming…")
        try:
            attachment = await self.trim_fit(fit)
        except GenaiError as exc:
            self._say(str(exc), refused=True)
            return
        self.dismiss(attachment)
