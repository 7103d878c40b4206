"""What the GPUs and the host are doing: NVML (pynvml) per GPU and process, psutil for the host.

Blocking and synchronous: `GpuSampler` (engine/gpu_history.py) calls `read()` on its
own thread; the CLI calls it directly. pynvml is imported on first use, never at
start-up. Every NVML call a GPU does not support (NotSupported, NoPermission, ...)
gives None ("n/a"); a GPU that falls off the bus (GpuIsLost) is reported as lost and
the others keep being read; no driver or no GPU is a state, not an exception.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

NvmlState = Literal["ok", "no_library", "no_driver", "no_gpu", "error"]

# Clock event ("throttle") reason bits, as NVML defines them.
THROTTLE_REASONS = {
    0x1: "idle",
    0x2: "app clocks",
    0x4: "sw power cap",
    0x8: "hw slowdown",
    0x10: "sync boost",
    0x20: "sw thermal",
    0x40: "hw thermal",
    0x80: "power brake",
    0x100: "display clocks",
}


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """A process holding memory on a GPU."""

    gpu: int
    pid: int
    name: str
    user: str
    gpu_memory: int | None  # bytes; None where NVML does not say (e.g. under MIG/WSL)
    is_self: bool  # this app's own process


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU at one moment. None means the GPU or driver does not report it ("n/a")."""

    index: int
    name: str
    uuid: str = ""
    lost: bool = False  # fell off the bus (NVML: GPU is lost); other fields are None
    util_gpu: int | None = None  # percent of time a kernel ran (SM)
    util_mem: int | None = None  # percent of time memory was read or written
    mem_used: int | None = None  # bytes
    mem_total: int | None = None
    mem_free: int | None = None
    temp_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    clock_sm_mhz: int | None = None
    clock_mem_mhz: int | None = None
    fan_pct: int | None = None
    pcie_tx_kbps: int | None = None
    pcie_rx_kbps: int | None = None
    throttle: tuple[str, ...] | None = None
    processes: tuple[ProcessSample, ...] = ()

    @property
    def mem_pct(self) -> float | None:
        if self.mem_used is None or not self.mem_total:
            return None
        return 100.0 * self.mem_used / self.mem_total

    @property
    def power_pct(self) -> float | None:
        if self.power_w is None or not self.power_limit_w:
            return None
        return 100.0 * self.power_w / self.power_limit_w


@dataclass(frozen=True, slots=True)
class HostSample:
    cpu_percent: tuple[float, ...]  # one per logical core
    ram_used: int
    ram_total: int
    swap_used: int
    swap_total: int
    rss: int  # this process's resident memory

    @property
    def cpu_avg(self) -> float:
        return sum(self.cpu_percent) / len(self.cpu_percent) if self.cpu_percent else 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything sampled at one moment: the GPUs (if any) and the host."""

    time: float  # time.time()
    state: NvmlState
    message: str  # why there are no GPUs, in words the user can act on; "" when ok
    driver: str | None
    cuda: str | None
    gpus: tuple[GpuSample, ...]
    host: HostSample
    seq: int = 0  # counts samples taken by a sampler; 0 for a one-off
    processes: tuple[ProcessSample, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.processes:
            procs = tuple(p for g in self.gpus for p in g.processes)
            object.__setattr__(self, "processes", procs)


def na(value: Any, fmt: str = "{}") -> str:
    """A value as text, or "n/a" when the GPU does not report it."""
    return "n/a" if value is None else fmt.format(value)


_NO_DRIVER = (
    "No NVIDIA driver found (NVML: {err}).",
    "Install the NVIDIA driver, or run on a machine with an NVIDIA GPU; the host is shown.",
)


class NvmlReader:
    """Reads every GPU through NVML; opened on first use, closed with `close()`."""

    def __init__(self) -> None:
        self.state: NvmlState | None = None
        self.message = ""
        self.driver: str | None = None
        self.cuda: str | None = None
        self._nv: Any = None
        self._handles: list[Any] = []
        self._names: list[str] = []
        self._uuids: list[str] = []
        self._lost: set[int] = set()
        self._proc_info: dict[int, tuple[str, str]] = {}
        self._pid = os.getpid()

    def open(self) -> NvmlState:
        if self.state is not None:
            return self.state
        try:
            import pynvml
        except ImportError as exc:  # nvidia-ml-py is a dependency; only a broken install
            self.state, self.message = "no_library", f"pynvml is not importable ({exc})."
            return self.state
        self._nv = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self.state = "no_driver"
            self.message = " ".join(_NO_DRIVER).format(err=exc)
            return self.state
        try:
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._names = [self._text(self._get(pynvml.nvmlDeviceGetName, h)) or f"GPU {i}"
                           for i, h in enumerate(self._handles)]  # fmt: skip
            self._uuids = [self._text(self._get(pynvml.nvmlDeviceGetUUID, h)) or ""
                           for h in self._handles]  # fmt: skip
        except pynvml.NVMLError as exc:
            self.state, self.message = "error", f"NVML could not list the GPUs: {exc}."
            return self.state
        self.driver = self._text(self._get(pynvml.nvmlSystemGetDriverVersion))
        cuda = self._get(pynvml.nvmlSystemGetCudaDriverVersion)
        self.cuda = f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None
        if not self._handles:
            self.state = "no_gpu"
            self.message = "The NVIDIA driver is loaded but reports no GPU; the host is shown."
        else:
            self.state = "ok"
        return self.state

    @staticmethod
    def _text(value: Any) -> str | None:
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        return value

    def _get(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call NVML; None when the GPU does not support it. GpuIsLost propagates."""
        nv = self._nv
        try:
            return fn(*args)
        except nv.NVMLError_GpuIsLost:
            raise
        except nv.NVMLError:
            return None

    def read(self) -> tuple[GpuSample, ...]:
        if self.open() != "ok":
            return ()
        return tuple(self._read_gpu(i, h) for i, h in enumerate(self._handles))

    def names(self) -> dict[int, str]:
        """Each GPU's name by index (empty without a driver or GPU)."""
        return dict(enumerate(self._names)) if self.open() == "ok" else {}

    def memory(self, *, free: bool = True) -> dict[int, int]:
        """Free (or total) bytes per GPU index: only the memory call, for fit checks."""
        if self.open() != "ok":
            return {}
        out = {}
        for i, handle in enumerate(self._handles):
            try:
                mem = self._get(self._nv.nvmlDeviceGetMemoryInfo, handle)
            except self._nv.NVMLError_GpuIsLost:
                continue
            if mem is not None:
                out[i] = int(mem.free if free else mem.total)
        return out

    def _read_gpu(self, index: int, handle: Any) -> GpuSample:
        nv = self._nv
        if index in self._lost:
            return GpuSample(index, self._names[index], self._uuids[index], lost=True)
        get = self._get
        try:
            util = get(nv.nvmlDeviceGetUtilizationRates, handle)
            mem = get(nv.nvmlDeviceGetMemoryInfo, handle)
            power = get(nv.nvmlDeviceGetPowerUsage, handle)
            limit = get(nv.nvmlDeviceGetEnforcedPowerLimit, handle)
            reasons = get(nv.nvmlDeviceGetCurrentClocksEventReasons, handle)
            return GpuSample(
                index=index,
                name=self._names[index],
                uuid=self._uuids[index],
                util_gpu=getattr(util, "gpu", None),
                util_mem=getattr(util, "memory", None),
                mem_used=getattr(mem, "used", None),
                mem_total=getattr(mem, "total", None),
                mem_free=getattr(mem, "free", None),
                temp_c=get(nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU),
                power_w=power / 1000 if power is not None else None,
                power_limit_w=limit / 1000 if limit is not None else None,
                clock_sm_mhz=get(nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM),
                clock_mem_mhz=get(nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_MEM),
                fan_pct=get(nv.nvmlDeviceGetFanSpeed, handle),
                pcie_tx_kbps=get(nv.nvmlDeviceGetPcieThroughput, handle,
                                 nv.NVML_PCIE_UTIL_TX_BYTES),  # fmt: skip
                pcie_rx_kbps=get(nv.nvmlDeviceGetPcieThroughput, handle,
                                 nv.NVML_PCIE_UTIL_RX_BYTES),  # fmt: skip
                throttle=None if reasons is None else throttle_names(reasons),
                processes=self._processes(index, handle),
            )
        except nv.NVMLError_GpuIsLost:
            # Off the bus: it stays lost until the driver is reloaded; keep reading the rest.
            self._lost.add(index)
            return GpuSample(index, self._names[index], self._uuids[index], lost=True)

    def _processes(self, index: int, handle: Any) -> tuple[ProcessSample, ...]:
        nv = self._nv
        seen: dict[int, ProcessSample] = {}
        for fn in (nv.nvmlDeviceGetComputeRunningProcesses,
                   nv.nvmlDeviceGetGraphicsRunningProcesses):  # fmt: skip
            for proc in self._get(fn, handle) or ():
                pid = int(proc.pid)
                used = getattr(proc, "usedGpuMemory", None)
                name, user = self._describe(pid)
                before = seen.get(pid)
                if before is not None and before.gpu_memory is not None:
                    used = before.gpu_memory + (used or 0)
                seen[pid] = ProcessSample(index, pid, name, user, used, pid == self._pid)
        return tuple(seen.values())

    def _describe(self, pid: int) -> tuple[str, str]:
        """Name and user of a process (cached: they do not change)."""
        info = self._proc_info.get(pid)
        if info is None:
            import psutil

            try:
                proc = psutil.Process(pid)
                info = (proc.name(), proc.username())
            except (psutil.Error, KeyError, OSError):
                info = ("?", "?")  # gone, or in another container's PID namespace
            if len(self._proc_info) > 4096:
                self._proc_info.clear()
            self._proc_info[pid] = info
        return info

    def close(self) -> None:
        if self.state not in (None, "no_library", "no_driver"):
            try:
                self._nv.nvmlShutdown()
            except self._nv.NVMLError:
                pass
        self.state = None
        self._handles = []
        self._lost.clear()


def throttle_names(bits: int) -> tuple[str, ...]:
    return tuple(name for bit, name in THROTTLE_REASONS.items() if bits & bit)


class HostReader:
    """CPU per core, RAM, swap and this process's RSS (psutil)."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        psutil.cpu_percent(percpu=True)  # the first call primes the counters

    def read(self) -> HostSample:
        ps = self._psutil
        ram = ps.virtual_memory()
        swap = ps.swap_memory()
        return HostSample(
            cpu_percent=tuple(ps.cpu_percent(percpu=True)),
            ram_used=int(ram.total - ram.available),
            ram_total=int(ram.total),
            swap_used=int(swap.used),
            swap_total=int(swap.total),
            rss=int(self._me.memory_info().rss),
        )


def snapshot(nvml: NvmlReader, host: HostReader, seq: int = 0) -> Snapshot:
    """One sample of everything (blocking; call off the event loop)."""
    gpus = nvml.read()
    assert nvml.state is not None
    return Snapshot(
        time=time.time(),
        state=nvml.state,
        message=nvml.message,
        driver=nvml.driver,
        cuda=nvml.cuda,
        gpus=gpus,
        host=host.read(),
        seq=seq,
    )


def read_once(cpu_window_s: float = 0.2) -> Snapshot:
    """A one-off sample, with CPU use measured over `cpu_window_s` (for the CLI)."""
    nvml, host = NvmlReader(), HostReader()
    try:
        nvml.open()
        time.sleep(cpu_window_s)
        return snapshot(nvml, host)
    finally:
        nvml.close()


def gpu_memory(index: int | None = None, *, free: bool = True) -> int | None:
    """Free (or total) memory of GPU `index`, or the most of any GPU; None without one."""
    nvml = NvmlReader()
    try:
        values = nvml.memory(free=free)
    finally:
        nvml.close()
    if index is not None:
        values = {i: v for i, v in values.items() if i == index}
    return max(values.values()) if values else None


def free_vram() -> int | None:
    """Free memory of the emptiest NVIDIA GPU, from NVML; None without a GPU or driver."""
    return gpu_memory(free=True)


def own_gpu_memory(nvml: NvmlReader) -> int | None:
    """Bytes this process holds on all GPUs (None when NVML cannot say)."""
    values = [p.gpu_memory for g in nvml.read() for p in g.processes if p.is_self]
    known = [v for v in values if v is not None]
    return sum(known) if known else None
