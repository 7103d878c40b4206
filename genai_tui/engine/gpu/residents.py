"""What residency keeps track of: the models it admits, where they live, and the memory
probes (NVML, psutil) it measures them with."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from genai_tui.engine.core.errors import GpuBudgetError
from genai_tui.engine.core.events import ModelEvicted, ResidencyEvent
from genai_tui.engine.core.text import human_bytes, printable
from genai_tui.engine.gpu.placement import device_label, pools_of

L = TypeVar("L", covariant=True)


class Loadable(Protocol[L]):
    """A model residency can admit: a chat model (llama.cpp) or an image pipeline."""

    async def footprint(self) -> tuple[int, str]: ...  # (bytes it will hold, device)

    async def load(self) -> L: ...

    def measured_bytes(self) -> int | None: ...  # once loaded; None: keep the estimate

    async def close(self) -> None: ...


Unload = Callable[[], Awaitable[None]]
Offload = Callable[[], Awaitable[None]]
Listener = Callable[[ResidencyEvent], None]
MIB = 1024**2


def label(key: str) -> str:
    """A key as people read it: a model loaded by path shows its file name."""
    path = Path(key)
    return path.name if path.is_absolute() else key


def pool_of(device: str) -> str:
    """The memory a device draws on: "cpu", or one GPU ("cuda" means "cuda:0"); the
    first GPU of a split."""
    return next(iter(pools_of(device)))


@dataclass
class Resident:
    """A loaded (or loading) model and what it holds."""

    key: str
    kind: str  # "chat" or "image"
    device: str
    estimate_bytes: int
    unload: Unload = field(repr=False)
    offload: Offload | None = field(default=None, repr=False)
    measured_bytes: int | None = None
    loading: bool = True
    busy: int = 0  # GPU jobs running on it
    loaded_at: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)

    @property
    def bytes(self) -> int:
        return self.measured_bytes if self.measured_bytes is not None else self.estimate_bytes

    @property
    def pool(self) -> str:
        return pool_of(self.device)

    @property
    def shares(self) -> dict[str, int]:
        """Bytes it holds in each pool (a model split across GPUs holds a share on each)."""
        return {pool: int(self.bytes * f) for pool, f in pools_of(self.device).items()}

    @property
    def where(self) -> str:
        """"CPU", "GPU1", "GPU0+1"."""
        return device_label(self.device)

    @property
    def idle_s(self) -> float:
        return 0.0 if self.busy or self.loading else time.monotonic() - self.last_used


@dataclass
class Job:
    key: str
    bytes: int
    pool: str
    shares: dict[str, int] = field(default_factory=dict)  # bytes per pool; {} -> {pool: bytes}

    def __post_init__(self) -> None:
        self.shares = self.shares or {self.pool: self.bytes}


@dataclass
class Admission:
    """What `admitting` made room with; set `measured_bytes` if the loader knows better."""

    evictions: list[ModelEvicted]
    measured_bytes: int | None = None


def probe_memory(pool: str) -> tuple[int | None, int | None]:
    """(total memory of the pool, what this process holds there now); blocking."""
    import psutil

    if pool.startswith("cuda"):
        from genai_tui.engine.gpu.nvml import NvmlReader, own_gpu_memory

        index = int(pool.partition(":")[2] or 0)
        nvml = NvmlReader()
        try:
            total = nvml.memory(free=False).get(index)
            held = own_gpu_memory(nvml)
        finally:
            nvml.close()
        return total, held
    return int(psutil.virtual_memory().total), int(psutil.Process().memory_info().rss)


@dataclass(frozen=True)
class GpuShare:
    """One GPU as other users see it: free memory, what this process holds, and who
    else holds memory there (name, pid, user, bytes), largest first."""

    free: int
    held: int | None
    others: tuple[tuple[str, int, str, int], ...] = ()

    def room(self, ours: int, budget: int | None, reserve: int) -> int:
        """What our models may hold here: free memory plus what we hold (NVML's count of
        this process, else our models' `ours`) less the reserve, and within `budget`."""
        held = self.held if self.held is not None else ours
        room = max(0, self.free + held - reserve)
        return room if budget is None else min(budget, room)


def probe_gpu_share(pool: str) -> GpuShare | None:
    """The GPU behind `pool` now (None for the CPU or when NVML cannot say); blocking."""
    if not pool.startswith("cuda"):
        return None
    from genai_tui.engine.gpu.nvml import NvmlReader

    index = int(pool.partition(":")[2] or 0)
    nvml = NvmlReader()
    try:
        free = nvml.memory(free=True).get(index)
        if free is None:
            return None
        gpus = [g for g in nvml.read() if g.index == index]
    finally:
        nvml.close()
    processes = gpus[0].processes if gpus else ()
    held = [p.gpu_memory for p in processes if p.is_self and p.gpu_memory is not None]
    others = sorted(
        ((p.name, p.pid, p.user, p.gpu_memory) for p in processes
         if not p.is_self and p.gpu_memory),
        key=lambda o: -o[3],
    )  # fmt: skip
    return GpuShare(free, sum(held) if held else None, tuple(others))


def held_by_others(key: str, need: int, share: GpuShare) -> GpuBudgetError:
    """The GPU is shared and the others' memory leaves too little: say who holds it."""
    named = ", ".join(
        f"{printable(name) or '?'} (pid {pid}, {printable(user) or '?'}: {human_bytes(held)})"
        for name, pid, user, held in share.others[:3]
    )
    more = f" and {len(share.others) - 3} more" if len(share.others) > 3 else ""
    return GpuBudgetError(
        f"{label(key)} needs about {human_bytes(need)}, but the GPU has "
        f"{human_bytes(share.free)} free: other processes hold the rest: {named}{more}.",
        "Wait for them to finish or ask their owners, pick a smaller model or quantization, "
        "or load fewer layers on the GPU (generation.gpu_layers).",
    )
