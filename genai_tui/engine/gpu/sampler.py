"""The GPU sampler's thread and the history it keeps for graphs.

`GpuSampler` samples at `settings.gpu.interval_s` on its own daemon thread and keeps
the last `settings.gpu.history_s` seconds. Each sample is handed to the subscribers on
their event loop (`subscribe`); readers also take `latest` (one reference, replaced
atomically) and copies of the series.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from genai_tui.engine.gpu.nvml import HostReader, NvmlReader, Snapshot, snapshot

if TYPE_CHECKING:
    from genai_tui.config import GpuSettings

SERIES = ("util", "mem", "temp", "power")


class GpuHistory:
    """Per GPU, a bounded series of utilization, memory %, temperature and power %.

    A value the GPU does not report is kept as 0 so the series stay aligned in time.
    """

    def __init__(self, length: int) -> None:
        self.length = max(2, length)
        self._series: dict[tuple[int, str], deque[float]] = {}
        self._cpu: deque[float] = deque(maxlen=self.length)
        self._lock = threading.Lock()

    def add(self, snap: Snapshot) -> None:
        with self._lock:
            self._cpu.append(snap.host.cpu_avg)
            for g in snap.gpus:
                values = {
                    "util": g.util_gpu,
                    "mem": g.mem_pct,
                    "temp": g.temp_c,
                    "power": g.power_pct,
                }
                for name, value in values.items():
                    series = self._series.get((g.index, name))
                    if series is None:
                        series = self._series[(g.index, name)] = deque(maxlen=self.length)
                    series.append(float(value or 0.0))

    def series(self, gpu: int, name: str) -> list[float]:
        with self._lock:
            return list(self._series.get((gpu, name), ()))

    def cpu(self) -> list[float]:
        with self._lock:
            return list(self._cpu)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cpu)


class GpuSampler:
    """Samples NVML and the host on its own thread until `stop()`.

    `start()` is idempotent; pynvml is imported on the thread, not by the caller.
    `cpu_s` is the CPU time the thread itself has used (for bench/monitor.py).
    """

    def __init__(self, settings: GpuSettings) -> None:
        self.interval_s = settings.interval_s
        self.history = GpuHistory(round(settings.history_s / settings.interval_s))
        self.latest: Snapshot | None = None
        self.cpu_s = 0.0
        self.error: str = ""
        self._nvml = NvmlReader()
        self._host: HostReader | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._listeners: list[
            tuple[asyncio.AbstractEventLoop, Callable[[Snapshot], None], contextvars.Context]
        ] = []

    def subscribe(
        self, loop: asyncio.AbstractEventLoop, listener: Callable[[Snapshot], None]
    ) -> None:
        """Call `listener(snapshot)` on `loop` after every sample (one per interval), in the
        subscriber's context (a UI's context variables, e.g. Textual's active app, hold
        there as they would in a call made on the loop)."""
        self._listeners.append((loop, listener, contextvars.copy_context()))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="genai-gpu-sampler", daemon=True)
        self._thread.start()

    def sample(self) -> Snapshot:
        """Take one sample now (blocking) and add it to the history."""
        if self._host is None:
            self._host = HostReader()
        self._seq += 1
        snap = snapshot(self._nvml, self._host, self._seq)
        self.history.add(snap)
        self.latest = snap
        for loop, listener, context in list(self._listeners):
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(listener, snap, context=context)
        return snap

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            started = time.thread_time()
            try:
                self.sample()
                self.error = ""
            except Exception as exc:  # a sampler that dies silently would freeze the graphs
                self.error = f"GPU sampling failed: {exc}"
            self.cpu_s += time.thread_time() - started
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspended, slow NVML): do not try to catch up
                next_at, delay = time.monotonic(), 0.0
            self._stop.wait(delay)
        self._nvml.close()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        else:
            self._nvml.close()
