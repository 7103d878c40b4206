"""The GPU scheduler, `gpu_slot`: the part of Residency that runs GPU jobs.

A job that would not fit beside the jobs running on its model's GPUs waits (listeners
hear `GpuWaiting`) instead of colliding; jobs that fit together run together. A job on
a model split across GPUs needs room on each of them, in its model's proportions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from genai_tui.engine.core.events import GpuAcquired, GpuWaiting, ModelEvicted, ResidencyEvent
from genai_tui.engine.gpu.placement import pools_of
from genai_tui.engine.gpu.residents import Job, Resident, label


class GpuScheduler:
    """Mixed into Residency, whose state it shares."""

    _residents: dict[str, Resident]
    _jobs: list[Job]
    _waiting: list[Job]

    if TYPE_CHECKING:

        def _state(self) -> asyncio.Condition: ...

        def _emit(self, event: ResidencyEvent) -> None: ...

        def used(self, pool: str) -> int: ...

        async def budget(self, device: str) -> int | None: ...

        def _idle_in(self, pool: str, spare: str = "") -> list[Resident]: ...

        def _held_in(self, pool: str) -> list[str]: ...

        async def _evict(
            self, resident: Resident, reason: str, out: list[ModelEvicted],
            allow_offload: bool = True,
        ) -> None: ...  # fmt: skip

    def _held_in_any(self, pools: dict[str, int]) -> tuple[str, ...]:
        held: list[str] = []
        for pool in pools:
            held += [k for k in self._held_in(pool) if k not in held]
        return tuple(held)

    @contextlib.asynccontextmanager
    async def gpu_slot(self, key: str, work_bytes: int = 0) -> AsyncIterator[None]:
        """Run one GPU job on model `key`, needing `work_bytes` beyond the model itself.

        Waits (first come, first served on each GPU) while the job would not fit beside
        the ones running; idle models other than `key` are evicted first if that makes
        room. A job alone always runs. The model is busy (never evicted) meanwhile.
        """
        cond = self._state()
        resident = self._residents.get(key)
        fractions = pools_of(resident.device) if resident is not None else {"cpu": 1.0}
        shares = {pool: int(work_bytes * f) for pool, f in fractions.items()}
        job = Job(key, work_bytes, next(iter(shares)), shares)
        started = time.monotonic()
        announced = False
        async with cond:
            self._waiting.append(job)
            try:
                budgets = {pool: await self.budget(pool) for pool in shares}
                while True:
                    first = all(
                        next(j for j in self._waiting if pool in j.shares) is job for pool in shares
                    )
                    full = [
                        pool for pool, need in shares.items()
                        if budgets[pool] is not None
                        and self.used(pool) + need > (budgets[pool] or 0)
                    ]  # fmt: skip
                    alone = not any(pool in j.shares for j in self._jobs for pool in shares)
                    if first and full:
                        victims = [v for pool in full for v in self._idle_in(pool, spare=key)]
                        if victims:
                            reason = f"to make room for a job on {label(key)}"
                            await self._evict(victims[0], reason, [])
                            continue
                    if first and (not full or alone):
                        break
                    if not announced:
                        announced = True
                        self._emit(GpuWaiting(key, work_bytes, self._held_in_any(shares)))
                    await cond.wait()
            finally:
                self._waiting.remove(job)
                cond.notify_all()
            self._jobs.append(job)
            if resident is not None:
                resident.busy += 1
        if announced:
            self._emit(GpuAcquired(key, time.monotonic() - started))
        try:
            yield
        finally:
            async with cond:
                self._jobs.remove(job)
                if resident is not None:
                    resident.busy -= 1
                    resident.last_used = time.monotonic()
                cond.notify_all()
