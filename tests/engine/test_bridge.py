"""core/bridge: a worker thread's output as an async stream, and streams merged."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from genai_tui.engine.core.bridge import ThreadStream, merge


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown(wait=True)


async def test_items_arrive_in_order_then_the_result(executor) -> None:
    def work(emit):
        for i in range(5):
            emit(i)
        return "done"

    stream = ThreadStream(executor, work, threading.Event())
    assert [i async for i in stream.items()] == [0, 1, 2, 3, 4]
    assert await stream.result() == "done"


async def test_a_failing_worker_ends_the_stream_and_raises_from_result(executor) -> None:
    def work(emit):
        emit("partial")
        raise ValueError("boom")

    stream = ThreadStream(executor, work, threading.Event())
    assert [i async for i in stream.items()] == ["partial"]
    with pytest.raises(ValueError, match="boom"):
        await stream.result()


async def test_leaving_early_cancels_the_worker_and_waits_for_it(executor) -> None:
    cancel = threading.Event()
    finished = threading.Event()

    def work(emit):
        try:
            while not cancel.is_set():
                emit("tick")
                time.sleep(0.005)
        finally:
            finished.set()

    items = ThreadStream(executor, work, cancel).items()
    assert await items.__anext__() == "tick"
    await items.aclose()
    # The worker saw the cancel and ended before aclose returned: no thread left running.
    assert cancel.is_set() and finished.is_set()


async def test_merge_interleaves_streams_and_tags_each_item() -> None:
    async def slow(name: str, delay: float):
        for i in range(3):
            await asyncio.sleep(delay)
            yield f"{name}{i}"

    got = [pair async for pair in merge([slow("a", 0.01), slow("b", 0.015)])]
    assert sorted(got) == sorted([(0, "a0"), (0, "a1"), (0, "a2"), (1, "b0"), (1, "b1"), (1, "b2")])
    assert got.index((0, "a0")) < got.index((1, "b2"))  # not one stream after the other


async def test_leaving_a_merge_early_calls_on_abandon_and_ends_the_streams() -> None:
    stop = asyncio.Event()
    ended: list[int] = []

    async def until_stopped(i: int):
        try:
            while not stop.is_set():
                yield i
                await asyncio.sleep(0.01)
        finally:
            ended.append(i)

    merged = merge([until_stopped(0), until_stopped(1)], on_abandon=stop.set)
    await merged.__anext__()
    await merged.aclose()
    assert stop.is_set() and sorted(ended) == [0, 1]


async def test_started_runs_the_first_step_before_anyone_reads() -> None:
    """A screen mounts its views while the reply's first step (save, start the model)
    already runs; the events arrive complete and in order."""
    from genai_tui.engine.core.bridge import Started

    steps: list[str] = []

    async def reply():
        steps.append("saved")
        yield "token 1"
        yield "token 2"

    events = Started(reply())
    await asyncio.sleep(0)  # the caller mounts something meanwhile
    assert steps == ["saved"]
    assert [e async for e in events] == ["token 1", "token 2"]


async def test_started_closed_unread_runs_the_generators_cleanup() -> None:
    from genai_tui.engine.core.bridge import Started

    cleaned = asyncio.Event()
    entered = asyncio.Event()

    async def reply():
        try:
            entered.set()
            await asyncio.sleep(30)  # the model thinking
            yield "never"
        finally:
            cleaned.set()

    events = Started(reply())
    await entered.wait()
    await events.aclose()
    assert cleaned.is_set()
    empty = Started(reply())
    await empty.aclose()  # closed before its first step ran: nothing left running
    assert not [t for t in asyncio.all_tasks() if "anext" in repr(t)]
