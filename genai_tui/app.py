"""The Textual App: global keys, the screens, and the engine's lifetime."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from genai_tui.config import Settings
from genai_tui.engine.engine import Engine


class GenaiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "genai-tui"
    BINDINGS = [
        Binding("f1", "show_chat", "Chat", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine or Engine(settings)

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
        self.action_show_chat()

    def action_show_chat(self) -> None:
        from genai_tui.screens.chat import ChatScreen

        if not self.is_screen_installed("chat"):
            self.install_screen(ChatScreen(self.engine), "chat")
        if not isinstance(self.screen, ChatScreen):
            self.push_screen("chat")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        # Every key the screen binds is also a command in the palette.
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                key = binding.key.split(",")[0]
                yield SystemCommand(
                    binding.tooltip or binding.description,
                    f"key: {key}",
                    partial(screen.run_action, binding.action),
                )

    async def on_unmount(self) -> None:
        await self.engine.aclose()


def run_app(settings: Settings) -> int:
    app = GenaiApp(settings)
    app.run()
    return app.return_code or 0
