"""The remote backend against a real OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`) serving the SmolLM2 GGUF on loopback."""

from __future__ import annotations

import threading

import pytest

from genai_tui.config import ProviderSettings
from genai_tui.engine.engine import Engine
from genai_tui.engine.core.events import ChatDone, ChatStats, TokenDelta
from genai_tui.engine.chat.local import SamplingParams
from genai_tui.engine.chat.remote import RemoteProvider


@pytest.fixture
def engine(make_settings, llama_server):
    settings = make_settings(
        providers=[{"name": "llamacpp", "base_url": llama_server, "price_out": 1.0}],
        generation={"temperature": 0.0, "max_tokens": 24, "seed": 1},
    )
    return Engine(settings)


async def test_lists_the_served_model(llama_server):
    p = RemoteProvider(ProviderSettings(name="llamacpp", base_url=llama_server))
    models = await p.list_models()
    await p.aclose()
    assert [m.id for m in models] == ["smollm2"]


async def test_streams_a_chat_and_records_usage(engine):
    conv = engine.new_conversation("smollm2", provider="llamacpp")
    events = [e async for e in engine.chat(conv.id, "Name three colors.")]
    done = events[-1]
    assert isinstance(done, ChatDone) and done.text.strip()
    deltas = [e for e in events if isinstance(e, TokenDelta)]
    assert len(deltas) > 3 and "".join(d.text for d in deltas) == done.text
    saved = engine.store.messages(conv.id)[-1]
    assert saved.provider == "llamacpp" and saved.model == "smollm2"
    assert saved.content == done.text and 0 < saved.completion_tokens <= 24
    assert saved.prompt_tokens > 0 and saved.tokens_per_s and saved.ttft_s is not None
    assert saved.cost == pytest.approx(saved.completion_tokens / 1e6)
    await engine.aclose()


async def test_cancel_mid_stream_keeps_the_partial_reply(llama_server):
    p = RemoteProvider(ProviderSettings(name="llamacpp", base_url=llama_server))
    cancel = threading.Event()
    stats: list[ChatStats] = []
    pieces = []
    params = SamplingParams(temperature=0.0, max_tokens=400)
    messages = [{"role": "user", "content": "Write a long story about a dragon."}]
    async for delta in p.stream_chat("smollm2", messages, params, cancel):
        if isinstance(delta, ChatStats):
            stats.append(delta)
            continue
        pieces.append(delta.text)
        if len(pieces) == 4:
            cancel.set()
    # The server is free again at once: a short request answers quickly.
    quick = [d async for d in p.stream_chat("smollm2", messages,
             SamplingParams(temperature=0.0, max_tokens=3), threading.Event())]  # fmt: skip
    await p.aclose()
    assert len(pieces) == 4 and stats[0].finish_reason == "cancelled"
    assert stats[0].completion_tokens == 4 and stats[0].duration_s < 30
    assert quick
