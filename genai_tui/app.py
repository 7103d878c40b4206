"""The Textual App: global keys, the screens, and the engine's lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import printable
from genai_tui.terminal_safety import ControlFilter, clipboard_text
from genai_tui.textual_fixes import (
    fresh_table_widths,
    one_layout_per_change,
    render_only_changed_regions,
    render_only_what_changed,
    unpin_styles_caches,
)

if TYPE_CHECKING:
    from textual.await_complete import AwaitComplete
    from textual.timer import Timer

    from genai_tui.config import Settings
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.gpu.nvml import Snapshot
    from genai_tui.engine.models.download_jobs import DownloadJob


class GenaiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "genai-tui"
    BINDINGS = [
        Binding("f1", "show_chat", "Chat", show=False, priority=True, tooltip="Chat screen"),
        Binding("f2", "show_models", "Models", show=False, priority=True,
                tooltip="Models screen: Hub search, downloads, models on disk"),  # fmt: skip
        Binding("f3", "show_studio", "Studio", show=False, priority=True,
                tooltip="Image studio: generate images, the gallery"),  # fmt: skip
        Binding("f4", "show_gpu", "GPU", show=False, priority=True,
                tooltip="GPU monitor: utilization, memory, processes, loaded models"),  # fmt: skip
        Binding("f7", "show_settings", "Settings", show=False, priority=True,
                tooltip="Settings: remote providers, usage"),  # fmt: skip
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    settings: Settings
    engine: Engine

    def __init__(
        self,
        settings: Settings | None = None,
        engine: Engine | None = None,
        *,
        start: Callable[[], Settings] | None = None,
        theme: str | None = None,
    ) -> None:
        """With `settings`, the App opens on the chat screen at once (tests, embedding).
        With `start` instead (the `genai-tui` command), the first frame is the start-up
        screen (boot.py) and `start()` builds the settings just after it; `theme` is the
        theme to draw that frame in."""
        super().__init__()
        unpin_styles_caches()
        render_only_what_changed()
        render_only_changed_regions()
        one_layout_per_change()
        fresh_table_widths()
        if settings is not None:
            from genai_tui.engine.engine import Engine

            self.settings = settings
            self.engine = engine or Engine(settings)
        elif start is None:
            raise TypeError("GenaiApp needs settings or a start function")
        self._start = start
        self._startup_theme = theme
        self._opened = False  # the screens exist (after start-up)
        self._queue_timer: Timer | None = None
        self._shutting_down = False  # on_unmount has begun: the engine is closing
        self._after_start: str | None = None  # a screen asked for during start-up
        self.start_error: GenaiError | None = None  # why start-up ended the App
        # App-wide: the download queue's jobs, for every screen's status line and the
        # Downloads tab; published when the queue reports something (see _on_download_event).
        self.downloads_signal: Signal[list[DownloadJob]] = Signal(self, "downloads")
        self._downloads_due = False  # a publish is scheduled
        self.downloads_latest: list[DownloadJob] = []  # for a line mounted between news
        # App-wide: GPU samples and jobs waiting for the GPU, for every screen's GPU line.
        self.gpu_signal: Signal[Snapshot] = Signal(self, "gpu")
        self.gpu_waiting_signal: Signal[tuple[str, ...]] = Signal(self, "gpu_waiting")
        # Where the loaded models sit: (label, "CPU" / "GPU1" / "GPU0+1"), on each change.
        self.gpu_models_signal: Signal[tuple[tuple[str, str], ...]] = Signal(self, "gpu_models")
        self.gpu_latest: Snapshot | None = None
        self.gpu_models_latest: tuple[tuple[str, str], ...] = ()
        # Last line of defence: no widget can write a control character to the terminal.
        self._filters.append(ControlFilter())

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:  # fmt: skip
        """Notifications carry text from models, servers and files: never markup, never
        control characters (shown as visible stand-ins such as ␛)."""
        super().notify(printable(str(message)), title=printable(title), severity=severity,
                       timeout=timeout, markup=False)  # fmt: skip

    def copy_to_clipboard(self, text: str) -> None:
        """Every copy (replies, code, paths, selections) leaves without control characters."""
        super().copy_to_clipboard(clipboard_text(text))

    def open_url(self, url: str, *, new_tab: bool = True) -> None:
        """Links are copied, not opened: a browser would start on the GPU box, not here."""
        self.copy_to_clipboard(url)
        self.notify(f"Copied the link {url} (links are not opened from here: paste it into "
                    "your browser).", title="Link", timeout=8)  # fmt: skip

    def worker_failed(self, worker: Worker[Any]) -> None:
        """The one handler for a worker that ended in error (screens report it here).

        An error the engine explains (GenaiError) is shown as it is; anything else is
        shown as a one-line summary with the log file that holds the traceback.
        """
        error = worker.error
        if isinstance(error, GenaiError):
            self.notify(str(error), title="Error", severity="error", timeout=10)
            return
        where = log_failure(self.settings.log_path, worker.name or "a task", error)
        summary = printable(f"{type(error).__name__}: {error}")
        self.notify(f"Something went wrong ({worker.name or 'a task'}): {summary}. "
                    f"The screen is usable again; details are in {where}.",
                    title="Unexpected error", severity="error", timeout=15)  # fmt: skip

    def on_mount(self) -> None:
        if self._start is None:
            self._open()
            return
        from genai_tui.boot import StartupScreen

        if self._startup_theme in self.available_themes:
            self.theme = self._startup_theme
        self.push_screen(StartupScreen())
        # Once the start-up screen is on the terminal: the rest of the App, in a task of
        # its own so that keys reach the start-up screen meanwhile.
        self.call_after_refresh(self.run_worker, self._finish_start, name="start-up")

    async def _finish_start(self) -> None:
        from genai_tui.boot import StartupScreen, hand_over, preload

        startup = self.screen
        assert self._start is not None and isinstance(startup, StartupScreen)
        await asyncio.to_thread(preload)
        from genai_tui.engine.engine import Engine

        try:
            self.settings = self._start()
            self.engine = Engine(self.settings)
        except GenaiError as exc:
            self.start_error = exc
            self.exit(return_code=1)
            return
        after, self._after_start = self._after_start, None
        await self._open()
        from genai_tui.screens.chat import ChatScreen

        chat = self.screen
        if isinstance(chat, ChatScreen):
            await hand_over(startup, chat)
        if after is not None:
            self.switch_mode(after)

    def _open(self) -> AwaitComplete:
        """The screens, the theme the settings name, then the downloads and the GPU."""
        self._opened = True
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            self.notify(
                f"Unknown theme '{self.settings.theme}'. Set `theme` to one of: "
                + ", ".join(sorted(self.available_themes)),
                severity="warning",
                timeout=10,
            )
        self._add_modes()
        self.call_after_refresh(self._resume_downloads)
        self.call_after_refresh(self._start_gpu)
        # Soon after: the image queue runs what the last run or `gen --queue` left queued.
        self._queue_timer = self.set_timer(2.0, self._start_queue)
        return self.switch_mode("chat")

    def _start_queue(self) -> None:
        if not self._shutting_down:  # a callback already posted may still come during shutdown
            self.engine.images.queue.start()

    def _start_gpu(self) -> None:
        """After the first frame: the sampler thread (it imports pynvml) and residency news."""
        self.engine.gpu.subscribe(asyncio.get_running_loop(), self._on_gpu_sample)
        self.engine.gpu.start()
        self.engine.residency.subscribe(self._on_residency)
        self._publish_placement()  # what loaded before we listened

    def _on_gpu_sample(self, snap: Snapshot) -> None:
        """The sampler's newest sample (taken on its thread), to every screen."""
        if not self.is_running:
            return
        self.gpu_latest = snap
        with self.batch_update():  # subscribers update at once: one frame per sample
            self.gpu_signal.publish(snap)

    def _on_residency(self, event: object) -> None:
        from genai_tui.engine.core.events import GpuAcquired, GpuWaiting, ModelEvicted
        from genai_tui.engine.core.text import human_bytes
        from genai_tui.engine.gpu.residency import label

        if isinstance(event, ModelEvicted):
            verb = "Moved to the CPU" if event.action == "offloaded" else "Unloaded"
            size = human_bytes(event.bytes)
            self.notify(f"{verb} {label(event.key)} ({size}) {event.reason}.",
                        title="GPU memory", markup=False, timeout=8)  # fmt: skip
        residency = self.engine.residency
        if not isinstance(event, ModelEvicted):  # a job started waiting for the GPU, or got it
            self.gpu_waiting_signal.publish(tuple(label(key) for key in residency.waiting))
        if not isinstance(event, (GpuWaiting, GpuAcquired)):  # who is where changed
            self._publish_placement()

    def _publish_placement(self) -> None:
        from genai_tui.engine.gpu.residency import label

        residents = self.engine.residency.residents()
        placed = tuple((printable(label(r.key)), r.where) for r in residents)
        self.gpu_models_latest = placed
        self.gpu_models_signal.publish(placed)

    async def _resume_downloads(self) -> None:
        """After the first frame: hear the download queue (once, for the app's lifetime),
        then resume the jobs the last run left unfinished."""
        library = self.engine.library
        library.subscribe_downloads(self._on_download_event)
        try:
            await library.resume_downloads()
        except GenaiError as exc:
            self.notify(str(exc), title="Downloads", severity="error")

    def _on_download_event(self, event: object) -> None:
        """From the queue, on the event loop: say when a job ends; publish the jobs.

        Progress comes coalesced at the source (at most ~5 a second per job, plus each
        change of state); events that arrive together make one publish.
        """
        from genai_tui.engine.core.events import DownloadFailed, DownloadFinished

        if isinstance(event, DownloadFinished):
            self.notify(f"Downloaded {event.repo_id}.", title="Downloads")
        elif isinstance(event, DownloadFailed):
            self.notify(event.message or f"{event.repo_id} failed.", title="Download failed",
                        severity="error", timeout=10)  # fmt: skip
        if not self._downloads_due:
            self._downloads_due = self.call_later(self._publish_downloads)

    def _publish_downloads(self) -> None:
        """Every screen's downloads line and the Downloads tab get the queue's jobs."""
        self._downloads_due = False
        queue = self.engine.library.queue
        if queue is not None:
            self.downloads_latest = queue.jobs()
            with self.batch_update():
                self.downloads_signal.publish(self.downloads_latest)

    def _add_modes(self) -> None:
        """One mode per top-level screen, each with its own stack (dialogs stay put)."""

        def chat() -> Screen:
            from genai_tui.screens.chat import ChatScreen

            return ChatScreen(self.engine)

        def models() -> Screen:
            from genai_tui.screens.models import ModelsScreen

            return ModelsScreen(self.engine)

        def studio() -> Screen:
            from genai_tui.screens.studio import StudioScreen

            return StudioScreen(self.engine)

        def gpu() -> Screen:
            from genai_tui.screens.gpu import GpuScreen

            return GpuScreen(self.engine)

        def settings() -> Screen:
            from genai_tui.screens.settings import SettingsScreen

            return SettingsScreen(self.engine)

        self.add_mode("chat", chat)
        self.add_mode("models", models)
        self.add_mode("studio", studio)
        self.add_mode("gpu", gpu)
        self.add_mode("settings", settings)

    def _show(self, mode: str) -> None:
        if self._opened:
            self.switch_mode(mode)
        else:  # during start-up: that screen once the App is up
            self._after_start = mode

    def action_show_chat(self) -> None:
        self._show("chat")

    def action_show_models(self) -> None:
        self._show("models")

    def action_show_studio(self) -> None:
        self._show("studio")

    def action_show_gpu(self) -> None:
        self._show("gpu")

    def action_show_settings(self) -> None:
        self._show("settings")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        # Every key the app or the screen binds is also a command in the palette.
        for node, bindings in ((self, self.BINDINGS), (screen, screen.BINDINGS)):
            for binding in bindings:
                if isinstance(binding, Binding) and binding.description:
                    key = binding.key.split(",")[0]
                    yield SystemCommand(
                        binding.tooltip or binding.description,
                        f"key: {key}",
                        partial(node.run_action, binding.action),
                    )

    async def on_unmount(self) -> None:
        self._shutting_down = True
        if self._queue_timer is not None:
            self._queue_timer.stop()  # it must not start the queue on a closed store
        if hasattr(self, "engine"):  # not when start-up ended the App before it
            await self.engine.aclose()


def log_failure(path: Path, what: str, error: BaseException | None) -> Path:
    """Append `error`'s traceback to the log file (private: 0600 in a 0700 folder, never
    through a symlink); returns where it went."""
    import traceback
    from datetime import datetime

    from genai_tui.engine.core.files import open_private, private_dir

    lines = traceback.format_exception(error) if error is not None else ["(no exception)\n"]
    try:
        private_dir(path.parent)
        with open_private(path, "a") as log:
            log.write(f"--- {datetime.now().isoformat(timespec='seconds')} {what} failed\n")
            log.writelines(lines)
    except OSError:
        return Path("(the log file could not be written)")
    return path


def run_app(start: Callable[[], Settings], theme: str | None = None) -> int:
    """The TUI: first frame at once, `start()` (the settings) just after it."""
    app = GenaiApp(start=start, theme=theme)
    app.run()
    if app.start_error is not None:
        from genai_tui.cli.common import fail

        return fail(str(app.start_error))
    return app.return_code or 0
