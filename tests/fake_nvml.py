"""A fake NVIDIA driver at the pynvml function level (we have no GPU here).

`FakeNvml(gpus).install(monkeypatch.setattr)` replaces pynvml's functions; the real
pynvml error classes are raised, so the code under test handles exactly what it
would on a real box: NotSupported fields, no driver (LibraryNotFound /
DriverNotLoaded), and a GPU falling off the bus mid-run (`lose(index)` -> GpuIsLost).
bench/monitor.py uses it too (`--fake-gpus N`), installing with plain setattr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml

GIB = 1024**3


def nvml_error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)  # maps the code to its subclass, as real pynvml does


@dataclass
class FakeGpu:
    name: str = "NVIDIA Fake A100 80GB"
    mem_total: int = 80 * GIB
    mem_used: int = 2 * GIB
    util_gpu: int = 37
    util_mem: int = 12
    temp_c: int = 54
    power_mw: int = 120_000
    power_limit_mw: int = 400_000
    clock_sm: int = 1410
    clock_mem: int = 1593
    fan_pct: int = 30
    pcie_tx: int = 1_200
    pcie_rx: int = 800
    throttle: int = 0x1  # idle
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    unsupported: set[str] = field(default_factory=set)  # e.g. {"fan", "power", "pcie"}
    lost: bool = False


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=lambda: [FakeGpu()])
    init_error: int | None = None  # e.g. pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
    driver: str = "550.54.15"
    cuda: int = 12040
    calls: int = 0
    _originals: dict[str, Any] = field(default_factory=dict)

    # -- installing --------------------------------------------------------------

    def install(self, setattr_fn: Any = None) -> FakeNvml:
        """Patch pynvml; `setattr_fn` is monkeypatch.setattr in tests (undone for you)."""
        for name in dir(self):
            if name.startswith("nvml"):
                if setattr_fn is None:
                    self._originals[name] = getattr(pynvml, name)
                    setattr(pynvml, name, getattr(self, name))
                else:
                    setattr_fn(pynvml, name, getattr(self, name))
        return self

    def uninstall(self) -> None:
        for name, fn in self._originals.items():
            setattr(pynvml, name, fn)
        self._originals.clear()

    def lose(self, index: int) -> None:
        """GPU `index` falls off the bus: every call on it raises GpuIsLost from now on."""
        self.gpus[index].lost = True

    # -- helpers -----------------------------------------------------------------

    def _gpu(self, handle: Any, feature: str | None = None) -> FakeGpu:
        self.calls += 1
        gpu = self.gpus[handle.index]
        if gpu.lost:
            raise nvml_error(pynvml.NVML_ERROR_GPU_IS_LOST)
        if feature and feature in gpu.unsupported:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu

    # -- the pynvml functions ------------------------------------------------------

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise nvml_error(self.init_error)

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        if not 0 <= index < len(self.gpus):
            raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return SimpleNamespace(index=index)

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return self._gpu(handle).name

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        self._gpu(handle)
        return f"GPU-fake-{handle.index:04d}"

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        g = self._gpu(handle, "util")
        return SimpleNamespace(gpu=g.util_gpu, memory=g.util_mem)

    def nvmlDeviceGetMemoryInfo(self, handle: Any, version: Any = None) -> Any:
        g = self._gpu(handle, "memory")
        return SimpleNamespace(total=g.mem_total, used=g.mem_used, free=g.mem_total - g.mem_used)

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        return self._gpu(handle, "temp").temp_c

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        return self._gpu(handle, "power").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        return self._gpu(handle, "power").power_limit_mw

    def nvmlDeviceGetClockInfo(self, handle: Any, kind: int) -> int:
        g = self._gpu(handle, "clocks")
        return g.clock_sm if kind == pynvml.NVML_CLOCK_SM else g.clock_mem

    def nvmlDeviceGetFanSpeed(self, handle: Any) -> int:
        return self._gpu(handle, "fan").fan_pct

    def nvmlDeviceGetPcieThroughput(self, handle: Any, counter: int) -> int:
        g = self._gpu(handle, "pcie")
        return g.pcie_tx if counter == pynvml.NVML_PCIE_UTIL_TX_BYTES else g.pcie_rx

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        return self._gpu(handle, "throttle").throttle

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        g = self._gpu(handle, "processes")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in g.processes]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: Any) -> list[Any]:
        self._gpu(handle, "processes")
        return []


def one_gpu(**fields: Any) -> FakeNvml:
    """One GPU with this process on it (1.5 GiB) and another process (PID 1)."""
    fields.setdefault("processes", [(os.getpid(), 1536 * 1024**2), (1, 512 * 1024**2)])
    return FakeNvml([FakeGpu(**fields)])


def four_gpus() -> FakeNvml:
    """Four GPUs of two kinds; GPU 3 supports neither fan nor power readings."""
    me = os.getpid()
    gpus = [
        FakeGpu(name="NVIDIA H100 80GB HBM3", util_gpu=90, mem_used=60 * GIB,
                processes=[(me, 30 * GIB), (1, 4 * GIB)]),  # fmt: skip
        FakeGpu(name="NVIDIA H100 80GB HBM3", util_gpu=10, mem_used=8 * GIB,
                processes=[(1, 8 * GIB)]),  # fmt: skip
        FakeGpu(name="NVIDIA L4", mem_total=24 * GIB, mem_used=1 * GIB, util_gpu=0),
        FakeGpu(name="NVIDIA T4", mem_total=16 * GIB, mem_used=3 * GIB, util_gpu=55,
                unsupported={"fan", "power", "pcie", "throttle"},
                processes=[(me, None)]),  # fmt: skip
    ]
    return FakeNvml(gpus)


def no_driver(code: int = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND) -> FakeNvml:
    return FakeNvml([], init_error=code)
