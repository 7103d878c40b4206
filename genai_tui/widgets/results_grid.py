"""The studio's results: one tile per variation of a run, live previews, then the pictures.

Previews are kept as they come and drawn on `flush` (the screen calls it when it draws
the progress, a few times a second), so a run's previews and progress share frames.
The tiles stay from run to run while the grid's shape is the same: nothing is mounted
or laid out again per run.
"""

from __future__ import annotations

from math import ceil
from pathlib import Path
from typing import Any

from textual.containers import Grid

from genai_tui.widgets.image_view import ImageTile


class ResultsGrid(Grid):
    """Tiles for a run's variations: `prepare`, then `preview`/`flush`, `ready`, `done`."""

    def __init__(self, renderer: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.renderer = renderer
        self.tiles: list[ImageTile] = []
        self._pending: dict[int, tuple[int, Any]] = {}  # index -> (step, preview)

    def prepare(self, count: int, shape: tuple[int, int]) -> None:
        """`count` tiles for pictures of `shape` (width, height), each waiting."""
        self._pending.clear()
        if len(self.tiles) == count and all(t.shape == shape for t in self.tiles):
            # The same grid again: keep the tiles (no layout); old pictures stay until
            # the first preview replaces them.
            for tile in self.tiles:
                tile.path, tile.image_id = None, None
                tile.set_caption(f"#{tile.index + 1} waiting")
            return
        self.remove_children()
        columns = 1 if count == 1 else 2 if count <= 4 else 4
        self.styles.grid_size_columns = columns
        self.styles.grid_size_rows = ceil(count / columns)
        self.tiles = [ImageTile(self.renderer, f"#{i + 1} waiting", index=i, shape=shape)
                      for i in range(count)]  # fmt: skip
        self.mount_all(self.tiles)

    def preview(self, index: int, step: int, image: Any) -> None:
        """Keep the newest preview of variation `index` for the next `flush`."""
        if 0 <= index < len(self.tiles):
            self._pending[index] = (step, image)

    def flush(self) -> None:
        """Draw the previews kept since the last flush (coarse: they are a glimpse)."""
        pending, self._pending = self._pending, {}
        for index, (step, image) in pending.items():
            self.tiles[index].show(image, f"step {step}", preview=True)

    def ready(self, index: int, image: Any, path: Path, image_id: int, caption: str) -> None:
        """Variation `index` is finished: its picture replaces the preview."""
        self._pending.pop(index, None)
        tile = self.tiles[index]
        tile.path, tile.image_id = path, image_id
        tile.show(image, caption)

    def done(self, made: int) -> None:
        """The run is over with `made` pictures: the tiles after them say so."""
        self._pending.clear()
        for tile in self.tiles[made:]:
            tile.set_caption("not made")

    def forget(self, image_id: int) -> None:
        """A picture was deleted: its tile keeps the pixels but no longer points at it."""
        for tile in self.tiles:
            if tile.image_id == image_id:
                tile.image_id, tile.path = None, None
                tile.set_caption("deleted")
