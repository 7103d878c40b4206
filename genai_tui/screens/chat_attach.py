"""Files in the chat: Ctrl+A opens the attach dialog; each file added shows above the prompt
(`📎 main.py · 1,204 tokens`, an image `🖼 cat.png · 640×480`); Backspace in an empty prompt
removes the last one; on send, `take_images` gives the images (they go as pictures, when the
chat's model takes them) and `take_attachments` puts the files' text before what was typed.
A base of ChatScreen; every count and check goes through `Engine.attachments`
(engine/chat/attachments.py, images: engine/chat/vision.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.screen import Screen

from genai_tui.engine.chat.attachments import Attachment, Fit, message_with_files
from genai_tui.engine.chat.vision import is_image
from genai_tui.engine.core.errors import GenaiError
from genai_tui.screens.attach_dialog import AttachDialog
from genai_tui.screens.chat_keys import ATTACH_KEYS
from genai_tui.widgets.attachment_line import AttachmentLine
from genai_tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from genai_tui.engine.chat.attachments import Counter
    from genai_tui.engine.engine import Engine


class ChatAttach(Screen[None]):
    """Pending attachments of the message being written; ChatScreen supplies the state."""

    BINDINGS = ATTACH_KEYS

    engine: Engine
    conv_id: int | None
    remote_choice: tuple[str, str] | None
    editing: bool
    attached: tuple[Attachment, ...] = ()
    """The files that go with the next message, in order."""
    prompt: PromptInput

    # -- the dialog -----------------------------------------------------------

    def action_attach_file(self) -> None:
        self._attach_file()

    async def _counter(self) -> Counter:
        if self.conv_id is not None:
            return await self.engine.attachments.counter(self.conv_id)
        provider, model = self.remote_choice or ("", "")
        return await self.engine.attachments.counter(None, provider, model)

    @work(exclusive=True, group="attach", exit_on_error=False)
    async def _attach_file(self) -> None:
        try:
            counter = await self._counter()
        except GenaiError as exc:
            self.notify(str(exc), title="Attach", severity="error", markup=False)
            return
        helper, pending, typed = self.engine.attachments, self.attached, self.prompt.text

        async def measure(path: Path) -> Fit:
            if is_image(path):  # refused when the chat's model takes text only
                provider, model = self.remote_choice or ("", "")
                return await helper.measure_image(path, counter, self.conv_id, provider, model)
            return await helper.measure(path, counter, pending, typed)

        async def trim(fit: Fit) -> Attachment:
            return await helper.trim(fit, counter)

        start = f"{self.attached[-1].path.parent}/" if self.attached else ""
        def pictures() -> list[Path]:  # the studio's gallery, newest first
            return [image.path for image in self.engine.images.gallery.images(limit=200)]

        dialog = AttachDialog(measure, trim, start, pictures)
        attachment = await self.app.push_screen_wait(dialog)
        if attachment is not None:
            self.attached = (*self.attached, attachment)
            await self._show_attached()
        self.prompt.focus()

    # -- the pending files ----------------------------------------------------

    async def _show_attached(self) -> None:
        lines = self.query(AttachmentLine)
        if lines:
            line = lines.first()
        elif self.attached:
            line = AttachmentLine()
            parent = self.prompt.parent
            assert parent is not None
            await parent.mount(line, before=self.prompt)
        else:
            return
        line.show(self.attached)

    @on(PromptInput.BackspaceOnEmpty)
    async def remove_last_attachment(self) -> None:
        if not self.attached:
            return
        removed, self.attached = self.attached[-1], self.attached[:-1]
        await self._show_attached()
        self.notify(f"{removed.name} is no longer attached.", markup=False)

    async def clear_attachments(self) -> None:
        self.attached = ()
        await self._show_attached()

    def take_images(self) -> tuple[Path, ...]:
        """The images attached, in order: they go with the message as pictures (call before
        `take_attachments`, which clears the line)."""
        images = tuple(a.path for a in self.attached if a.pixels)
        if images and self.editing:  # Engine.edit_last takes text only
            self.notify("An edited message goes as text only: its images were not sent.",
                        severity="warning")  # fmt: skip
            return ()
        return images

    def take_attachments(self, text: str) -> str:
        """The message to send: the attached files' text, then `text`; the line clears."""
        if not self.attached:
            return text
        message = message_with_files(text, self.attached)
        self.attached = ()
        for line in self.query(AttachmentLine):
            line.show(())
        return message
