"""Settings that stay: the studio's last size, steps, guidance, sampler, seed mode,
variations and img2img strength, per image model, in the store (table studio_settings).

Remembered when the studio starts a request; recalled when a model is picked, over the
[image] settings' defaults (ImageStudio.request_defaults(model=...)). `genai-tui gen`
does not use them: on the command line, flags and [image] settings only.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError, StoreError
from genai_tui.engine.images.diffusion_params import ImageRequest, validate

if TYPE_CHECKING:
    from genai_tui.engine.core.store import Store

FIELDS: dict[str, type | tuple[type, ...]] = {
    "width": int, "height": int, "steps": int, "guidance": (int, float), "scheduler": str,
    "seed_mode": str, "variations": int, "strength": (int, float),
}  # fmt: skip
SIZE = ("width", "height")


class StudioMemory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def remember(self, model: str, request: ImageRequest) -> None:
        """Keep `request`'s settings for `model`. An img2img size is the init picture's,
        not a choice: the size remembered before is kept."""
        if not model:
            return
        values = {name: getattr(request, name) for name in FIELDS}
        try:
            if request.img2img:
                kept = self.store.studio_settings(model)
                for name in SIZE:
                    if name in kept:
                        values[name] = kept[name]
                    else:
                        values.pop(name)
            self.store.save_studio_settings(model, values)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Could not keep the studio's settings for {model}: {exc}.",
                             "Check the database (genai-tui doctor).") from exc  # fmt: skip

    def recall(self, model: str) -> dict[str, Any]:
        """The changes to a request that `model` had last: only the known fields of the
        right type, and nothing when together they make no valid request."""
        if not model:
            return {}
        try:
            stored = self.store.studio_settings(model)
        except sqlite3.DatabaseError:
            return {}  # the settings' defaults, then
        values = {
            name: stored[name]
            for name, kind in FIELDS.items()
            if isinstance(stored.get(name), kind) and not isinstance(stored.get(name), bool)
        }
        if ("width" in values) != ("height" in values):
            for name in SIZE:
                values.pop(name, None)
        if not 0.0 < values.get("strength", 0.75) <= 1.0:
            values.pop("strength")
        try:
            validate(ImageRequest("x", **values))
        except GenaiError:
            return {}
        return values
