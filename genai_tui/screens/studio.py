"""The image studio (F3): prompt, parameters, a model picker, live previews, the results
grid and the gallery. Thin: each key changes the request or calls one engine method;
one worker renders the run's events.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input, OptionList, Static, TabbedContent, TabPane

from genai_tui.engine.core.errors import GenaiError, ImageOutOfMemoryError
from genai_tui.engine.core.events import (
    ImageReady,
    ImagesDone,
    PipelineLoaded,
    PreviewImage,
    StepProgress,
)
from genai_tui.engine.core.text import human_bytes, printable
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.diffusion_params import (
    ImageRequest,
    validate,
)
from genai_tui.engine.images.gallery import GalleryImage
from genai_tui.engine.images.png_params import read_parameters
from genai_tui.engine.images.studio import ImageModel
from genai_tui.screens.dialogs import ConfirmDialog
from genai_tui.screens.studio_gallery import StudioGallery
from genai_tui.screens.studio_lora import StudioLora
from genai_tui.screens.studio_params import PARAMETER_KEYS
from genai_tui.screens.studio_queue import StudioQueue
from genai_tui.screens.studio_upscale import StudioUpscale
from genai_tui.textual_fixes import render_only_changed_regions
from genai_tui.widgets.downloads_line import DownloadsLine
from genai_tui.widgets.gallery_list import GalleryList
from genai_tui.widgets.gpu_line import GpuLine
from genai_tui.widgets.image_model_picker import ImageModelPicker
from genai_tui.widgets.image_view import ImageTile, load_picture
from genai_tui.widgets.image_viewer import ImageViewer
from genai_tui.widgets.results_grid import ResultsGrid
from genai_tui.widgets.step_progress import StepProgressBar
from genai_tui.workbench import ReportsWorkerErrors


class StudioScreen(ReportsWorkerErrors, StudioQueue, StudioGallery, StudioLora, StudioUpscale):
    CSS_PATH = "studio.tcss"

    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate", tooltip="Generate images from the prompt"),
        Binding("escape", "stop", "Cancel", tooltip="Stop generating after this step"),
        Binding("ctrl+o", "pick_model", "Model", tooltip="Pick the image model"),
        Binding("alt+o", "cycle_model", "Next model", show=False, priority=True,
                tooltip="Next image model"),  # fmt: skip
        Binding("ctrl+t", "toggle_gallery", "Gallery", tooltip="Results / gallery"),
        Binding("ctrl+r", "recall", "Recall", tooltip="Put the selected image's parameters in"),
        Binding("f5", "rerun(0)", "Same seed", show=False,
                tooltip="Make the selected image again (same seed)"),  # fmt: skip
        Binding("f6", "rerun(1)", "Next seed", show=False,
                tooltip="Re-run the selected image with the next seed"),  # fmt: skip
        Binding("enter,v", "view", "View", show=False, tooltip="Full view of the selected image"),
        Binding("ctrl+delete,delete", "delete", "Delete", show=False,
                tooltip="Delete the selected image (asks first)"),  # fmt: skip
        Binding("ctrl+y", "copy_path", "Copy path", show=False,
                tooltip="Copy the selected image's path (OSC 52)"),  # fmt: skip
        Binding("ctrl+l", "focus('prompt')", "Prompt", show=False, tooltip="Edit the prompt"),
        Binding("ctrl+n", "focus('negative')", "Negative", show=False,
                tooltip="Edit the negative prompt"),  # fmt: skip
        # Every terminal sends F8: the parameter list, where Enter edits one. Alt+letter
        # is a shortcut where the terminal sends it (priority: never typed as text).
        Binding("f8", "parameters", "Params", tooltip="Size, steps, CFG, seed, sampler, ..."),
        *PARAMETER_KEYS,
    ]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        # The progress line (top) and a preview (bottom) change in one frame: render
        # those two, not every widget between them. (Idempotent; app-wide once applied.)
        render_only_changed_regions()
        self.engine = engine
        self.images = engine.images
        self.renderer = engine.settings.image.renderer
        self.request: ImageRequest = self.images.request_defaults("")
        self.models: list[ImageModel] = []
        self.model: ImageModel | None = None
        self.offload_next = False
        self._gallery_stale = True

    def compose(self) -> ComposeResult:
        with Vertical(id="studio-top"):
            yield Input(placeholder="prompt · Enter generates", id="prompt")
            yield Input(placeholder="negative prompt (what to avoid)", id="negative")
            yield Static(id="params")
            yield StepProgressBar(id="progress")
        with TabbedContent(id="studio-tabs"):
            with TabPane("Results", id="results"):
                yield ResultsGrid(self.renderer, id="grid")
            with TabPane("Gallery", id="gallery"):
                with Horizontal():
                    yield GalleryList(id="gallery-list")
                    yield ImageTile(self.renderer, id="gallery-preview")
            yield self.queue_pane()  # the image queue (studio_queue.py)
        yield Static(id="studio-status")
        yield DownloadsLine()
        yield GpuLine()  # VRAM while generating, and "waiting for GPU" (hidden without one)
        yield Footer()

    @property
    def tiles(self) -> list[ImageTile]:
        return self.query_one(ResultsGrid).tiles

    def on_mount(self) -> None:
        # Kept: each step event reaches both (a query per event is a walk of the DOM).
        self._progress, self._grid = self.query_one(StepProgressBar), self.query_one(ResultsGrid)
        self._show_params()
        self.query_one("#prompt", Input).focus()
        self.list_models()
        self.refresh_gallery()

    # -- status ---------------------------------------------------------------

    def say(self, text: str, error: bool = False) -> None:
        status = self.query_one("#studio-status", Static)
        status.set_class(error, "-error")
        shown = Text(printable(text))
        # Lay the screen out again only when the line count changes (news per run).
        lines = len(shown.wrap(self.app.console, max(1, status.content_size.width)))
        status.update(shown, layout=min(lines, 3) != status.content_size.height)

    def fail(self, exc: GenaiError) -> None:
        self.say(str(exc), error=True)

    # -- models ---------------------------------------------------------------

    @work(exclusive=True, group="studio-models", exit_on_error=False)
    async def list_models(self, then_pick: bool = False) -> None:
        """Scan for image models (one copied in meanwhile is found); ctrl+o offers them."""
        self.models = await self.images.list_models()
        if then_pick:
            where = str(self.engine.settings.models_path)
            picker = ImageModelPicker(self.models, self.model, where)
            self.app.push_screen(picker, lambda m: self._choose(m) if m is not None else None)
        current = self.images.model
        if self.model is None and current is not None:
            self.model = next((m for m in self.models if m.path == current.path), None)
        if self.model is None:
            self.model = await asyncio.to_thread(self.images.default_model)
        self.first_model_known()  # its settings that stay come back
        if not self.models:
            where = self.engine.settings.models_path
            self.say("No image model found: download one on the Models screen (F2, kind: "
                     f"diffusers) or put one in {where}.", error=True)  # fmt: skip
        self._show_params()

    def action_pick_model(self) -> None:
        self.list_models(then_pick=True)

    def _choose(self, model: ImageModel) -> None:
        self.model = model
        self.apply_remembered(model)
        self.say(f"Model: {model.name} ({model.source}); it loads when you generate.")
        self._show_params()

    def action_cycle_model(self) -> None:
        usable = [m for m in self.models if m.error is None]
        if not usable:
            self.say("No image model to switch to.", error=True)
            return
        names = [m.path for m in usable]
        at = names.index(self.model.path) if self.model and self.model.path in names else -1
        self._choose(usable[(at + 1) % len(usable)])

    # -- generating -----------------------------------------------------------

    @on(Input.Submitted, "#prompt, #negative")
    def _submitted(self) -> None:
        self.action_generate()

    def action_generate(self) -> None:
        prompt = self.query_one("#prompt", Input).value
        negative = self.query_one("#negative", Input).value
        request = self.request.replace(prompt=prompt, negative_prompt=negative,
                                       offload=self.offload_next)  # fmt: skip
        self.remember_settings(request)
        self._start(request, self.model)

    def _start(self, request: ImageRequest, model: ImageModel | str | None) -> None:
        if self.images.generating or self.images.queue.busy:  # it waits its turn
            self.enqueue(request, model)
            return
        try:
            validate(request)
        except GenaiError as exc:
            self.fail(exc)
            return
        self.offload_next = False
        self.generate(request, model)

    def action_cancel(self) -> None:
        if self.images.generating:
            self.images.cancel()
            self.say("Cancelling after this step…")

    @work(exclusive=True, group="studio", exit_on_error=False)
    async def generate(self, request: ImageRequest, model: ImageModel | str | None) -> None:
        progress = self.query_one(StepProgressBar)
        self.query_one(TabbedContent).active = "results"
        self.query_one(ResultsGrid).prepare(request.variations, (request.width, request.height))
        per_image = request.steps
        if request.img2img:
            per_image = max(1, int(request.steps * request.strength))
        progress.start(per_image * request.variations, "starting…")
        if self.images.model is None or model is not None and (
            not isinstance(model, ImageModel) or self.images.model.path != model.path
        ):
            self.say(f"Loading {getattr(model, 'name', model) or 'the image model'}…")
        blinking = [box for box in self.query(Input) if box.cursor_blink]
        for box in blinking:  # steady while generating: each blink is a frame drawn
            box.cursor_blink = False
        try:
            async for event in self.images.generate(request, model):
                self._route(event)
        except ImageOutOfMemoryError as exc:
            self.offload_next = True
            self._show_params()
            self.say(f"{exc.message} Press ctrl+g to retry with CPU offload. {exc.hint}", True)
            progress.finish("out of memory")
        except GenaiError as exc:
            self.fail(exc)
            progress.finish("failed")
        finally:
            for box in blinking:  # a box without focus: no watcher, its timer stays off
                if box.has_focus:
                    box.cursor_blink = True
                else:
                    box.set_reactive(Input.cursor_blink, True)
            self._gallery_stale = True
            if self.query_one(TabbedContent).active == "gallery":
                self.refresh_gallery()

    def _route(self, event: Any) -> None:
        progress, grid = self._progress, self._grid
        if isinstance(event, StepProgress):
            # Drawn a few times a second, with the newest previews in the same frame.
            if progress.step(event.index, event.count, event.step, event.total, event.eta_s):
                grid.flush()
        elif isinstance(event, PreviewImage):
            grid.preview(event.index, event.step, event.image)
        elif isinstance(event, ImageReady):
            grid.ready(event.index, event.image, event.path, event.image_id,
                       f"seed {event.seed} · {event.duration_s:.1f} s")  # fmt: skip
        elif isinstance(event, PipelineLoaded) and event.pipeline == "remote":  # a server's
            self.say(f"{event.name} on {event.device}: {event.memory}.")  # no previews, ignored
        elif isinstance(event, PipelineLoaded):
            model = next((m for m in self.models if m.path == event.path), self.model)
            if model is not self.model:
                self.model = model
                self._show_params()
            self.say(f"Loaded {event.name} on {event.device} ({event.dtype}, "
                     f"{human_bytes(event.memory_bytes)}) in {event.load_s:.1f} s.")  # fmt: skip
        elif isinstance(event, ImagesDone):
            n = len(event.paths)
            if event.cancelled:
                progress.finish(f"cancelled · {n} image{'s' * (n != 1)} kept")
                self.say(f"Cancelled; {n} finished image{'s' * (n != 1)} saved.")
            else:
                progress.finish(f"{n} image{'s' * (n != 1)} in {event.duration_s:.1f} s")
                self.say(f"Saved {n} image{'s' * (n != 1)} in {self.images.gallery.folder}.")
            grid.done(n)

    # -- gallery --------------------------------------------------------------

    @work(exclusive=True, group="studio-gallery", exit_on_error=False)
    async def refresh_gallery(self) -> None:
        self._gallery_stale = False
        images = await asyncio.to_thread(self.images.gallery.images)
        self.query_one(GalleryList).show(images)

    @on(TabbedContent.TabActivated, "#studio-tabs")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        # The list is rebuilt when it is seen, not after every run (that costs frames
        # while the next run generates).
        if event.pane.id == "gallery" and self._gallery_stale:
            self.refresh_gallery()

    @on(OptionList.OptionHighlighted, "#gallery-list")
    def _highlighted(self) -> None:
        self._preview_selected()

    @work(exclusive=True, group="studio-preview", exit_on_error=False)
    async def _preview_selected(self) -> None:
        img = self.query_one(GalleryList).selected
        if img is None or not img.exists:
            return
        picture = await asyncio.to_thread(load_picture, img.path)
        if picture is None:
            return
        tile = self.query_one("#gallery-preview", ImageTile)
        tile.path, tile.image_id = img.path, img.id
        tile.show(picture, f"seed {img.seed} · {img.model}")

    @on(OptionList.OptionSelected, "#gallery-list")
    def _selected_in_list(self) -> None:
        self.action_view()

    def action_toggle_gallery(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "gallery" if tabs.active == "results" else "results"
        if tabs.active == "gallery":
            if self._gallery_stale:
                self.refresh_gallery()
            self.query_one(GalleryList).focus()
        elif self.tiles:
            self.tiles[0].focus()

    def _selected(self) -> GalleryImage | None:
        """The gallery's highlighted image, or the focused result (else the last made)."""
        if self.query_one(TabbedContent).active == "gallery":
            return self.query_one(GalleryList).selected
        focused = self.focused if isinstance(self.focused, ImageTile) else None
        made = [t for t in self.tiles if t.image_id is not None]
        tile = focused if focused in made else (made[-1] if made else None)
        if tile is None or tile.image_id is None:
            return None
        try:
            return self.images.gallery.image(tile.image_id)
        except GenaiError:
            return None

    def _need_selected(self) -> GalleryImage | None:
        img = self._selected()
        if img is None:
            self.say("No image selected: generate one, or pick one in the gallery (ctrl+t).",
                     error=True)  # fmt: skip
        return img

    def action_view(self) -> None:
        img = self._need_selected()
        if img is not None:
            self._view(img)

    @work(exclusive=True, group="studio-view", exit_on_error=False)
    async def _view(self, img: GalleryImage) -> None:
        """The full view; the PNG is read and decoded off the event loop."""
        picture = await asyncio.to_thread(load_picture, img.path) if img.exists else None
        if picture is None:
            self.say(f"{img.path} is missing.", error=True)
            return
        about = await asyncio.to_thread(read_parameters, img.path) or img.prompt
        self.app.push_screen(ImageViewer(picture, f"{about}\n{img.path}", self.renderer))

    def action_recall(self) -> None:
        img = self._need_selected()
        if img is not None:
            self.recall(img)

    def action_rerun(self, step: int) -> None:
        img = self._need_selected()
        if img is None:
            return
        seed = (img.seed or 0) + step
        model = next((m for m in self.models if m.name == img.model), None)
        self._start(img.request(seed=seed), model or img.model or None)

    def action_delete(self) -> None:
        img = self._need_selected()
        if img is None:
            return

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                await asyncio.to_thread(self.images.gallery.delete, img.id)
            except GenaiError as exc:
                self.fail(exc)
                return
            self.query_one(ResultsGrid).forget(img.id)
            self.say(f"Deleted {img.path.name}.")
            self.refresh_gallery()

        self.app.push_screen(ConfirmDialog(f"Delete {img.path.name} from the gallery and disk?"),
                             confirmed)  # fmt: skip

    def action_copy_path(self) -> None:
        img = self._need_selected()
        if img is None:
            return
        self.app.copy_to_clipboard(str(img.path))
        self.say(f"Copied {img.path} (OSC 52).")
