"""The one way work crosses into asyncio: a worker thread's output as an async stream,
and several async streams merged into one.

A backend that blocks (llama.cpp, diffusers) runs `work(emit)` on its own executor;
each `emit(item)` crosses with `loop.call_soon_threadsafe` into a queue that the event
loop reads. A consumer that stops listening sets the cancel event and waits for the
worker to finish, so an abandoned stream never leaves a thread generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_END = object()


class ThreadStream(Generic[T, R]):
    """`work(emit)` on `executor`: iterate `items()` for what it emits, then `await
    result()` for what it returned (or the exception it raised)."""

    def __init__(
        self,
        executor: Executor,
        work: Callable[[Callable[[T], None]], R],
        cancel: threading.Event,
    ) -> None:
        self._executor = executor
        self._work = work
        self._cancel = cancel
        self._future: asyncio.Future[R] | None = None

    async def items(self) -> AsyncGenerator[T, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def emit(item: T) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> R:
            try:
                return self._work(emit)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _END)

        self._future = future = loop.run_in_executor(self._executor, run)
        ended = False
        try:
            while (item := await queue.get()) is not _END:
                yield item
            ended = True
        finally:
            # Only a consumer that leaves early stops the work. After the end marker the
            # work is returning (its future may not be done yet): the cancel event is
            # shared with whoever started the run, and must not be set behind its back.
            if not ended and not future.done():
                self._cancel.set()
                with contextlib.suppress(Exception):
                    await asyncio.shield(future)

    async def result(self) -> R:
        """The work's return value, once `items()` has ended."""
        if self._future is None:
            raise RuntimeError("result() before items(): nothing has run")
        return await self._future


async def merge(
    streams: Sequence[AsyncIterator[T]], on_abandon: Callable[[], None] | None = None
) -> AsyncGenerator[tuple[int, T], None]:
    """Every stream at once, as (index, item) in arrival order.

    Each stream runs as its own task; one that raises ends the merge with that error
    (wrap a stream to turn its failures into items when the others should go on). A
    consumer that leaves early calls `on_abandon` (e.g. set a cancel event) and the
    streams get up to 10 s to finish cleanly before they are cancelled.
    """
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    failure: list[BaseException] = []

    async def pump(index: int, stream: AsyncIterator[T]) -> None:
        try:
            async for item in stream:
                queue.put_nowait((index, item))
        except Exception as exc:  # noqa: BLE001 - re-raised by the merge below
            failure.append(exc)
        finally:
            queue.put_nowait((index, _END))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    running = len(tasks)
    try:
        while running:
            index, item = await queue.get()
            if item is _END:
                running -= 1
                if failure:
                    raise failure[0]
                continue
            yield index, item
    finally:
        if running and on_abandon is not None:
            on_abandon()
        for task in tasks:
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), 10)
                except (TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
                    task.cancel()


class Started(Generic[T]):
    """`events` with its first step already running: what it does before its first event
    (a chat reply: save the message, start the model on the prompt) overlaps whatever
    the caller does meanwhile (a screen mounting the reply's views), instead of waiting
    for the first `anext`. Close it (or read it to the end) like the generator itself."""

    def __init__(self, events: AsyncGenerator[T, None]) -> None:
        self._events = events
        self._first: asyncio.Future[Any] | None = asyncio.ensure_future(anext(events, _END))

    def __aiter__(self) -> Started[T]:
        return self

    async def __anext__(self) -> T:
        if self._first is None:
            return await anext(self._events)
        first, self._first = self._first, None
        item = await first
        if item is _END:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        first, self._first = self._first, None
        if first is not None and not first.done():
            first.cancel()  # the generator's own cleanup runs on the CancelledError
            with contextlib.suppress(BaseException):
                await first
        await self._events.aclose()
