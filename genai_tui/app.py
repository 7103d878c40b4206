"""The Textual App: global keys, the screens, and the engine's lifetime."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal

from genai_tui.config import Settings
from genai_tui.engine.engine import Engine
from genai_tui.engine.errors import GenaiError
from genai_tui.engine.events import DownloadFailed, DownloadFinished


class GenaiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "genai-tui"
    BINDINGS = [
        Binding("f1", "show_chat", "Chat", show=False, tooltip="Chat screen"),
        Binding("f2", "show_models", "Models", show=False,
                tooltip="Models screen: Hub search, downloads, models on disk"),  # fmt: skip
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine or Engine(settings)
        # App-wide: the download queue's jobs, for every screen's status line.
        self.downloads_signal: Signal[list] = Signal(self, "downloads")

    def on_mount(self) -> None:
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
        self.action_show_chat()
        self.call_after_refresh(self.watch_downloads)

    @work(group="downloads", exit_on_error=False)
    async def watch_downloads(self) -> None:
        """Resume persisted downloads after the first frame; publish their progress."""
        try:
            queue = await self.engine.library.downloads()
        except GenaiError as exc:
            self.notify(str(exc), title="Downloads", severity="error")
            return
        self.downloads_signal.publish(queue.jobs())
        async with queue.events() as events:
            async for event in events:
                self.downloads_signal.publish(queue.jobs())
                if isinstance(event, DownloadFinished):
                    self.notify(f"Downloaded {event.repo_id}.", title="Downloads")
                elif isinstance(event, DownloadFailed):
                    self.notify(event.message, title="Download failed", severity="error")

    def _add_modes(self) -> None:
        """One mode per top-level screen, each with its own stack (dialogs stay put)."""

        def chat() -> Screen:
            from genai_tui.screens.chat import ChatScreen

            return ChatScreen(self.engine)

        def models() -> Screen:
            from genai_tui.screens.models import ModelsScreen

            return ModelsScreen(self.engine)

        self.add_mode("chat", chat)
        self.add_mode("models", models)

    def action_show_chat(self) -> None:
        self.switch_mode("chat")

    def action_show_models(self) -> None:
        self.switch_mode("models")

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
        await self.engine.aclose()


def run_app(settings: Settings) -> int:
    app = GenaiApp(settings)
    app.run()
    return app.return_code or 0
