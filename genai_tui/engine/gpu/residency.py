"""Which models are loaded where, and who may use the GPU now.

Every loaded model (chat or image) is registered with its device and memory
(estimated before loading, measured after). Before a load, least recently used
idle models are unloaded (or, with `gpu.on_full = "offload"`, moved to the CPU)
until the new one fits the budget (`gpu.vram_budget_mb` within the GPU's total
memory, or the host's RAM) and, on a GPU shared with other processes, what is free
there plus what we hold, less `gpu.reserve_mb`. GPU work goes through one scheduler, `gpu_slot`: a
job that would not fit beside the jobs running waits (listeners hear `GpuWaiting`)
instead of colliding; jobs that fit together run together.

Runs on the event loop; only the memory probes (NVML, psutil) go to a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from genai_tui.engine.core.errors import GpuBudgetError
from genai_tui.engine.core.events import (
    GpuWaiting,
    ModelEvicted,
    ResidencyEvent,
    ResidentsChanged,
)
from genai_tui.engine.core.text import human_bytes, human_duration
from genai_tui.engine.gpu.placement import Gpu, describe, place, pools_of, probe_gpus
from genai_tui.engine.gpu.residents import (
    MIB,
    Admission,
    GpuShare,
    Job,
    L,
    Listener,
    Loadable,
    Offload,
    Resident,
    Unload,
    held_by_others,
    label,
    pool_of,
    probe_gpu_share,
    probe_memory,
)
from genai_tui.engine.gpu.scheduler import GpuScheduler

if TYPE_CHECKING:
    from genai_tui.config import GpuSettings


class Residency(GpuScheduler):
    """The loaded models and the GPU scheduler (`gpu_slot`). One per Engine."""

    def __init__(
        self,
        settings: GpuSettings,
        probe: Callable[[str], tuple[int | None, int | None]] = probe_memory,
        share_probe: Callable[[str], GpuShare | None] = probe_gpu_share,
        gpus_probe: Callable[[], tuple[Gpu, ...]] = probe_gpus,
    ) -> None:
        self.settings = settings
        self._probe = probe
        self._share_probe = share_probe
        self._gpus_probe = gpus_probe
        self._residents: dict[str, Resident] = {}
        self._jobs: list[Job] = []
        self._waiting: list[Job] = []
        self._budgets: dict[str, int | None] = {}
        self._listeners: list[Listener] = []
        self._cond: asyncio.Condition | None = None
        self._load_lock: asyncio.Lock | None = None
        self._idle_task: asyncio.Task[None] | None = None

    # -- listeners ------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: ResidencyEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- what is loaded -------------------------------------------------------------

    def residents(self) -> list[Resident]:
        """Loaded models, most recently used first."""
        return sorted(self._residents.values(), key=lambda r: r.last_used, reverse=True)

    def get(self, key: str) -> Resident | None:
        return self._residents.get(key)

    @property
    def waiting(self) -> list[str]:
        """Keys of the GPU jobs waiting now, first come first."""
        return [j.key for j in self._waiting]

    def used(self, pool: str) -> int:
        """Bytes the loaded models and the running jobs take in `pool` (a model split
        across GPUs counts its share on each)."""
        models = sum(r.shares.get(pool, 0) for r in self._residents.values())
        return models + sum(j.shares.get(pool, 0) for j in self._jobs)

    async def budget(self, device: str) -> int | None:
        """Memory the models in `device`'s pool may use together; None if unknown."""
        pool = pool_of(device)
        if pool not in self._budgets:
            total, _ = await asyncio.to_thread(self._probe, pool)
            self._budgets[pool] = total
        total = self._budgets[pool]
        if self.settings.vram_budget_mb is not None:
            setting = self.settings.vram_budget_mb * MIB
            return setting if total is None else min(setting, total)
        return total

    async def _room(self, pool: str, budget: int | None) -> tuple[int | None, GpuShare | None]:
        """The limit for what our models may hold in `pool` now (see `GpuShare.room`)."""
        share = await asyncio.to_thread(self._share_probe, pool)
        if share is None:
            return budget, None
        return share.room(self.used(pool), budget, self.settings.reserve_mb * MIB), share

    def _state(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
            self._load_lock = asyncio.Lock()
        return self._cond

    # -- loading --------------------------------------------------------------------

    async def _make_room(self, new: Resident) -> list[ModelEvicted]:
        """Make room for `new` and register it as loading; returns what was evicted.

        On each device it draws on (a split model: its share on each GPU), unloads (or
        offloads) least recently used idle models there until the estimate fits. Waits
        while models that would have to go are busy. Raises GpuBudgetError when the
        model alone exceeds a budget the user set.
        """
        needs = {pool: int(new.estimate_bytes * f) for pool, f in pools_of(new.device).items()}
        budgets = {pool: await self.budget(pool) for pool in needs}
        for pool, need in needs.items():
            capped = budgets[pool] if self.settings.vram_budget_mb is not None else None
            if capped is not None and need > capped:
                raise GpuBudgetError(
                    f"{new.key} needs about {describe(new.estimate_bytes, new.device)}, more "
                    f"than the {human_bytes(capped)} set for loaded models (gpu.vram_budget_mb).",
                    "Raise gpu.vram_budget_mb in the settings, or pick a smaller model or "
                    "quantization.",
                )
        cond = self._state()
        evictions: list[ModelEvicted] = []
        async with cond:
            if new.key in self._residents:  # loaded again (e.g. reloaded with other settings)
                await self._evict(self._residents[new.key], "reloading it", evictions)
            for pool, need in needs.items():
                await self._room_in(new.key, pool, need, budgets[pool], evictions)
            self._residents[new.key] = new
        return evictions

    async def _room_in(
        self, key: str, pool: str, need: int, budget: int | None, evictions: list[ModelEvicted]
    ) -> None:
        """Evict idle models in `pool` until `need` more bytes fit (holding the condition)."""
        cond = self._state()
        limit, share = await self._room(pool, budget)
        if share and share.others and limit is not None and need > limit != budget:
            raise held_by_others(key, need, share)  # even with ours all gone
        reason = f"to make room for {label(key)} (needs {human_bytes(need)}" + (
            f"; budget {human_bytes(limit)})" if limit is not None else ")"
        )
        waited = False
        while limit is not None and self.used(pool) + need > limit:
            victims = self._idle_in(pool)
            if victims:
                await self._evict(victims[0], reason, evictions)
                continue
            if not self._held_in(pool):
                break  # nothing else is there: let the loader try (and explain)
            if not waited:
                waited = True
                self._emit(GpuWaiting(key, need, tuple(self._held_in(pool))))
            await cond.wait()

    async def place(self, device: str, estimate: int) -> str:
        """Where a model asking for `device` goes (see placement.place): "cuda:auto" and
        "cuda:split..." become GPUs; an index this box lacks is refused, naming its GPUs."""
        if not device.startswith("cuda:"):
            return device
        gpus = await asyncio.to_thread(self._gpus_probe)
        ours: dict[int, int] = {}
        for gpu in gpus:
            idle = self._idle_in(f"cuda:{gpu.index}")
            ours[gpu.index] = sum(r.shares.get(f"cuda:{gpu.index}", 0) for r in idle)
        return place(device, estimate, gpus, ours, self.settings.reserve_mb * MIB)

    @contextlib.asynccontextmanager
    async def admitting(
        self,
        key: str,
        kind: str,
        estimate_bytes: int,
        device: str,
        unload: Unload,
        offload: Offload | None = None,
    ) -> AsyncIterator[Admission]:
        """Make room for `key` (see `_make_room`), then the caller loads inside the
        block; its memory is measured.

        On a GPU the measure is what NVML says this process gained; on the CPU it is
        left to the caller (`admission.measured_bytes`): mmapped weights and untouched
        buffers make a resident-memory difference far smaller than what the model will
        use. Loads go one at a time so each measurement sees only its own model. A
        failed load is forgotten.
        """
        self._state()
        assert self._load_lock is not None
        async with self._load_lock:
            new = Resident(key, kind, device, estimate_bytes, unload, offload)
            evictions = await self._make_room(new)
            pool = new.pool
            before = None
            if pool != "cpu":
                _, before = await asyncio.to_thread(self._probe, pool)
            admission = Admission(evictions)
            try:
                yield admission
            except BaseException:
                self.forget(key)
                raise
            measured = admission.measured_bytes
            if measured is None and before is not None:
                _, after = await asyncio.to_thread(self._probe, pool)
                if after is not None and after > before:
                    measured = after - before
            self.loaded(key, measured)

    async def load(
        self,
        key: str,
        kind: str,
        model: Loadable[L],
        evicted: Unload,
        offload: Offload | None = None,
        footprint: tuple[int, str] | None = None,
    ) -> L:
        """The one model admission: estimate, make room, load, measure.

        `footprint` is (bytes, device) when the caller already has it (it may check the
        file before unloading anything); else it is asked of the model. A load that
        fails closes the model and is forgotten; `evicted` runs if residency later
        unloads the model to make room for another.
        """
        try:
            estimate, device = footprint or await model.footprint()
            placed = await self.place(device, estimate)
            if placed != device and (placing := getattr(model, "place", None)) is not None:
                placing(placed)
            device = placed
            async with self.admitting(key, kind, estimate, device, evicted, offload) as admission:
                loaded = await model.load()
                admission.measured_bytes = model.measured_bytes()
        except BaseException:
            await model.close()
            raise
        return loaded

    def loaded(self, key: str, measured_bytes: int | None = None) -> None:
        resident = self._residents.get(key)
        if resident is None:
            return
        resident.loading = False
        if measured_bytes:
            resident.measured_bytes = int(measured_bytes)
        resident.last_used = time.monotonic()
        self._start_idle_timer()
        self._notify()
        self._emit(ResidentsChanged(key))

    def touch(self, key: str) -> None:
        resident = self._residents.get(key)
        if resident is not None:
            resident.last_used = time.monotonic()

    def forget(self, key: str) -> None:
        """`key` was unloaded by its owner (or failed to load)."""
        if self._residents.pop(key, None) is not None:
            self._notify()
            self._emit(ResidentsChanged(key))

    async def unload(self, key: str, reason: str = "unloaded by request") -> ModelEvicted | None:
        """Unload `key` now (the Loaded models panel's key); waits while it is busy."""
        cond = self._state()
        evictions: list[ModelEvicted] = []
        async with cond:
            while (resident := self._residents.get(key)) is not None and (
                resident.busy or resident.loading
            ):
                await cond.wait()
            if resident is None:
                return None
            await self._evict(resident, reason, evictions, allow_offload=False)
        return evictions[0] if evictions else None

    def _idle_in(self, pool: str, spare: str = "") -> list[Resident]:
        found = [
            r for r in self._residents.values()
            if pool in r.shares and not r.busy and not r.loading and r.key != spare
        ]  # fmt: skip
        return sorted(found, key=lambda r: r.last_used)

    def _held_in(self, pool: str) -> list[str]:
        here = [r for r in self._residents.values() if pool in r.shares]
        keys = [r.key for r in here if r.busy or r.loading]
        return keys + [j.key for j in self._jobs if pool in j.shares and j.key not in keys]

    async def _evict(
        self, resident: Resident, reason: str, out: list[ModelEvicted], allow_offload: bool = True
    ) -> None:
        size = resident.bytes
        offload = (
            allow_offload
            and self.settings.on_full == "offload"
            and resident.offload is not None
            and resident.pool != "cpu"
        )
        if offload:
            assert resident.offload is not None
            await resident.offload()
            resident.device = "cpu"
            event = ModelEvicted(resident.key, resident.kind, size, reason, "offloaded")
        else:
            self._residents.pop(resident.key, None)
            await resident.unload()
            event = ModelEvicted(resident.key, resident.kind, size, reason, "unloaded")
        out.append(event)
        self._emit(event)

    def _notify(self) -> None:
        cond = self._cond
        if cond is None:
            return

        async def wake() -> None:
            async with cond:
                cond.notify_all()

        with contextlib.suppress(RuntimeError):  # no running loop: nobody can be waiting
            asyncio.get_running_loop().create_task(wake())

    # -- idle unload ------------------------------------------------------------------

    def _start_idle_timer(self) -> None:
        limit = self.settings.idle_unload_s
        if limit > 0 and self._idle_task is None:
            with contextlib.suppress(RuntimeError):
                self._idle_task = asyncio.get_running_loop().create_task(self._sweep(limit))

    async def _sweep(self, limit: float) -> None:
        while True:
            await asyncio.sleep(min(max(limit / 4, 0.05), 30.0))
            await self.unload_idle()

    async def unload_idle(self) -> list[ModelEvicted]:
        """Unload every model idle for `gpu.idle_unload_s` or more."""
        limit = self.settings.idle_unload_s
        evictions: list[ModelEvicted] = []
        async with self._state():
            for resident in list(self._residents.values()):
                if 0 < limit <= resident.idle_s:  # idle_s is 0 while busy or loading
                    reason = f"idle for {human_duration(resident.idle_s)}"
                    await self._evict(resident, reason, evictions, allow_offload=False)
        return evictions

    async def aclose(self) -> None:
        task, self._idle_task = self._idle_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

