"""Chat that makes pictures: `/imagine [mode:] …` and `/story … [N scenes]` typed in the
chat (or Ctrl+E on the message being written), the clarifying question, the pictures'
full view (n: next seed, s: to the studio). Each flow is one Engine call; this mixin only
renders its events into the conversation."""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from textual import events, on, work

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import (
    Clarify,
    CreateNote,
    CreateStep,
    ModelLoaded,
    ModelLoading,
    PicturesSaved,
    StepProgress,
)
from genai_tui.screens.chat_actions import ChatActions, message_view
from genai_tui.screens.chat_keys import CREATE_KEYS
from genai_tui.widgets.image_view import load_picture
from genai_tui.widgets.picture_message import PictureMessage, PictureTile

COMMANDS = ("/imagine", "/story")


def create_command(text: str) -> tuple[str, str] | None:
    """("/imagine", "poster: a cat") for a create command, else None."""
    head, _, rest = text.strip().partition(" ")
    return (head.lower(), rest.strip()) if head.lower() in COMMANDS else None


def init_image_in(request: str) -> tuple[Path | None, str]:
    """A transform's start picture given as its first word (a path), and the rest."""
    words = request.split(maxsplit=1)
    if words:
        try:
            path = Path(shlex.split(words[0])[0]).expanduser()
        except ValueError:
            return None, request
        if path.is_file():
            return path, words[1] if len(words) > 1 else ""
    return None, request


class ChatCreate(ChatActions):
    BINDINGS = CREATE_KEYS

    @property
    def renderer(self) -> str:
        return self.engine.settings.image.renderer

    def action_imagine_message(self) -> None:
        # A priority key is handled before the keys typed just ahead of it reach the
        # box: read the box once it has taken them (its own queue runs this after).
        self.prompt.call_later(self._imagine_message)

    def _imagine_message(self) -> None:
        text = self.prompt.text.strip()
        if not text:
            self.notify("Write what to draw first; Ctrl+E makes pictures of it.",
                        severity="warning")  # fmt: skip
            return
        text = text if create_command(text) else f"/imagine {text}"
        self.prompt.post_message(self.prompt.Submitted(self.prompt, text))

    async def start_create(self, command: str, request: str) -> None:
        """Run a create command typed in the chat (the conversation exists)."""
        assert self.conv_id is not None
        await self.messages.mount(message_view("user", f"{command} {request}"))
        self.messages.anchor()
        if command == "/story":
            self.run_create(self.engine.create.story(self.conv_id, request))
            return
        self.imagine(request)

    def imagine(self, request: str, answer: str | None = None) -> None:
        from genai_tui.engine.create.flows import split_mode

        assert self.conv_id is not None
        mode, what = split_mode(request)
        start = None
        if mode == "transform":
            start, what = init_image_in(what)
            start = start or self.engine.create.start_picture(self.conv_id)
            request = f"transform: {what}"
        flow = self.engine.create.imagine(self.conv_id, request, answer, start)
        self.run_create(flow, request)

    @work(exclusive=True, group="chat", exit_on_error=False)
    async def run_create(self, events: AsyncIterator[Any], request: str = "") -> None:
        status = self.status
        shown: dict[int, PictureMessage] = {}
        try:
            async for event in events:
                if isinstance(event, CreateStep):
                    status.set(state=f"{event.text}… · Esc stops")
                elif isinstance(event, StepProgress):
                    status.set(state=f"drawing {event.index + 1}/{event.count} · step "
                                     f"{event.step}/{event.total} · Esc stops")  # fmt: skip
                elif isinstance(event, ModelLoading):
                    status.set(model=event.name, state="loading model…")
                elif isinstance(event, ModelLoaded):
                    status.set(model=event.name, context=(0, event.context_size))
                elif isinstance(event, CreateNote):
                    self.notify(event.text, title="Pictures", timeout=8)
                elif isinstance(event, Clarify):
                    self._ask(request, event)
                elif isinstance(event, PicturesSaved):
                    await self._show_pictures(event.message_id, shown)
            status.set(state="")
        except GenaiError as exc:
            status.set(state="error")
            self.notify(str(exc), title="Pictures", severity="error", timeout=10)
        finally:
            self.refresh_list()

    async def _show_pictures(self, message_id: int, shown: dict[int, PictureMessage]) -> None:
        message = self.engine.message(message_id)
        view = shown.get(message_id)
        if view is None:
            view = shown[message_id] = PictureMessage(message.kind, message.meta, self.renderer,
                                                      message_id=message_id)  # fmt: skip
            await self.messages.mount(view)
        else:
            await view.show(message.meta)
        self.messages.scroll_end(animate=False)

    def _ask(self, request: str, question: Clarify) -> None:
        from genai_tui.screens.clarify import ClarifyDialog

        def answered(answer: str | None) -> None:
            # Esc: draw it as asked (the flow never asks twice).
            self.imagine(request, answer or "as asked, no more detail")

        self.status.set(state="")
        self.app.push_screen(ClarifyDialog(question.question, question.suggestions), answered)

    def on_key(self, event: events.Key) -> None:
        """Typing while a picture has the focus writes in the message box, as elsewhere
        in the chat (a picture takes only Enter)."""
        if isinstance(self.focused, PictureTile) and event.is_printable and event.character:
            event.stop()
            self.prompt.focus()
            self.prompt.insert(event.character)

    @on(PictureTile.Opened)
    def _open_picture(self, event: PictureTile.Opened) -> None:
        from genai_tui.widgets.image_viewer import ImageViewer

        tile = event.tile
        image = load_picture(tile.path)
        if image is None:
            self.notify(f"{tile.path} is missing.", severity="warning")
            return

        def chosen(choice: str | None) -> None:
            if choice == "next" and tile.image_id is not None and self.conv_id is not None:
                if not self._busy():
                    self.run_create(self.engine.create.redraw(self.conv_id, tile.image_id))
            elif choice == "studio" and tile.image_id is not None:
                from genai_tui.screens.studio import StudioScreen

                self.app.switch_mode("studio")
                studio = self.app.screen
                if isinstance(studio, StudioScreen):  # recalled once it is drawn
                    studio.call_after_refresh(studio.recall_image, tile.image_id)

        about = f"{tile.about}\nseed {tile.seed} · {tile.path}"
        self.app.push_screen(ImageViewer(image, about, self.renderer, actions=True), chosen)
