"""A progress bar with a one-line summary of an image run: step, image, elapsed, ETA.

A TextLine drawing one strip (bar and text), rebuilt only when what it shows changes,
and at most `UPDATE_S` apart while steps come: each redraw is CPU the event loop takes
from a generation that needs the GIL.
"""

from __future__ import annotations

import time

from rich.segment import Segment
from rich.style import Style

from genai_tui.engine.core.text import printable
from genai_tui.widgets.downloads_line import human_eta
from genai_tui.widgets.text_line import TextLine

UPDATE_S = 0.5  # step events come faster than anyone reads them
BAR_CELLS = 20


class StepProgressBar(TextLine):
    """`start`, then `step` per step event (drawn a few times a second), then `finish`."""

    COMPONENT_CLASSES = {"step-progress--done", "step-progress--todo"}
    DEFAULT_CSS = """
    StepProgressBar { height: 1; padding: 0 1; color: $text-muted; }
    StepProgressBar > .step-progress--done { color: $accent; }
    StepProgressBar > .step-progress--todo { color: $foreground 15%; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__("idle", id=id)
        self._shown = 0.0
        self.total = 0
        self.progress = 0
        self._parts: tuple[Style, Style] | None = None  # (done, todo), until styles change

    def start(self, total_steps: int, label: str) -> None:
        self.total, self.progress = total_steps, 0
        self._shown = 0.0
        self.say(label)

    def step(self, index: int, count: int, step: int, total: int, eta_s: float | None,
             *, force: bool = False) -> bool:  # fmt: skip
        """Move to `step` of image `index`; redrawn at most every `UPDATE_S` (`force`: now).
        True when it was drawn."""
        now = time.monotonic()
        if not force and now - self._shown < UPDATE_S:
            return False
        self._shown = now
        self.total, self.progress = total * count, index * total + step
        eta = f" · ETA {human_eta(eta_s)}" if eta_s is not None else ""
        done = 100 * self.progress // max(1, self.total)
        self.say(f"image {index + 1}/{count} · step {step}/{total} · {done}%{eta}")
        return True

    def finish(self, label: str) -> None:
        self.progress = self.total
        self.say(label)

    def say(self, text: str) -> None:
        self.text = " ".join(printable(text).split())
        self.redraw()  # the bar moved even when the words did not

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._parts = None

    def segments(self, width: int, style: Style) -> list[Segment]:
        done = BAR_CELLS * self.progress // self.total if self.total else 0
        if self._parts is None:  # Textual forgets component styles at every refresh
            self._parts = (self.get_component_rich_style("step-progress--done"),
                           self.get_component_rich_style("step-progress--todo"))  # fmt: skip
        done_style, todo_style = self._parts
        parts = [
            Segment("━" * done, done_style),
            Segment("━" * (BAR_CELLS - done), todo_style),
            Segment(f"  {self.text}", style),
        ]
        return [p for p in parts if p.text]
