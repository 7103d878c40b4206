"""One GPU: gauges with values and sparkline history for utilization, memory, temperature
and power, under a title line with the name, clocks, fan, PCIe and throttle reasons.

Built once per GPU; `show()` updates the texts and graphs in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from genai_tui.engine.gpu import na

if TYPE_CHECKING:
    from genai_tui.engine.gpu import GpuSample

GAUGE_CELLS = 10
ROWS = (("util", "Util"), ("mem", "Mem"), ("temp", "Temp"), ("power", "Power"))


def gauge(pct: float | None, cells: int = GAUGE_CELLS) -> Text:
    """`██████░░░░` for a percentage; dim dots when unknown."""
    if pct is None:
        return Text("·" * cells, style="dim")
    full = round(max(0.0, min(100.0, pct)) / 100 * cells)
    style = "red" if pct >= 90 else "yellow" if pct >= 70 else "green"
    return Text("█" * full, style=style) + Text("░" * (cells - full), style="dim")


def _gib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.1f}"


def row_values(g: GpuSample) -> dict[str, tuple[float | None, str]]:
    """Per row: the gauge's percentage and the value shown beside it."""
    mem = "n/a" if g.mem_used is None else f"{_gib(g.mem_used)}/{_gib(g.mem_total)} GiB"
    power = "n/a"
    if g.power_w is not None:
        power = f"{g.power_w:.0f}/{na(g.power_limit_w, '{:.0f}')} W"
    # Temperature's gauge runs to 100 °C; most GPUs throttle in the 80s.
    return {
        "util": (g.util_gpu, na(g.util_gpu, "{}%")),
        "mem": (g.mem_pct, mem),
        "temp": (None if g.temp_c is None else float(g.temp_c), na(g.temp_c, "{}°C")),
        "power": (g.power_pct, power),
    }


def title_text(g: GpuSample) -> Text:
    title = Text(f"GPU {g.index} ", style="bold") + Text(g.name)
    if g.lost:
        title += Text("  lost: fell off the bus", style="bold red")
    return title


def details_text(g: GpuSample) -> Text:
    if g.lost:
        return Text("NVML: GPU is lost. Reload the NVIDIA driver or reboot.", style="red")
    details = [
        f"SM {na(g.clock_sm_mhz, '{} MHz')}",
        f"mem {na(g.clock_mem_mhz, '{} MHz')}",
        f"fan {na(g.fan_pct, '{}%')}",
        f"util mem {na(g.util_mem, '{}%')}",
    ]
    if g.pcie_tx_kbps is not None or g.pcie_rx_kbps is not None:
        details.append(
            f"PCIe ↑{na(g.pcie_tx_kbps, '{:,} KB/s')} ↓{na(g.pcie_rx_kbps, '{:,} KB/s')}"
        )
    throttle = "n/a" if g.throttle is None else ", ".join(g.throttle) or "none"
    details.append(f"throttle {throttle}")
    return Text(" · ".join(details), style="dim")


class GpuCard(Vertical):
    DEFAULT_CSS = """
    GpuCard { height: auto; border: round $primary 50%; padding: 0 1; }
    GpuCard .gpu-title, GpuCard .gpu-details {
        height: 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    GpuCard .gpu-row { height: 1; }
    GpuCard .gpu-label { width: 6; }
    GpuCard .gpu-gauge { width: 11; }
    GpuCard .gpu-value { width: 16; }
    GpuCard Sparkline { height: 1; width: 1fr; }
    """

    def __init__(self, index: int) -> None:
        super().__init__(id=f"gpu-card-{index}")
        self.index = index

    def compose(self) -> ComposeResult:
        yield Static(classes="gpu-title")
        yield Static(classes="gpu-details")
        for key, label in ROWS:
            with Horizontal(classes="gpu-row"):
                yield Static(label, classes="gpu-label")
                yield Static(classes="gpu-gauge", id=f"gauge-{key}")
                yield Static(classes="gpu-value", id=f"value-{key}")
                yield Sparkline([], id=f"spark-{key}")

    def on_mount(self) -> None:
        self._title = self.query_one(".gpu-title", Static)
        self._details = self.query_one(".gpu-details", Static)
        self._rows = {
            key: (
                self.query_one(f"#gauge-{key}", Static),
                self.query_one(f"#value-{key}", Static),
                self.query_one(f"#spark-{key}", Sparkline),
            )
            for key, _ in ROWS
        }

    def show(self, g: GpuSample, history: dict[str, list[float]]) -> None:
        self._title.update(title_text(g))
        self._details.update(details_text(g))
        values = row_values(g)
        for key, (gauge_w, value_w, spark) in self._rows.items():
            pct, value = values[key]
            gauge_w.update(gauge(pct))
            value_w.update(Text(value))
            spark.data = history.get(key) or [0.0]
