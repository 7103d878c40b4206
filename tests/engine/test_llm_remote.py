"""The OpenAI-compatible client against a real loopback server that misbehaves on request."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from openai_faults import REPLY, USAGE, FaultServer

from genai_tui.config import ProviderSettings
from genai_tui.engine.engine import Engine
from genai_tui.engine.core.errors import (
    GenaiError,
    ProviderAuthError,
    ProviderError,
    ProviderModelNotFoundError,
    ProviderStreamError,
    ProviderUnavailableError,
)
from genai_tui.engine.core.events import ChatDone, ChatStats, ThinkingDelta, TokenDelta
from genai_tui.engine.chat.local import SamplingParams
from genai_tui.engine.chat.circuit import CircuitBreaker
from genai_tui.engine.chat.remote import RemoteProvider
from genai_tui.engine.chat.sse import sse_data

KEY = "sk-test-SECRET-4242-do-not-leak"
PARAMS = SamplingParams(temperature=0.0, max_tokens=32)
MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


def provider(url: str, **kw) -> RemoteProvider:
    cfg = {k: kw.pop(k) for k in ("api_key", "price_in", "price_out", "headers") if k in kw}
    kw.setdefault("backoff_s", 0.01)
    return RemoteProvider(ProviderSettings(name="testprov", base_url=url, **cfg), **kw)


async def collect(p: RemoteProvider, model: str = "fault-model", cancel=None, after=None):
    cancel = cancel or threading.Event()
    stats: list[ChatStats] = []
    pieces = []
    try:
        async for delta in p.stream_chat(model, MESSAGES, PARAMS, cancel, prompt_tokens=3):
            if isinstance(delta, ChatStats):  # the last item
                stats.append(delta)
                continue
            pieces.append(delta)
            if after is not None and len(pieces) == after:
                cancel.set()
    finally:
        await p.aclose()
    return pieces, (stats[0] if stats else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- SSE ------------------------------------------------------------------------------


async def test_sse_joins_multiline_data_skips_comments_and_stops_at_done():
    async def lines():
        for line in [": ping", "data: a", "data: b", "", "event: x", "data: c", "", "data: [DONE]", "",
                     "data: after"]:  # fmt: skip
            yield line

    assert [d async for d in sse_data(lines())] == ["a\nb", "c"]


# -- listing and streaming ---------------------------------------------------------------


async def test_lists_models_and_sends_the_key_as_bearer(server):
    server.key = KEY
    p = provider(server.url, api_key=KEY)
    models = await p.list_models()
    await p.aclose()
    assert [m.id for m in models] == ["fault-model", "other-model"]
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(p) and KEY not in repr(p.settings)


async def test_streams_reply_with_usage_from_the_final_chunk(server):
    pieces, stats = await collect(provider(server.url))
    assert "".join(d.text for d in pieces) == REPLY
    assert all(isinstance(d, TokenDelta) for d in pieces)
    assert stats.completion_tokens == USAGE["completion_tokens"]
    assert stats.prompt_tokens == USAGE["prompt_tokens"]
    assert stats.finish_reason == "stop" and stats.ttft_s is not None
    body = server.chat_requests()[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.0 and body["max_tokens"] == 32


async def test_without_usage_the_tokens_are_counted(server):
    server.default = "nousage"
    pieces, stats = await collect(provider(server.url))
    assert stats.completion_tokens == len(pieces) == len(REPLY.split(" "))
    assert stats.prompt_tokens == 3  # the caller's estimate stays


async def test_a_server_that_ignores_stream_true_still_gives_the_reply(server):
    server.default = "json"
    pieces, stats = await collect(provider(server.url))
    assert "".join(d.text for d in pieces) == REPLY and stats.completion_tokens == 6


async def test_cancel_mid_stream_stops_at_once_and_keeps_what_arrived(server):
    server.default = "slow"
    started = time.monotonic()
    pieces, stats = await collect(provider(server.url), after=5)
    assert time.monotonic() - started < 3  # 400 words at 50 ms would take 20 s
    assert len(pieces) == 5 and stats.finish_reason == "cancelled"
    assert stats.completion_tokens == 5


# -- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["401", "403"])
async def test_auth_failure_says_what_to_do_and_never_shows_the_key(server, status):
    server.default = status
    with pytest.raises(ProviderAuthError) as info:
        await collect(provider(server.url, api_key=KEY))
    text = str(info.value)
    assert f"HTTP {status}" in text and "API key" in text and KEY not in text
    assert len(server.chat_requests()) == 1  # not retried


async def test_unknown_model_names_the_model(server):
    with pytest.raises(ProviderModelNotFoundError) as info:
        await collect(provider(server.url), model="no-such-model")
    assert "no-such-model" in str(info.value) and "ctrl+o" in str(info.value)


async def test_429_waits_for_retry_after_then_succeeds(server):
    server.script = ["429:1"]
    started = time.monotonic()
    pieces, _ = await collect(provider(server.url))
    assert time.monotonic() - started >= 0.9
    assert "".join(d.text for d in pieces) == REPLY and len(server.chat_requests()) == 2


async def test_429_with_a_long_retry_after_fails_at_once_saying_how_long(server):
    server.default = "429:120"
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError) as info:
        await collect(provider(server.url))
    assert time.monotonic() - started < 2
    assert "HTTP 429" in str(info.value) and "120 s" in str(info.value)


async def test_5xx_is_retried_with_backoff_then_reported(server):
    server.script = ["503"]
    pieces, _ = await collect(provider(server.url))
    assert "".join(d.text for d in pieces) == REPLY
    server.default = "500"
    with pytest.raises(ProviderUnavailableError) as info:
        await collect(provider(server.url, retries=2))
    assert "HTTP 500" in str(info.value) and "fault 500" in str(info.value)
    assert len(server.chat_requests()) == 2 + 3


async def test_stream_breaking_mid_reply_keeps_the_partial_text(server):
    server.default = "break"
    pieces = []
    p = provider(server.url)
    with pytest.raises(ProviderStreamError) as info:
        async for delta in p.stream_chat("fault-model", MESSAGES, PARAMS, threading.Event()):
            pieces.append(delta.text)
    await p.aclose()
    assert "".join(pieces) == "Partial reply " and "broke off" in str(info.value)
    assert len(server.chat_requests()) == 1  # not retried after the first token


async def test_malformed_chunk_is_reported_with_a_sample(server):
    server.default = "malformed"
    with pytest.raises(ProviderStreamError) as info:
        await collect(provider(server.url))
    assert "not an OpenAI-style" in str(info.value) and "this is not json" in str(info.value)


async def test_connection_refused_is_retried_then_explained():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ProviderUnavailableError) as info:
        await collect(provider(url, retries=2))
    assert "connection refused" in str(info.value) and "Is the server running" in str(info.value)


async def test_dns_failure_names_the_host(no_such_host):
    with pytest.raises(ProviderUnavailableError) as info:
        await provider(f"http://{no_such_host}/v1").list_models()
    assert "Cannot resolve" in str(info.value) and no_such_host in str(info.value)


async def test_tls_to_a_plain_http_port_says_check_the_scheme(server):
    with pytest.raises(ProviderUnavailableError) as info:
        await provider(server.url.replace("http://", "https://")).list_models()
    assert "TLS" in str(info.value) and "http://" in str(info.value)


async def test_circuit_breaker_stops_calling_a_failing_server(server):
    server.default = "500"
    p = provider(server.url, retries=0)
    for _ in range(4):
        with pytest.raises(ProviderUnavailableError, match="HTTP 500"):
            await collect(p)
    with pytest.raises(ProviderUnavailableError, match="not calling it again"):
        await collect(p)
    assert len(server.chat_requests()) == 4
    server.default = "ok"
    models = await p.list_models(force=True)  # the Settings screen's test gets through
    assert models and p.breaker.failures == 0


def test_circuit_breaker_lets_one_call_through_after_the_cooldown():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, clock=lambda: now[0])
    breaker.failure()
    breaker.check("x")
    breaker.failure()
    with pytest.raises(ProviderUnavailableError):
        breaker.check("x")
    now[0] = 10.5
    breaker.check("x")


# -- through the engine -----------------------------------------------------------------


@pytest.fixture
def remote_engine(make_settings, server):
    settings = make_settings(
        providers=[{"name": "faulty", "base_url": server.url, "api_key": KEY,
                    "price_in": 2.0, "price_out": 10.0}],  # fmt: skip
        generation={"temperature": 0.0, "max_tokens": 32},
    )
    server.key = KEY
    return Engine(settings)


async def run_chat(engine: Engine, conv_id: int, text: str):
    events = []
    async for event in engine.chat(conv_id, text):
        events.append(event)
    return events


async def test_engine_chat_with_a_provider_saves_provider_usage_and_cost(remote_engine):
    engine = remote_engine
    conv = engine.new_conversation("fault-model", provider="faulty")
    events = await run_chat(engine, conv.id, "Hello?")
    done = events[-1]
    assert isinstance(done, ChatDone) and done.text == REPLY
    saved = engine.store.messages(conv.id)[-1]
    assert saved.provider == "faulty" and saved.model == "fault-model"
    assert saved.prompt_tokens == 11 and saved.completion_tokens == 6
    assert saved.cost == pytest.approx((11 * 2.0 + 6 * 10.0) / 1e6)
    assert done.cost == saved.cost  # the screen shows it without reading the store back
    assert saved.ttft_s is not None and saved.duration_s > 0
    assert engine.model is None  # no local model was loaded
    await engine.aclose()


async def test_engine_routes_reasoning_content_to_thinking(remote_engine, server):
    """Real `reasoning_content` and `reasoning` deltas on the wire, parsed as sent."""
    engine = remote_engine
    server.default = "reasoning"
    conv = engine.new_conversation("fault-model", provider="faulty")
    events = await run_chat(engine, conv.id, "Hi")
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    answer = "".join(e.text for e in events if isinstance(e, TokenDelta))
    assert thinking == "The user greets. Greet back. Keep it short." and answer == REPLY
    saved = engine.store.messages(conv.id)[-1]
    assert saved.thinking == thinking and saved.content == REPLY
    await engine.aclose()


async def test_broken_stream_keeps_partial_reply_marked_and_chat_goes_on(remote_engine, server):
    engine = remote_engine
    conv = engine.new_conversation("fault-model", provider="faulty")
    server.script = ["break"]
    with pytest.raises(ProviderStreamError):
        await run_chat(engine, conv.id, "First")
    partial = engine.store.messages(conv.id)[-1]
    assert partial.content == "Partial reply " and partial.stopped and partial.finish_reason == "error"
    assert not engine.generating
    events = await run_chat(engine, conv.id, "Second")
    assert events[-1].text == REPLY
    history = server.chat_requests()[-1]["body"]["messages"]
    assert [m["content"] for m in history] == ["First", "Partial reply ", "Second"]
    await engine.aclose()


async def test_api_key_is_absent_from_db_exports_logs_and_errors(remote_engine, server, caplog):
    caplog.set_level(logging.DEBUG)
    engine = remote_engine
    conv = engine.new_conversation("fault-model", provider="faulty")
    await run_chat(engine, conv.id, "Hello")
    server.script = ["401"]
    with pytest.raises(GenaiError) as info:
        await run_chat(engine, conv.id, "Again")
    assert KEY not in str(info.value)
    md, js = engine.export(conv.id)
    await engine.aclose()
    db = engine.settings.db_path
    blobs = [p.read_bytes() for p in [db, *db.parent.glob("*.sqlite3-*"), md, js]]
    assert all(KEY.encode() not in b for b in blobs)
    assert KEY not in caplog.text
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"


async def test_a_conversation_naming_an_unknown_provider_fails_clearly(remote_engine):
    engine = remote_engine
    conv = engine.new_conversation("m", provider="gone")
    with pytest.raises(GenaiError, match="No provider named 'gone'"):
        await run_chat(engine, conv.id, "Hi")
    assert not engine.generating
    await engine.aclose()


async def test_context_length_from_the_listing_bounds_the_history(remote_engine, server):
    server.contexts = {"fault-model": 128}
    engine = remote_engine
    await engine.providers.get("faulty").list_models()
    conv = engine.new_conversation("fault-model", provider="faulty")
    for text in ["first " * 25, "second " * 25, "third"]:
        events = await run_chat(engine, conv.id, text)
    assert events[-1].stats.context_size == 128
    sent = server.chat_requests()[-1]["body"]["messages"]
    assert sent[-1]["content"] == "third" and len(sent) < 5  # the oldest turns were left out
    await engine.aclose()


async def test_a_header_httpx_cannot_send_is_an_error_naming_the_cause(server):
    p = provider(server.url, headers={"X-Team": "naïve\u2603"}, api_key=KEY)
    with pytest.raises(ProviderError, match="could not be made") as info:
        await collect(p)
    assert "extra headers" in str(info.value) and KEY not in str(info.value)
    with pytest.raises(ProviderError, match="could not be made"):
        await provider(server.url, headers={"X-Team": "naïve\u2603"}).list_models()


async def test_a_stream_that_ends_without_finish_or_done_is_broken_not_complete(remote_engine, server):
    """The server closes the body cleanly after three chunks: no finish_reason, no [DONE].
    That is an interrupted reply: kept, marked, and an error, not a finished answer."""
    server.default = "truncated"
    engine = remote_engine
    conv = engine.new_conversation("fault-model", provider="faulty")
    with pytest.raises(ProviderStreamError) as info:
        await run_chat(engine, conv.id, "Hello?")
    assert "ended before the reply was complete" in str(info.value)
    saved = engine.store.messages(conv.id)[-1]
    assert saved.role == "assistant" and saved.content == "Three small words"
    assert saved.finish_reason == "error" and saved.stopped
    assert len(server.chat_requests()) == 1
    await engine.aclose()


async def test_a_chat_request_that_was_sent_is_not_sent_again(server):
    """The server read the request, then hung up without answering: it may be generating
    already, so repeating the POST could run it (and bill it) twice."""
    server.default = "hangup"
    with pytest.raises(ProviderUnavailableError) as info:
        await collect(provider(server.url, retries=3))
    assert len(server.chat_requests()) == 1
    assert "not repeated" in str(info.value)


async def test_a_runaway_line_is_cut_off_not_read_into_memory(server):
    server.default = "hugeline"
    with pytest.raises(ProviderStreamError) as info:
        await collect(provider(server.url))
    assert "a line of more than" in str(info.value) and "reading stopped" in str(info.value)


async def test_a_runaway_model_list_is_refused(server):
    server.models_behaviour = "huge"
    p = provider(server.url)
    with pytest.raises(ProviderError, match="model list of more than 8 MB"):
        await p.list_models(retries=0)
    await p.aclose()


async def test_a_regenerate_that_fails_keeps_the_previous_reply(remote_engine, server):
    engine = remote_engine
    conv = engine.new_conversation("fault-model", provider="faulty")
    await run_chat(engine, conv.id, "Hello?")
    server.script = ["break"]
    with pytest.raises(ProviderStreamError):
        async for _ in engine.regenerate(conv.id):
            pass
    saved = engine.store.messages(conv.id)
    assert [(m.role, m.content) for m in saved] == [("user", "Hello?"), ("assistant", REPLY)]
    # ...and one that works replaces it; the history it was asked with had no old reply.
    events = [e async for e in engine.regenerate(conv.id)]
    assert isinstance(events[-1], ChatDone)
    saved = engine.store.messages(conv.id)
    assert [m.role for m in saved] == ["user", "assistant"] and saved[-1].finish_reason == "stop"
    assert server.chat_requests()[-1]["body"]["messages"][-1] == {"role": "user", "content": "Hello?"}
    await engine.aclose()
