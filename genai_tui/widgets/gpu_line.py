"""A one-line GPU summary (utilization, memory, temperature) on every screen.

Fed by the app's `gpu_signal` (samples) and `gpu_waiting_signal` (jobs waiting for
the GPU). Hidden where there is no GPU and nothing waits, so CPU-only boxes keep
their layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from genai_tui.workbench import workbench

if TYPE_CHECKING:
    from genai_tui.engine.gpu.nvml import GpuSample, Snapshot


def _one(g: GpuSample, label: str) -> str:
    if g.lost:
        return f"{label} lost"
    util = "n/a" if g.util_gpu is None else f"{g.util_gpu}%"
    mem = "n/a"
    if g.mem_used is not None and g.mem_total:
        mem = f"{g.mem_used / 2**30:.1f}/{g.mem_total / 2**30:.0f} GiB"
    temp = "n/a" if g.temp_c is None else f"{g.temp_c}°C"
    return f"{label} {util} · {mem} · {temp}"


def line_text(snap: Snapshot | None, waiting: tuple[str, ...] = (),
              placed: tuple[tuple[str, str], ...] = ()) -> str:  # fmt: skip
    """`GPU 45% · 3.2/80 GiB · 61°C · SmolLM2`, several GPUs side by side (each with the
    models on it) or summed (models named with their GPUs); "" when there is none."""
    parts: list[str] = []
    if waiting:
        parts.append(f"⏳ waiting for GPU: {', '.join(waiting)}")
    gpus = snap.gpus if snap is not None else ()
    on_gpu = [(name, where) for name, where in placed if where.startswith("GPU")]

    def on(index: int | None) -> str:  # the models on one GPU (None: the only one)
        here = [n for n, w in on_gpu if index is None or str(index) in w[3:].split("+")]
        return f" · {', '.join(here)}" if here else ""

    if len(gpus) == 1:
        parts.append(_one(gpus[0], "GPU") + on(None))
    elif 1 < len(gpus) <= 2:
        parts.extend(_one(g, f"GPU{g.index}") + on(g.index) for g in gpus)
    elif gpus:
        alive = [g for g in gpus if not g.lost]
        utils = [g.util_gpu for g in alive if g.util_gpu is not None]
        used = sum(g.mem_used or 0 for g in alive)
        total = sum(g.mem_total or 0 for g in alive)
        temps = [g.temp_c for g in alive if g.temp_c is not None]
        text = f"{len(gpus)} GPUs {sum(utils) / len(utils):.0f}%" if utils else f"{len(gpus)} GPUs"
        text += f" · {used / 2**30:.0f}/{total / 2**30:.0f} GiB" if total else ""
        text += f" · max {max(temps)}°C" if temps else ""
        lost = len(gpus) - len(alive)
        parts.append(text + (f" · {lost} lost" if lost else ""))
        parts.extend(f"{name} on {where}" for name, where in on_gpu)
    return " │ ".join(parts)


class GpuLine(Static):
    """Updated in place at the sampling rate; never rebuilt."""

    DEFAULT_CSS = """
    GpuLine { height: 1; padding: 0 1; background: $panel; display: none; }
    GpuLine.-active { display: block; }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False)
        self._snap: Snapshot | None = None
        self._waiting: tuple[str, ...] = ()
        self._placed: tuple[tuple[str, str], ...] = ()
        self._text = ""

    def on_mount(self) -> None:
        bench = workbench(self)
        if bench is None:  # in some other App (a test harness): nothing to follow
            return
        bench.gpu_signal.subscribe(self, self.show, immediate=True)
        bench.gpu_waiting_signal.subscribe(self, self.waiting, immediate=True)
        bench.gpu_models_signal.subscribe(self, self.placed, immediate=True)
        self._placed = bench.gpu_models_latest
        if bench.gpu_latest is not None:
            self.show(bench.gpu_latest)

    def show(self, snap: Snapshot) -> None:
        self._snap = snap
        self._render_line()

    def waiting(self, keys: tuple[str, ...]) -> None:
        self._waiting = tuple(keys)
        self._render_line()

    def placed(self, models: tuple[tuple[str, str], ...]) -> None:
        """Where the loaded models sit: (name, "CPU" / "GPU1" / "GPU0+1")."""
        self._placed = tuple(models)
        self._render_line()

    def _render_line(self) -> None:
        text = line_text(self._snap, self._waiting, self._placed)
        if text == self._text:
            return
        self._text = text
        self.set_class(bool(text), "-active")
        self.update(Content(text), layout=False)
