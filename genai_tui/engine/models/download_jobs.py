"""A download job's data: its files, the snapshot callers see, and the state the loop keeps.

`JobState` lives on the event loop and only the loop changes it. A worker
thread never writes to it: it reports a `JobUpdate` (all its counters at one
moment), which the loop applies in one go, so every snapshot and every
DownloadProgress is one consistent state of the job.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.events import DownloadProgress

if TYPE_CHECKING:
    from genai_tui.engine.models.hf_partial import Control

ACTIVE = ("queued", "running", "verifying")
SETTLED = ("paused", "done", "failed", "cancelled")
WORKING = ("running", "verifying")  # a worker thread is on it
SPEED_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class JobFile:
    """One file of a job: its path in the repo, size, and the sha256 of LFS files."""

    path: str
    size: int
    sha256: str | None = None
    etag: str | None = None  # learned from the Hub when the file is first resolved

    @classmethod
    def of(cls, f: Any) -> JobFile:
        """From a HubFile (path, size, sha256), a dict, or a JobFile."""
        if isinstance(f, dict):
            return cls(f["path"], int(f.get("size") or 0), f.get("sha256"), f.get("etag"))
        return cls(str(f.path), int(getattr(f, "size", 0) or 0), getattr(f, "sha256", None))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "etag": self.etag}


@dataclass(frozen=True, slots=True)
class DownloadJob:
    """A snapshot of one job, as `jobs()` and `wait()` return it."""

    id: int
    repo_id: str
    revision: str
    files: tuple[JobFile, ...]
    local_dir: Path | None
    state: str
    done: int
    total: int
    speed_bps: float = 0.0
    eta_s: float | None = None
    error: str = ""
    note: str = ""
    current_file: str = ""
    file_done: int = 0
    file_total: int = 0
    commit: str | None = None
    paths: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """A worker thread's report: its counters at one moment, and a new state or note."""

    at: float  # time.monotonic() when it was taken
    net_bytes: int  # received over the network in this run
    done_files: int  # bytes of the files finished in this run
    current_file: str
    file_done: int
    file_total: int
    total: int
    commit: str | None
    files: tuple[JobFile, ...]
    state: str | None = None  # "running" / "verifying", when it changes
    note: str | None = None  # a new note ("" clears it)


@dataclass(eq=False)
class JobState:
    """One job as the queue keeps it; read and changed on the event loop only."""

    id: int
    repo_id: str
    revision: str
    files: list[JobFile]
    local_dir: Path | None
    state: str
    total: int
    commit: str | None = None
    error: str = ""
    note: str = ""
    done_files: int = 0  # bytes of files finished in this run
    current_file: str = ""
    file_done: int = 0
    file_total: int = 0
    paths: tuple[Path, ...] = ()
    ctl: Control | None = None  # the running transfer's stop switch
    stop_reason: str | None = None  # "pause", "cancel", "shutdown"
    resume_after: bool = False
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    samples: collections.deque[tuple[float, int]] = field(
        default_factory=lambda: collections.deque(maxlen=64)
    )
    stored_done: int = 0  # bytes on disk when the job last stopped

    def start_run(self, ctl: Control) -> None:
        """A worker is about to take the job: counters start from zero."""
        self.state, self.ctl = "running", ctl
        self.stop_reason, self.error, self.note = None, "", ""
        self.done_files = self.file_done = self.file_total = 0
        self.current_file = ""
        self.samples.clear()
        self.settled.clear()

    def apply(self, update: JobUpdate) -> None:
        """Take a worker's report, all of it at once."""
        self.done_files, self.current_file = update.done_files, update.current_file
        self.file_done, self.file_total = update.file_done, update.file_total
        self.total, self.commit, self.files = update.total, update.commit, list(update.files)
        if update.state is not None:
            self.state = update.state
        if update.note is not None:
            self.note = update.note
        self.samples.append((update.at, update.net_bytes))
        while len(self.samples) > 2 and update.at - self.samples[0][0] > SPEED_WINDOW_S:
            self.samples.popleft()

    @property
    def done(self) -> int:
        if self.state in WORKING:
            return self.done_files + self.file_done
        return self.total if self.state == "done" else self.stored_done

    def speed(self) -> float:
        if self.state != "running" or len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def snapshot(self) -> DownloadJob:
        speed, done = self.speed(), self.done
        eta = (self.total - done) / speed if speed > 0 else None
        return DownloadJob(
            self.id, self.repo_id, self.revision, tuple(self.files), self.local_dir, self.state,
            done, self.total, speed, eta, self.error, self.note, self.current_file,
            self.file_done, self.file_total, self.commit, self.paths,
        )  # fmt: skip

    def progress(self) -> DownloadProgress:
        s = self.snapshot()
        return DownloadProgress(
            s.id, s.repo_id, s.state, s.current_file, s.file_done, s.file_total, s.done, s.total,
            s.speed_bps, s.eta_s, s.error, note=s.note,
        )  # fmt: skip
