"""The host beside the GPUs: CPU per core, RAM, swap and this app's resident memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from genai_tui.engine.text import human_bytes
from genai_tui.widgets.gpu_card import gauge

if TYPE_CHECKING:
    from genai_tui.engine.gpu import HostSample

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
                yield Static(classes="host-gauge", id=f"host-gauge-{key}")
                yield Static(classes="host-value", id=f"host-value-{key}")
                if key == "cpu":
                    yield Sparkline([], id="host-spark")
        yield Static(id="host-cores")
        yield Static(id="host-rss")

    def on_mount(self) -> None:
        self._widgets = {w.id: w for w in self.query(Static) if w.id}
        self._spark = self.query_one("#host-spark", Sparkline)

    def show(self, host: HostSample, cpu_history: list[float]) -> None:
        w = self._widgets
        ram_pct = _pct(host.ram_used, host.ram_total)
        swap_pct = _pct(host.swap_used, host.swap_total)
        w["host-gauge-cpu"].update(gauge(host.cpu_avg))
        w["host-value-cpu"].update(Text(f"{host.cpu_avg:.0f}% of {len(host.cpu_percent)} cores"))
        w["host-gauge-ram"].update(gauge(ram_pct))
        w["host-value-ram"].update(
            Text(f"{human_bytes(host.ram_used)} / {human_bytes(host.ram_total)}")
        )
        w["host-gauge-swap"].update(gauge(swap_pct))
        w["host-value-swap"].update(
            Text(f"{human_bytes(host.swap_used)} / {human_bytes(host.swap_total)}"
                 if host.swap_total else "none")  # fmt: skip
        )
        w["host-cores"].update(cores_text(host.cpu_percent))
        w["host-rss"].update(Text(f"genai-tui resident memory: {human_bytes(host.rss)}"))
        self._spark.data = cpu_history or [0.0]
