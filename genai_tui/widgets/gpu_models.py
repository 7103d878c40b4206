"""The models loaded now (chat and image): where (CPU, GPU1, GPU0+1: split), memory,
idle time, state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from genai_tui.engine.core.text import human_bytes, human_duration
from genai_tui.engine.gpu.residency import label

if TYPE_CHECKING:
    from genai_tui.engine.gpu.residency import Resident

COLUMNS = (("key", "Model"), ("kind", "Kind"), ("device", "Device"), ("memory", "Memory"),
           ("idle", "Idle"), ("state", "State"))  # fmt: skip


class LoadedModels(DataTable):
    """Rows keyed by model; cells updated in place each second."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)

    def on_mount(self) -> None:
        for key, title in COLUMNS:
            self.add_column(title, key=key)

    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return key

    def show(self, residents: list[Resident]) -> None:
        keys = {r.key for r in residents}
        for key in [k.value for k in self.rows if k.value not in keys]:
            self.remove_row(key)
        for r in residents:
            state = "loading" if r.loading else "busy" if r.busy else "idle"
            size = human_bytes(r.bytes) + ("" if r.measured_bytes is not None else " (est.)")
            cells = {
                "key": Text(label(r.key)), "kind": Text(r.kind), "device": Text(r.where),
                "memory": Text(size, justify="right"),
                "idle": Text(human_duration(r.idle_s) if state == "idle" else "-", justify="right"),
                "state": Text(state),
            }  # fmt: skip
            if r.key in self.rows:
                for column, value in cells.items():
                    if self.get_cell(r.key, column) != value:
                        self.update_cell(r.key, column, value)
            else:
                self.add_row(*cells.values(), key=r.key)
