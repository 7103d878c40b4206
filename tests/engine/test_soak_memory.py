"""A long session holds nothing per reply in the engine (issue 17).

Real SmolLM2 replies through `Engine.chat`, several chats; then the garbage collector
is asked what is still alive: no reply's stream, thread bridge or task, and the same
threads and file descriptors as after the first reply. Counted, not timed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import types
from pathlib import Path

import pytest

from genai_tui.engine.core.bridge import ThreadStream
from genai_tui.engine.core.events import ChatDone, ChatStats
from genai_tui.engine.engine import Engine

from .test_engine import MODEL_NAME, make_engine


@pytest.fixture
def engine(smollm_file: Path, tmp_path: Path):
    eng = make_engine(tmp_path, smollm_file, max_tokens=8)
    asyncio.run(eng.load_model(MODEL_NAME))
    yield eng
    asyncio.run(eng.aclose())


async def reply(engine: Engine, conv_id: int, text: str) -> ChatDone:
    events = [event async for event in engine.chat(conv_id, text)]
    assert isinstance(events[-1], ChatDone)
    return events[-1]


def live(kind: type) -> list:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, kind)]


def live_generators(*names: str) -> list:
    gc.collect()
    return [o for o in gc.get_objects()
            if isinstance(o, types.AsyncGeneratorType) and o.__name__ in names]  # fmt: skip


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts fds in /proc")
async def test_replies_leave_nothing_behind(engine: Engine) -> None:
    conv = engine.new_conversation(MODEL_NAME)
    await reply(engine, conv.id, "Hello.")
    threads, files = threading.active_count(), fds()
    tasks = len(asyncio.all_tasks())
    for chat in range(3):
        conv = engine.new_conversation(MODEL_NAME)
        for turn in range(2):
            done = await reply(engine, conv.id, f"Name a colour ({chat}, {turn}).")
            assert done.message_id is not None
    del done
    for _ in range(3):
        await asyncio.sleep(0)  # the loop runs the callbacks the last reply scheduled
    assert live_generators("chat_turn", "model_reply", "stream", "items", "chat") == []
    assert live(ThreadStream) == []
    assert live(ChatStats) == []
    assert len(asyncio.all_tasks()) == tasks
    assert (threading.active_count(), fds()) == (threads, files)
    assert not engine.generating
