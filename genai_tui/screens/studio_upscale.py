"""U in the studio: the selected picture (the gallery's, or the focused result) upscaled
×2 into the gallery, with an upscaler model when one is in the models dir, else with
Lanczos (the status line says which, and where to put a model). A base of StudioScreen;
the work is `ImageStudio.upscale` (engine/images/upscale.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.screen import Screen

from genai_tui.engine.core.errors import GenaiError

if TYPE_CHECKING:
    from genai_tui.engine.images.gallery import GalleryImage
    from genai_tui.engine.images.studio import ImageStudio

UPSCALE_FACTOR = 2.0


class StudioUpscale(Screen[None]):
    BINDINGS = [
        # A plain key, as "v" (view): it reaches the screen only while no text box has focus.
        Binding("u", "upscale", "Upscale ×2", show=False,
                tooltip="Upscale the selected picture ×2 into the gallery"),  # fmt: skip
    ]

    images: ImageStudio
    _gallery_stale: bool

    if TYPE_CHECKING:  # StudioScreen's

        def say(self, text: str, error: bool = False) -> None: ...

        def fail(self, exc: GenaiError) -> None: ...

        def _need_selected(self) -> GalleryImage | None: ...

        def refresh_gallery(self) -> None: ...

    def action_upscale(self) -> None:
        img = self._need_selected()
        if img is not None:
            self.say(f"Upscaling {img.path.name} ×{UPSCALE_FACTOR:g}…")
            self._upscale(img.id)

    @work(exclusive=True, group="studio-upscale", exit_on_error=False)
    async def _upscale(self, image_id: int) -> None:
        try:
            done = await self.images.upscale(image_id, UPSCALE_FACTOR)
        except GenaiError as exc:
            self.fail(exc)
            return
        self.say(done.message)
        self._gallery_stale = True
        self.refresh_gallery()
