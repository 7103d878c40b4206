"""Compare mode (F10 in chat): one prompt to 2-4 models side by side, streaming in parallel.

Pick the models with space, type the prompt, ctrl+r runs. Each column shows the
reply and its time to first token, tokens/s, tokens and cost. Esc stops the
replies (kept, marked stopped); Esc again goes back to the chat.
"""

from __future__ import annotations

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from genai_tui.engine.chat.compare import MAX_MODELS, CompareTarget
from genai_tui.engine.chat.usage import format_cost
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import ChatDone, ModelLoaded, ThinkingDelta, TokenDelta
from genai_tui.engine.core.text import printable
from genai_tui.engine.engine import Engine
from genai_tui.widgets.downloads_line import DownloadsLine
from genai_tui.widgets.gpu_line import GpuLine
from genai_tui.widgets.message_view import MessageView
from genai_tui.workbench import ReportsWorkerErrors

FLUSH_INTERVAL_S = 1 / 15


def compare_stats(done: ChatDone, cost: float | None) -> str:
    s = done.stats
    parts = [f"TTFT {s.ttft_s:.2f} s" if s.ttft_s is not None else "TTFT -",
             f"{s.tokens_per_s:.1f} tok/s" if s.tokens_per_s else "- tok/s",
             f"{s.completion_tokens} tokens"]  # fmt: skip
    if cost is not None:
        parts.append(format_cost(cost))
    if s.stopped:
        parts.append("stopped")
    return " · ".join(parts)


class CompareScreen(ReportsWorkerErrors, Screen[None]):
    DEFAULT_CSS = """
    CompareScreen #compare-setup { height: auto; max-height: 60%; padding: 0 1; }
    CompareScreen #compare-models { height: auto; max-height: 7; }
    CompareScreen .hint { color: $text-muted; }
    CompareScreen #compare-columns { height: 1fr; }
    CompareScreen .column { width: 1fr; border-left: vkey $primary 40%; }
    CompareScreen .column-head { text-style: bold; padding: 0 1; }
    CompareScreen .column-stats { color: $text-muted; padding: 0 1; height: auto; }
    CompareScreen .column-error { color: $error; padding: 0 1; }
    """

    BINDINGS = [
        Binding("ctrl+r", "run", "Run", priority=True,
                tooltip="Send the prompt to the chosen models"),  # fmt: skip
        Binding("escape", "stop_or_close", "Stop/Back",
                tooltip="Stop the replies; when idle, back to the chat"),  # fmt: skip
    ]

    def __init__(self, engine: Engine, prompt: str = "") -> None:
        super().__init__()
        self.engine = engine
        self.initial_prompt = prompt
        self.targets: list[CompareTarget] = []
        self.cancel = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-setup"):
            yield Label(Content(f"Compare · space picks 2–{MAX_MODELS} models · type the prompt · "
                                "ctrl+r runs · Esc stops / goes back"), classes="hint")  # fmt: skip
            yield SelectionList[int](id="compare-models")
            yield Input(self.initial_prompt, placeholder="The prompt for every model",
                        id="compare-prompt")  # fmt: skip
        yield Horizontal(id="compare-columns")
        yield DownloadsLine()
        yield GpuLine()
        yield Footer()

    def on_mount(self) -> None:
        for model in self.engine.chat_models():
            self._add_target(CompareTarget(model.name, local=model), "local")
        options = self.query_one("#compare-models", SelectionList)
        options.focus()
        if options.option_count:
            options.highlighted = 0  # space picks at once, no arrow key needed first
        if self.engine.settings.providers:
            self.list_remote()

    def _add_target(self, target: CompareTarget, where: str) -> None:
        options = self.query_one("#compare-models", SelectionList)
        prompt = Content.assemble(printable(target.model), (f"  {printable(where)}", "dim"))
        options.add_option(Selection(prompt, len(self.targets)))
        self.targets.append(target)

    @work(group="compare-list", exit_on_error=False)
    async def list_remote(self) -> None:
        for listing in await self.engine.providers.list_all(retries=0):
            if listing.error:
                self.notify(listing.error, title=f"{listing.provider}: no models listed",
                            severity="warning", timeout=8, markup=False)  # fmt: skip
            for model in listing.models:
                self._add_target(CompareTarget(model.id, listing.provider), listing.provider)

    @on(Input.Submitted, "#compare-prompt")
    def _prompt_submitted(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        if self.running:
            self.notify("Still running. Esc stops it.", severity="warning")
            return
        picked = self.query_one("#compare-models", SelectionList).selected
        chosen = [self.targets[i] for i in picked]
        prompt = self.query_one("#compare-prompt", Input).value.strip()
        if len(self.targets) < 2:
            self.notify(f"Compare needs two models and {len(self.targets)} is available. "
                        "Download another on the Models screen (F2), or add a remote "
                        "provider in Settings (F7).", severity="warning", timeout=10)  # fmt: skip
            return
        if not 2 <= len(chosen) <= MAX_MODELS:
            self.notify(f"Pick 2 to {MAX_MODELS} models with space: {len(chosen)} picked.",
                        severity="warning")  # fmt: skip
            return
        if not prompt:
            self.notify("Type the prompt first.", severity="warning")
            self.query_one("#compare-prompt", Input).focus()
            return
        if self.engine.generating:
            self.notify("A chat reply is still streaming; wait or stop it first.",
                        severity="warning")  # fmt: skip
            return
        self.run_compare(chosen, prompt)

    @work(exclusive=True, group="compare", exit_on_error=False)
    async def run_compare(self, chosen: list[CompareTarget], prompt: str) -> None:
        columns = self.query_one("#compare-columns", Horizontal)
        await columns.remove_children()
        views, stats = [], []
        for target in chosen:
            view = MessageView("assistant", streaming=True)
            line = Static("waiting for first token…", classes="column-stats")
            column = Vertical(Static(Content(printable(target.label)), classes="column-head"),
                              VerticalScroll(view), line, classes="column")  # fmt: skip
            await columns.mount(column)
            views.append(view)
            stats.append(line)
        self.running = True
        self.cancel = threading.Event()
        async def flush_all() -> None:
            for view in views:
                await view.flush()

        flusher = self.set_interval(FLUSH_INTERVAL_S, flush_all)
        try:
            async for index, event in self.engine.compare(chosen, prompt, self.cancel):
                view = views[index]
                if isinstance(event, TokenDelta):
                    view.buffer(event.text)
                elif isinstance(event, ThinkingDelta):
                    view.buffer(event.text, thinking=True)
                elif isinstance(event, ModelLoaded):
                    stats[index].update("loaded; waiting for first token…")
                elif isinstance(event, ChatDone):
                    await view.finish(stopped=event.stats.stopped)
                    stats[index].update(Content(compare_stats(event, event.cost)))
                elif isinstance(event, GenaiError):
                    await view.finish("interrupted" if view.text else "", stopped=bool(view.text))
                    stats[index].update(Content(f"✗ {event.message}"))
                    stats[index].add_class("column-error")
        except GenaiError as exc:
            self.notify(str(exc), title="Compare", severity="error", timeout=10, markup=False)
        finally:
            flusher.stop()
            await flush_all()
            self.running = False

    def action_stop_or_close(self) -> None:
        if self.running:
            self.cancel.set()
        else:
            self.app.pop_screen()
