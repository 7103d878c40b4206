"""The studio's prompt assistant (Ctrl+E): the idea in the prompt box goes to the chat
model in use, and a detailed prompt and negative prompt stream back into the two boxes,
editable before generating. Esc stops it; what arrived stays. Also the studio's recall
(a gallery picture's parameters back in the boxes), which the chat's pictures use too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.widgets import Input

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import CreateStep, ModelLoading, PromptDraft
from genai_tui.screens.studio_params import StudioParams

if TYPE_CHECKING:
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.images.gallery import GalleryImage
    from genai_tui.engine.images.studio import ImageModel


class StudioAssist(StudioParams):
    BINDINGS = [
        Binding("ctrl+e", "assist", "Write prompt", priority=True,
                tooltip="The chat model turns the idea in the prompt box into a detailed "
                "prompt and negative prompt"),  # fmt: skip
    ]

    engine: Engine
    models: list[ImageModel]

    if TYPE_CHECKING:  # StudioScreen's

        def say(self, text: str, error: bool = False) -> None: ...

        def action_cancel(self) -> None: ...

    def action_assist(self) -> None:
        if self.engine.generating or self.images.generating:
            self.say("Busy: wait, or stop with Esc.", error=True)
            return
        # Read the box after it has taken the keys typed just ahead of this priority key.
        box = self.query_one("#prompt", Input)
        box.call_later(lambda: self.write_prompt(box.value))

    def action_stop(self) -> None:
        """Esc: stop the prompt writer if it runs, else cancel the generation."""
        if self.engine.generating:
            self.engine.stop()
            self.say("Stopped the prompt writer; what it wrote is in the boxes.")
        else:
            self.action_cancel()

    @work(exclusive=True, group="studio-assist", exit_on_error=False)
    async def write_prompt(self, idea: str) -> None:
        prompt, negative = self.query_one("#prompt", Input), self.query_one("#negative", Input)
        try:
            async for event in self.engine.create.write_prompt(idea):
                if isinstance(event, ModelLoading):
                    self.say(f"Loading {event.name}…")
                elif isinstance(event, CreateStep):
                    self.say(f"{event.text}… · Esc stops")
                elif isinstance(event, PromptDraft):
                    prompt.value, negative.value = event.prompt, event.negative_prompt
            self.say("The prompt is ready: edit it, then Enter or ctrl+g generates.")
            prompt.focus()
        except GenaiError as exc:
            self.say(str(exc), error=True)

    def recall(self, img: GalleryImage) -> None:
        """Put `img`'s parameters in: prompt, negative prompt, settings, model."""
        self.request = img.request()
        self.query_one("#prompt", Input).value = img.prompt
        self.query_one("#negative", Input).value = img.negative_prompt
        self.model = next((m for m in self.models if m.name == img.model), self.model)
        self._show_params()
        self.say(f"Recalled the parameters of seed {img.seed}; ctrl+g makes it again.")

    def recall_image(self, image_id: int) -> None:
        """Recall a gallery picture by id (a picture sent here from the chat)."""
        try:
            self.recall(self.images.gallery.image(image_id))
        except GenaiError as exc:
            self.say(str(exc), error=True)
