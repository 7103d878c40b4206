"""The processes holding GPU memory: sortable by memory or PID; this app's row marked.

Rows are keyed by GPU and PID and updated in place; sorting happens only when
the rows or the sort order change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from genai_tui.engine.core.text import human_bytes, printable

if TYPE_CHECKING:
    from genai_tui.engine.gpu.nvml import ProcessSample

COLUMNS = (("gpu", "GPU"), ("pid", "PID"), ("user", "User"), ("name", "Process"),
           ("memory", "GPU memory"), ("mark", ""))  # fmt: skip


def _cell(text: str, width: int) -> str:
    """A process's name or user as one short line: whoever runs the process chose it
    (psutil falls back to argv[0], any length, escapes and all)."""
    text = " ".join(printable(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Sized:
    """A cell that shows bytes and sorts by them (unknown sorts lowest)."""

    __slots__ = ("value",)

    def __init__(self, value: int | None) -> None:
        self.value = value

    def __rich__(self) -> Text:
        return Text("n/a" if self.value is None else human_bytes(self.value), justify="right")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sized) and other.value == self.value


class Pid(int):
    def __rich__(self) -> Text:
        return Text(str(int(self)), justify="right")


class ProcessTable(DataTable):
    """`sort_by` is "memory" (largest first) or "pid"; `toggle_sort` flips or switches."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_by = "memory"
        self.reverse = True

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def set_sort(self, column: str) -> None:
        """Sort by `column`; asked again, reverse the order."""
        if column == self.sort_by:
            self.reverse = not self.reverse
        else:
            self.sort_by, self.reverse = column, column == "memory"
        self._sort()

    def _sort(self) -> None:
        if self.sort_by == "memory":
            self.sort("memory", key=lambda m: -1 if m.value is None else m.value,
                      reverse=self.reverse)  # fmt: skip
        else:
            self.sort("pid", key=int, reverse=self.reverse)

    def show(self, processes: tuple[ProcessSample, ...]) -> None:
        rows = {f"{p.gpu}:{p.pid}": p for p in processes}
        changed = False
        for key in [k.value for k in self.rows if k.value not in rows]:
            self.remove_row(key)
            changed = True
        for key, p in rows.items():
            memory = Sized(p.gpu_memory)
            if key in self.rows:
                if self.get_cell(key, "memory") != memory:
                    self.update_cell(key, "memory", memory)
                    changed = changed or self.sort_by == "memory"
                continue
            style = "bold" if p.is_self else ""
            self.add_row(
                Text(str(p.gpu)), Pid(p.pid), Text(_cell(p.user, 24), style=style),
                Text(_cell(p.name, 48), style=style), memory,
                Text("◀ this app", style="bold cyan") if p.is_self else Text(""),
                key=key,
            )  # fmt: skip
            changed = True
        if changed:
            self._sort()
