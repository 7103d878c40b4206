"""The host beside the GPUs: CPU per core, RAM, swap and this app's resident memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from genai_tui.engine.core.text import human_bytes
from genai_tui.widgets.gpu_card import Line, gauge

if TYPE_CHECKING:
    from genai_tui.engine.gpu.nvml import HostSample

BLOCKS = " ▁▂▃▄▅▆▇█"


def cores_text(percents: tuple[float, ...]) -> Text:
    """Up to 16 cores as numbers; more as one bar character per core."""
    if len(percents) <= 16:
        return Text("  ".join(f"{i}:{p:3.0f}%" for i, p in enumerate(percents)))
    return Text("".join(BLOCKS[min(8, round(p / 12.5))] for p in percents))


def _pct(used: int, total: int) -> float | None:
    return 100.0 * used / total if total else None


class HostPanel(Vertical):
    DEFAULT_CSS = """
    HostPanel { height: auto; padding: 0 1; }
    HostPanel .host-row { height: 1; }
    HostPanel .host-label { width: 6; }
    HostPanel .host-gauge { width: 11; }
    HostPanel .host-value { width: 1fr; }
    HostPanel #host-cores { height: auto; }
    HostPanel Sparkline { height: 1; width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        for key, label in (("cpu", "CPU"), ("ram", "RAM"), ("swap", "Swap")):
            with Horizontal(classes="host-row"):
                yield Static(label, classes="host-label")
                yield Line(classes="host-gauge", id=f"host-gauge-{key}")
                yield Line(classes="host-value", id=f"host-value-{key}")
                if key == "cpu":
                    yield Sparkline([], id="host-spark")
        yield Static(id="host-cores")  # wraps on narrow terminals: keeps its layout pass
        yield Line(id="host-rss")

    def on_mount(self) -> None:
        self._widgets = {w.id: w for w in self.query(Line) if w.id}
        self._cores = self.query_one("#host-cores", Static)
        self._cores_text: Text | None = None
        self._spark = self.query_one("#host-spark", Sparkline)

    def show(self, host: HostSample, cpu_history: list[float]) -> None:
        w = self._widgets
        ram_pct = _pct(host.ram_used, host.ram_total)
        swap_pct = _pct(host.swap_used, host.swap_total)
        w["host-gauge-cpu"].set(gauge(host.cpu_avg))
        w["host-value-cpu"].set(Text(f"{host.cpu_avg:.0f}% of {len(host.cpu_percent)} cores"))
        w["host-gauge-ram"].set(gauge(ram_pct))
        w["host-value-ram"].set(
            Text(f"{human_bytes(host.ram_used)} / {human_bytes(host.ram_total)}")
        )
        w["host-gauge-swap"].set(gauge(swap_pct))
        w["host-value-swap"].set(
            Text(f"{human_bytes(host.swap_used)} / {human_bytes(host.swap_total)}"
                 if host.swap_total else "none")  # fmt: skip
        )
        cores = cores_text(host.cpu_percent)
        if cores != self._cores_text:
            # Same length every time (fixed-width numbers): one layout pass, the first.
            self._cores.update(cores, layout=self._cores_text is None)
            self._cores_text = cores
        w["host-rss"].set(Text(f"genai-tui resident memory: {human_bytes(host.rss)}"))
        self._spark.data = cpu_history or [0.0]
