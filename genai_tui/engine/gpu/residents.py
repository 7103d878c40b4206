"""What residency keeps track of: the models it admits, where they live, and the memory
probes (NVML, psutil) it measures them with."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from genai_tui.engine.core.events import ModelEvicted, ResidencyEvent

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
    """The memory a device draws on: "cpu", or one GPU ("cuda" means "cuda:0")."""
    device = (device or "cpu").lower()
    if device == "cuda":
        return "cuda:0"
    return device


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
    def idle_s(self) -> float:
        return 0.0 if self.busy or self.loading else time.monotonic() - self.last_used


@dataclass
class Job:
    key: str
    bytes: int
    pool: str


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
