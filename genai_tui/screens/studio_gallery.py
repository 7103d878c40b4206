"""The studio's pictures as a start, and its settings that stay. A base of StudioScreen.

- Ctrl+B: image-to-image from the selected picture (the gallery's, or the focused result):
  the init image set to it, the size from it (fitted in steps of 8), the strength as last
  used (0.75 at first); pressed again on the same picture, or Alt+B, turns it off.
- Ctrl+F: a path box (Tab completes) for any PNG, genai-tui's, AUTOMATIC1111's or
  ComfyUI's; its parameters (prompt, negative, seed, size, steps, CFG, sampler, model)
  go into the form.
- Each image model's last size, steps, guidance, sampler, seed mode, variations and
  strength come back when it is picked, across restarts (engine/images/studio_memory.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.widgets import Input

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.images.diffusion_params import check_size, fit_size, validate
from genai_tui.engine.images.gallery import recalled_values
from genai_tui.screens.attach_dialog import complete_path
from genai_tui.screens.dialogs import TextDialog
from genai_tui.screens.studio_assist import StudioAssist

if TYPE_CHECKING:
    from genai_tui.engine.images.diffusion_params import ImageRequest
    from genai_tui.engine.images.gallery import GalleryImage
    from genai_tui.engine.images.studio import ImageModel


class PngPathDialog(TextDialog):
    """The path of a PNG; Tab completes it, Enter recalls it, Esc cancels."""

    BINDINGS = [Binding("tab", "complete", "Complete path", priority=True, show=False)]

    def action_complete(self) -> None:
        box = self.query_one(Input)
        box.value, _names = complete_path(box.value)
        box.cursor_position = len(box.value)


class StudioGallery(StudioAssist):
    BINDINGS = [
        Binding("ctrl+b", "img2img", "img2img", show=False,
                tooltip="Image-to-image from the selected picture (again: off)"),  # fmt: skip
        Binding("alt+b", "img2img_off", "img2img off", show=False, priority=True,
                tooltip="Turn image-to-image off"),  # fmt: skip
        Binding("ctrl+f", "open_png", "Open PNG", show=False,
                tooltip="Recall the parameters of a PNG file (ours, A1111's, ComfyUI's)"),
    ]

    _started = False  # the first model's remembered settings were applied
    _size_before: tuple[int, int] | None = None  # the form's size before img2img from a picture

    if TYPE_CHECKING:  # StudioScreen's

        def fail(self, exc: GenaiError) -> None: ...

        def _need_selected(self) -> GalleryImage | None: ...

    # -- image-to-image from a picture ----------------------------------------

    def action_img2img(self) -> None:
        img = self._need_selected()
        if img is None:
            return
        init = self.request.init_image
        if init is not None and Path(init) == img.path:
            self.action_img2img_off()
        elif not img.exists:
            self.say(f"{img.path} is missing.", error=True)
        else:
            self.use_picture(img.path, (img.width or 0, img.height or 0), img.prompt,
                             img.negative_prompt)  # fmt: skip

    def use_picture(self, path: Path, size: tuple[int, int], prompt: str = "",
                    negative: str = "") -> None:  # fmt: skip
        """Image-to-image from `path` (`size`: its pixels), at the strength last used."""
        if not all(size):
            size = picture_size(path) or (self.request.width, self.request.height)
        width, height = fit_size(*size)
        try:
            check_size(width, height)
        except GenaiError as exc:
            self.fail(exc)
            return
        if self.request.init_image is None:
            self._size_before = (self.request.width, self.request.height)
        self.request = self.request.replace(init_image=path, width=width, height=height)
        for box, text in (("#prompt", prompt), ("#negative", negative)):
            if text and not self.query_one(box, Input).value.strip():
                self.query_one(box, Input).value = text
        self._show_params()
        self.say(f"Image-to-image from {path.name} ({width}x{height}) at strength "
                 f"{self.request.strength:g}: ctrl+g generates · alt+r sets the strength · "
                 "ctrl+b again or alt+b turns it off.")  # fmt: skip

    def action_img2img_off(self) -> None:
        if self.request.init_image is None:
            self.say("Image-to-image is off.")
            return
        width, height = self._size_before or (self.request.width, self.request.height)
        self.request = self.request.replace(init_image=None, width=width, height=height)
        self._size_before = None
        self._show_params()
        self.say(f"Image-to-image off; back to {width}x{height}.")

    # -- any PNG's parameters -------------------------------------------------

    def action_open_png(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self.recall_png(Path(text).expanduser())

        start = str(self.images.gallery.folder) + "/"
        self.app.push_screen(PngPathDialog(
            "Recall the parameters of a PNG (Tab completes the path)", start,
            "genai-tui's, AUTOMATIC1111's or ComfyUI's PNGs · Enter recalls · Esc cancels",
        ), answered)  # fmt: skip

    @work(exclusive=True, group="studio-open-png", exit_on_error=False)
    async def recall_png(self, path: Path) -> None:
        """Put the PNG's parameters in the form; what it does not say stays as it was."""
        try:
            params = await asyncio.to_thread(self.images.gallery.params_from_file, path)
        except GenaiError as exc:
            self.fail(exc)
            return
        values: dict[str, Any] = {"variations": 1, "seed_mode": "fixed", **recalled_values(params)}
        self.request = self.request.replace(init_image=None, **values)
        self._size_before = None
        self.query_one("#prompt", Input).value = params.prompt
        self.query_one("#negative", Input).value = params.negative_prompt
        notes = []
        if params.model:
            named = [m for m in self.models if params.model in (m.name, m.path.stem, m.path.name)]
            if named:
                self.model = named[0]
            else:
                here = self.model.name if self.model else "the default"
                notes.append(f"its model {params.model} is not here, keeping {here}")
        if "ComfyUI seed" in params.extra:
            notes.append(f"ComfyUI's seed {params.extra['ComfyUI seed']} is past 32 bits: "
                         f"seed {params.seed} instead")  # fmt: skip
        if "ComfyUI sampler" in params.extra:
            notes.append(f"the sampler {params.extra['ComfyUI sampler']} is not known here: "
                         "the model's own is used")  # fmt: skip
        self._show_params()
        source = " (ComfyUI)" if params.extra.get("Source") == "ComfyUI" else ""
        try:
            validate(self.request.replace(prompt=self.request.prompt or "x"))
        except GenaiError as exc:
            notes.append(f"change this before generating: {exc}")
        seed = "random" if self.request.seed is None else self.request.seed
        self.say(f"Recalled {path.name}{source}: seed {seed}; ctrl+g makes it again."
                 + "".join(f" Note: {n}." for n in notes), error=bool(notes))  # fmt: skip

    # -- settings that stay ---------------------------------------------------

    def remember_settings(self, request: ImageRequest) -> None:
        """Keep the settings of a request about to start for the model (they come back
        when it is picked, also after a restart); a request refused is not kept."""
        if self.model is None:
            return
        try:
            validate(request)
        except GenaiError:
            return  # _start says what is wrong
        try:
            self.images.memory.remember(self.model.name, request)
        except GenaiError as exc:
            self.fail(exc)

    def apply_remembered(self, model: ImageModel | None) -> None:
        """`model`'s last settings into the form (an img2img size is the picture's: kept)."""
        if model is None:
            return
        try:
            values = self.images.memory.recall(model.name)
        except GenaiError as exc:
            self.fail(exc)
            return
        if self.request.img2img:
            values.pop("width", None)
            values.pop("height", None)
        if values:
            self.request = self.request.replace(**values)

    def first_model_known(self) -> None:
        """Once, when the studio first knows its model: that model's settings come back."""
        if not self._started and self.model is not None:
            self._started = True
            self.apply_remembered(self.model)


def picture_size(path: Path) -> tuple[int, int] | None:
    """A picture's pixels from its header (no decode); None when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError):
        return None
