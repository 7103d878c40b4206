"""The GPU screen (F4): one card per GPU, the processes on them, the host, the loaded models.

Thin: samples come from the app's `gpu_signal` (the engine's sampler thread);
widgets are built once and updated in place, and only while this screen is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from genai_tui.engine.core.errors import GenaiError
from genai_tui.widgets.downloads_line import DownloadsLine
from genai_tui.widgets.gpu_card import GpuCard
from genai_tui.widgets.gpu_host import HostPanel
from genai_tui.widgets.gpu_line import GpuLine
from genai_tui.widgets.gpu_models import LoadedModels
from genai_tui.widgets.gpu_processes import ProcessTable
from genai_tui.workbench import ReportsWorkerErrors, workbench

if TYPE_CHECKING:
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.gpu.nvml import Snapshot

WIDE = 120  # columns from which GPU cards sit two abreast


class GpuScreen(ReportsWorkerErrors, Screen[None]):
    CSS_PATH = "gpu.tcss"
    BINDINGS = [
        Binding("m", "sort('memory')", "Sort memory", tooltip="Processes: sort by GPU memory "
                "(again: reverse)"),  # fmt: skip
        Binding("i", "sort('pid')", "Sort PID", tooltip="Processes: sort by PID (again: reverse)"),
        Binding("u", "unload", "Unload", tooltip="Unload the model selected in Loaded models"),
        Binding("p", "tab('processes')", "Processes", show=False,
                tooltip="Show the GPU processes"),  # fmt: skip
        Binding("h", "tab('host')", "Host", show=False,
                tooltip="Show the host: CPU per core, RAM, swap"),  # fmt: skip
        Binding("l", "tab('loaded')", "Loaded", show=False,
                tooltip="Show the loaded models (memory, idle time)"),  # fmt: skip
    ]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.cards: dict[int, GpuCard] = {}
        self.shown: Snapshot | None = None
        self._host_shown = False
        self._status_text: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static("Waiting for the first sample…", id="gpu-status", markup=False)
        yield VerticalScroll(id="gpu-cards")
        with TabbedContent(initial="processes", id="gpu-tabs"):
            with TabPane("Processes", id="processes"):
                yield ProcessTable(id="gpu-processes")
            with TabPane("Host", id="host"):
                yield HostPanel(id="host-panel")
            with TabPane("Loaded models", id="loaded"):
                yield LoadedModels(id="loaded-models")
        yield DownloadsLine()
        yield GpuLine()
        yield Footer()

    def on_mount(self) -> None:
        self.engine.gpu.start()  # idempotent; the app normally started it already
        bench = workbench(self)
        if bench is not None:
            bench.gpu_signal.subscribe(self, self.show, immediate=True)
        else:  # on its own (tests): poll the sampler
            self.set_interval(self.engine.gpu.interval_s, self._poll)
        self.set_interval(1.0, self.show_loaded)
        self._poll()
        self.show_loaded()

    def on_screen_resume(self) -> None:
        self._poll()
        self.show_loaded()

    def _poll(self) -> None:
        snap = self.engine.gpu.latest
        if snap is not None and snap is not self.shown:
            self.show(snap)

    def on_resize(self) -> None:
        self.query_one("#gpu-cards").set_class(self.size.width >= WIDE, "-wide")

    # -- rendering ------------------------------------------------------------------

    def show(self, snap: Snapshot) -> None:
        if not self.is_current:  # (also false mid mode switch, with no screen stacked)
            return  # nothing to draw off screen; on_screen_resume catches up
        with self.app.batch_update():  # one frame per sample
            self._show(snap)

    def _show(self, snap: Snapshot) -> None:
        if snap.state == "ok":
            header = f"NVIDIA driver {snap.driver or 'n/a'} · CUDA {snap.cuda or 'n/a'} · "
            header += f"{len(snap.gpus)} GPU{'s' if len(snap.gpus) != 1 else ''}"
            status_text = Text(header)
        else:
            status_text = Text(snap.message, style="bold")
        status = self.query_one("#gpu-status", Static)
        if self.shown is None or status_text != self._status_text:
            self._status_text = status_text
            status.update(status_text)
        if snap.state != "ok" and not self._host_shown:
            self._host_shown = True  # no GPU: the host is what there is to see
            self.query_one(TabbedContent).active = "host"
        status.set_class(snap.state != "ok", "-warning")
        self._show_cards(snap)
        self.query_one(ProcessTable).show(snap.processes)
        self.query_one(HostPanel).show(snap.host, self.engine.gpu.history.cpu())
        self.shown = snap

    def _show_cards(self, snap: Snapshot) -> None:
        box = self.query_one("#gpu-cards", VerticalScroll)
        if box.display != bool(snap.gpus):
            box.display = bool(snap.gpus)
        if set(self.cards) != {g.index for g in snap.gpus}:
            # The GPU count changed (first sample, or a driver reload): rebuild once.
            box.remove_children()
            self.cards = {g.index: GpuCard(g.index) for g in snap.gpus}
            box.mount_all(self.cards.values())
            self.call_after_refresh(self._show_cards, snap)
            return
        history = self.engine.gpu.history
        for g in snap.gpus:
            card = self.cards[g.index]
            if card.is_mounted:
                series = {k: history.series(g.index, k) for k in ("util", "mem", "temp", "power")}
                card.show(g, series)

    def show_loaded(self) -> None:
        if self.is_current:
            self.query_one(LoadedModels).show(self.engine.residency.residents())

    # -- actions --------------------------------------------------------------------

    def action_sort(self, column: str) -> None:
        self.query_one(TabbedContent).active = "processes"
        self.query_one(ProcessTable).set_sort(column)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_unload(self) -> None:
        tabs = self.query_one(TabbedContent)
        table = self.query_one(LoadedModels)
        if tabs.active != "loaded":
            tabs.active = "loaded"
            table.focus()
            return
        key = table.selected
        if key is None:
            self.notify("No model is loaded.", title="Loaded models")
            return
        self.unload(key)

    @work(group="unload", exit_on_error=False)
    async def unload(self, key: str) -> None:
        """Through residency: it waits for a reply or image in progress, then unloads
        (a chat model the engine holds is dropped too); the app announces it."""
        try:
            await self.engine.residency.unload(key)
        except GenaiError as exc:
            self.notify(str(exc), title="Unload failed", severity="error", markup=False)
        self.show_loaded()
