"""A one-line summary of the download queue, shown on every screen while it works."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from genai_tui.engine.core.text import human_bytes, human_duration
from genai_tui.workbench import workbench

if TYPE_CHECKING:
    from genai_tui.engine.models.download_jobs import DownloadJob

ACTIVE = {"queued", "running", "verifying"}


def human_eta(seconds: float | None) -> str:
    return "" if seconds is None else human_duration(seconds)


def summary(jobs: list[DownloadJob]) -> str:
    """`↓ 2 downloads · 45% of 4.1 GB · 12.3 MB/s · ETA 1m05s`, or "" when idle."""
    active = [j for j in jobs if j.state in ACTIVE]
    if not active:
        return ""
    done = sum(j.done for j in active)
    total = sum(j.total for j in active)
    speed = sum(j.speed_bps for j in active)
    parts = [f"↓ {len(active)} download{'s' if len(active) > 1 else ''}"]
    if total:
        parts.append(f"{100 * done / total:.0f}% of {human_bytes(total)}")
    if speed:
        parts.append(f"{human_bytes(speed)}/s")
        parts.append(f"ETA {human_eta((total - done) / speed)}")
    return " · ".join(parts)


class DownloadsLine(Static):
    """Fed by the app's `downloads_signal` (published when the queue reports: at most ~5
    times a second per job, and on each change of state); hidden while nothing downloads."""

    DEFAULT_CSS = """
    DownloadsLine { height: 1; padding: 0 1; background: $accent 30%; display: none; }
    DownloadsLine.-active { display: block; }
    """

    def on_mount(self) -> None:
        bench = workbench(self)
        if bench is not None:
            bench.downloads_signal.subscribe(self, self.show)
            self.show(bench.downloads_latest)  # a job may be quiet now (retry back-off)

    def show(self, jobs: list[DownloadJob]) -> None:
        text = summary(jobs)
        self.set_class(bool(text), "-active")
        self.update(Content(text))
