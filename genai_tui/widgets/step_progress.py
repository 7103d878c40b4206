"""A progress bar with a one-line summary of an image run: step, image, elapsed, ETA."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from genai_tui.widgets.downloads_line import human_eta

UPDATE_S = 1 / 5  # step events may come faster than a terminal needs to show them


class StepProgressBar(Horizontal):
    DEFAULT_CSS = """
    StepProgressBar { height: 1; padding: 0 1; }
    StepProgressBar ProgressBar { width: 22; }
    StepProgressBar #bar Bar { width: 20; }
    StepProgressBar .summary { width: 1fr; color: $text-muted; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown = 0.0

    def compose(self) -> ComposeResult:
        # No percentage label: its updates would lay the screen out again every step.
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="bar")
        yield Static(Text("idle"), classes="summary")

    def start(self, total_steps: int, label: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=total_steps, progress=0)
        self.say(label)

    def step(self, index: int, count: int, step: int, total: int, eta_s: float | None,
             *, force: bool = False) -> None:  # fmt: skip
        """Move to `step` of image `index`; redrawn at most 10 times a second."""
        now = time.monotonic()
        if not force and now - self._shown < UPDATE_S and step != total:
            return
        self._shown = now
        self.query_one(ProgressBar).update(total=total * count, progress=index * total + step)
        eta = f" · ETA {human_eta(eta_s)}" if eta_s is not None else ""
        done = 100 * (index * total + step) // (total * count)
        self.say(f"image {index + 1}/{count} · step {step}/{total} · {done}%{eta}")

    def finish(self, label: str) -> None:
        bar = self.query_one(ProgressBar)
        if bar.total:
            bar.update(progress=bar.total)
        self.say(label)

    def say(self, text: str) -> None:
        # layout=False: the line has a fixed size, so only it is redrawn.
        self.query_one(".summary", Static).update(Text(text, no_wrap=True), layout=False)
