"""Keys and conversations stay with the provider they were configured for.

Real loopback servers: a provider that redirects elsewhere, one that echoes the
key back in its error body.
"""

from __future__ import annotations

import logging

import pytest
from openai_faults import REPLY, FaultServer

from genai_tui.config import ProviderSettings
from genai_tui.engine.chat.local import SamplingParams
from genai_tui.engine.chat.remote import RemoteProvider
from genai_tui.engine.core.errors import GenaiError, ProviderError
from genai_tui.engine.core.events import ChatDone, ChatStats
from genai_tui.engine.engine import Engine

KEY = "sk-redirect-SECRET-7311"
HEADER_KEY = "hdr-SECRET-5150"
PARAMS = SamplingParams(temperature=0.0, max_tokens=32)
MESSAGES = [{"role": "user", "content": "my private question"}]


@pytest.fixture
def servers():
    with FaultServer(key=KEY) as home, FaultServer() as elsewhere:
        yield home, elsewhere


def provider(url: str) -> RemoteProvider:
    settings = ProviderSettings(name="home", base_url=url, api_key=KEY,
                                headers={"X-Api-Key": HEADER_KEY})  # fmt: skip
    return RemoteProvider(settings, backoff_s=0.01)


async def reply(p: RemoteProvider) -> str:
    import threading

    pieces = []
    try:
        async for delta in p.stream_chat("fault-model", MESSAGES, PARAMS, threading.Event(),
                                         prompt_tokens=3):  # fmt: skip
            if not isinstance(delta, ChatStats):
                pieces.append(delta.text)
    finally:
        await p.aclose()
    return "".join(pieces)


async def test_a_chat_redirected_to_another_origin_is_not_sent_there(servers):
    home, elsewhere = servers
    home.default = f"redirect:{elsewhere.url}/chat/completions"
    with pytest.raises(ProviderError) as info:
        await reply(provider(home.url))
    assert "redirected the request to another address" in info.value.message
    assert f"127.0.0.1:{elsewhere.port}" in info.value.message
    assert "base URL" in info.value.hint
    assert elsewhere.requests == []  # neither the headers nor the conversation went
    assert len(home.chat_requests()) == 1  # refused, not retried


async def test_a_model_list_redirected_to_another_origin_is_refused(servers):
    home, elsewhere = servers
    home.models_behaviour = f"redirect:{elsewhere.url}/models"
    p = provider(home.url)
    with pytest.raises(ProviderError, match="redirected"):
        await p.list_models()
    await p.aclose()
    assert elsewhere.requests == []


async def test_a_redirect_within_the_same_server_is_followed(servers):
    home, _ = servers
    home.script = [f"redirect:{home.url}/moved/chat/completions"]
    assert await reply(provider(home.url)) == REPLY
    paths = [r["path"] for r in home.chat_requests()]
    assert paths == ["/v1/chat/completions", "/v1/moved/chat/completions"]
    assert home.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"


async def test_a_key_echoed_in_an_error_body_is_never_shown_stored_or_logged(
    servers, make_settings, caplog
):
    home, _ = servers
    caplog.set_level(logging.DEBUG)
    home.error_text = f"Invalid credentials: Authorization: Bearer {KEY} X-Api-Key: {HEADER_KEY}"
    settings = make_settings(providers=[{"name": "home", "base_url": home.url, "api_key": KEY,
                                         "headers": {"X-Api-Key": HEADER_KEY}}])  # fmt: skip
    engine = Engine(settings)
    conv = engine.new_conversation("fault-model", provider="home")
    async for event in engine.chat(conv.id, "first"):
        assert not isinstance(event, ChatDone) or event.text == REPLY
    home.script = ["403"]
    with pytest.raises(GenaiError) as info:
        async for _ in engine.chat(conv.id, "second"):
            pass
    shown = str(info.value)
    assert "Invalid credentials" in shown  # the server's words are shown...
    assert KEY not in shown and HEADER_KEY not in shown  # ...without the secrets
    md, js = engine.export(conv.id)
    await engine.aclose()
    db = settings.db_path
    for blob in [p.read_bytes() for p in [db, *db.parent.glob("*.sqlite3-*"), md, js]]:
        assert KEY.encode() not in blob and HEADER_KEY.encode() not in blob
    assert KEY not in caplog.text and HEADER_KEY not in caplog.text
