"""Who hears about downloads: listeners called on the event loop, and async event streams.

The download queue calls `Listeners.emit` on the event loop for each event:
DownloadProgress (coalesced at the source: at most ~5 a second per job, plus
one per change of state or note), DownloadFinished and DownloadFailed. A
listener is a plain callable (the TUI's App subscribes one and re-publishes
through its Signal); `EventStream` turns the same events into an
`async for` stream (the CLI's `pull`, tests).

Stdlib only: the library imports this before any download starts.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable

from genai_tui.engine.core.events import DownloadFailed, DownloadFinished, DownloadProgress

DownloadEvent = DownloadProgress | DownloadFinished | DownloadFailed
Listener = Callable[[DownloadEvent], object]

log = logging.getLogger(__name__)


class Listeners:
    """Plain callbacks, called in order on the event loop; one that raises is logged."""

    def __init__(self) -> None:
        self._items: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        """Start calling `listener(event)`; returns the function that stops it."""
        self._items.append(listener)

        def remove() -> None:
            if listener in self._items:
                self._items.remove(listener)

        return remove

    def emit(self, event: DownloadEvent) -> None:
        for listener in list(self._items):
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the queue or its other listeners
                log.exception("A download listener failed on %s", type(event).__name__)


class EventStream:
    """One consumer's `async for` view of the events; old progress is dropped if it falls
    behind. It ends when closed (`aclose()`, or the queue closing)."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._items: collections.deque[DownloadEvent] = collections.deque()
        self._maxlen = maxlen
        self._ready = asyncio.Event()
        self._closed = False
        self.on_close: Callable[[], None] = lambda: None

    def push(self, event: DownloadEvent) -> None:
        if len(self._items) >= self._maxlen:
            for i, old in enumerate(self._items):
                if isinstance(old, DownloadProgress):
                    del self._items[i]
                    break
        self._items.append(event)
        self._ready.set()

    def close(self) -> None:
        """No more events; those already here can still be read."""
        self._closed = True
        self._ready.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> DownloadEvent:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    async def aclose(self) -> None:
        self.on_close()
        self.close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
