"""One GPU: gauges with values and sparkline history for utilization, memory, temperature
and power, under a title line with the name, clocks, fan, PCIe and throttle reasons.

Built once per GPU. The card draws all its lines itself (graphs on a fixed 0-100 scale)
and `show()` redraws it in place only when what it draws changed: at one sample a
second, a card of separate Static/Sparkline widgets cost the idle app ~3.4% of a core
with 4 GPUs, this ~1.3% (bench/monitor.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from genai_tui.engine.gpu.nvml import na

if TYPE_CHECKING:
    from genai_tui.engine.gpu.nvml import GpuSample

GAUGE_CELLS = 10


class Line(Static):
    """A one-line text updated in place: no layout pass, and nothing when unchanged."""

    _shown: Text | None = None

    def set(self, text: Text) -> None:
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)

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


def meter_text(label: str, pct: float | None, value: str) -> Text:
    """`Util  ████░░░░░░ 37%`: label, gauge and value in one line."""
    return Text(f"{label:<6}") + gauge(pct) + Text(f" {value:<15}")


BLOCKS = "▁▂▃▄▅▆▇█"


def buckets(series: list[float], width: int) -> list[float]:
    """The newest part of the series squeezed to `width` points (the max of each slice)."""
    if width <= 0 or len(series) <= width:
        return series
    step = len(series) / width
    return [max(series[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)])
            for i in range(width)]  # fmt: skip


def spark_text(series: list[float], width: int, top: float = 100.0) -> Text:
    """A sparkline of `series` on a fixed 0..top scale, right-aligned in `width` cells."""
    points = buckets(series, width)
    bars = "".join(BLOCKS[min(7, max(0, int(v / top * 7.999)))] for v in points)
    return Text(" " * (width - len(bars))) + Text(bars, style="cyan")


class GpuCard(Static):
    """The card is one widget drawing all its lines: a sample redraws it once, in place."""

    DEFAULT_CSS = """
    GpuCard {
        height: 8; border: round $primary 50%; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, index: int) -> None:
        super().__init__(id=f"gpu-card-{index}")
        self.index = index
        self.sample: GpuSample | None = None
        self.series: dict[str, list[float]] = {}
        self._drawn: Text | None = None

    def show(self, g: GpuSample, history: dict[str, list[float]]) -> None:
        self.sample, self.series = g, history
        text = self._text(self.content_size.width)
        if text != self._drawn:  # an unchanged card costs nothing
            self._drawn = text
            self.update(text, layout=False)

    def on_resize(self) -> None:
        if self.sample is not None:
            self._drawn = self._text(self.content_size.width)
            self.update(self._drawn, layout=False)

    def _text(self, width: int) -> Text:
        g = self.sample
        assert g is not None
        lines = [title_text(g), details_text(g)]
        values = row_values(g)
        graph = max(0, width - 34)
        for key, label in ROWS:
            pct, value = values[key]
            line = meter_text(label, pct, value)
            if graph:
                # Temperature draws on a 0..100 °C scale, like its gauge.
                line += Text(" ") + spark_text(self.series.get(key, []), graph - 1)
            lines.append(line)
        return Text("\n").join(lines)
