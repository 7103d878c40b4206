"""The image queue's list (the studio's Queue tab): position, prompt, model, state,
progress and ETA per job. Its keys ask the screen to move or cancel the highlighted job."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from genai_tui.engine.core.text import printable
from genai_tui.engine.images.queue_events import FAILED, RUNNING, ImageJob

COLUMNS = (("#", "pos"), ("Prompt", "prompt"), ("Model", "model"), ("State", "state"),
           ("Done", "done"), ("ETA", "eta"))  # fmt: skip
PROMPT_CHARS = 34
MODEL_CHARS = 16
STATE_STYLES = {RUNNING: "bold", FAILED: "bold red", "cancelled": "dim", "done": "green"}


def _head(text: str, limit: int) -> str:
    text = " ".join(printable(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def cells(job: ImageJob) -> tuple[Text, ...]:
    """One row: text from the user and from files is plain text, never markup."""
    active = job.state in ("queued", RUNNING)
    state = job.state if job.state != FAILED else f"failed: {job.error}"
    return (
        Text(str(job.position) if job.position else "·"),
        Text(_head(job.prompt, PROMPT_CHARS) or "(no prompt)"),
        Text(_head(job.model_name or "default", MODEL_CHARS), style="dim"),
        Text(_head(state, 40), style=STATE_STYLES.get(job.state, "")),
        Text(f"{job.progress:.0%}"),
        Text(eta_text(job.eta_s) if active else ""),
    )


class ImageQueueList(DataTable[Text]):
    """One row per job; the screen handles Move, Cancel and CancelAll."""

    BINDINGS = [
        Binding("ctrl+up,alt+up", "move(-1)", "Sooner", tooltip="Run the job sooner"),
        Binding("ctrl+down,alt+down", "move(1)", "Later", tooltip="Run the job later"),
        Binding("delete,x", "cancel_job", "Cancel job",
                tooltip="Cancel the job (a finished one leaves the list)"),  # fmt: skip
        Binding("shift+delete", "cancel_all", "Cancel all", tooltip="Cancel every job"),
    ]

    class Move(Message):
        def __init__(self, job_id: int, delta: int) -> None:
            super().__init__()
            self.job_id, self.delta = job_id, delta

    class Cancel(Message):
        def __init__(self, job_id: int) -> None:
            super().__init__()
            self.job_id = job_id

    class CancelAll(Message):
        pass

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.jobs: list[ImageJob] = []
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, jobs: list[ImageJob]) -> None:
        """The queue's jobs; the same jobs in the same order update in place."""
        keep = self.selected
        # Only progress and ETA changed: cells update in place, the columns keep their widths.
        same = [(j.id, j.state) for j in jobs] == [(j.id, j.state) for j in self.jobs]
        self.jobs = jobs
        if same:
            for job in jobs:
                for (_, key), cell in zip(COLUMNS, cells(job), strict=True):
                    self.update_cell(str(job.id), key, cell)
            return
        self.clear()
        for job in jobs:
            self.add_row(*cells(job), key=str(job.id))
        ids = [j.id for j in jobs]
        if keep is not None and keep.id in ids:
            self.move_cursor(row=ids.index(keep.id))

    @property
    def selected(self) -> ImageJob | None:
        row = self.cursor_row
        return self.jobs[row] if self.jobs and 0 <= row < len(self.jobs) else None

    def action_move(self, delta: int) -> None:
        job = self.selected
        if job is not None:
            self.post_message(self.Move(job.id, delta))

    def action_cancel_job(self) -> None:
        job = self.selected
        if job is not None:
            self.post_message(self.Cancel(job.id))

    def action_cancel_all(self) -> None:
        if self.jobs:
            self.post_message(self.CancelAll())
