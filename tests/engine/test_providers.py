"""Provider config written back to the TOML file, the registry, and local server discovery."""

from __future__ import annotations

import stat

import pytest
from openai_faults import FaultServer

from genai_tui.config import ProviderSettings, load_settings
from genai_tui.engine.core.errors import ConfigError
from genai_tui.engine.chat.remote import provider_key
from genai_tui.engine.chat.providers import (
    ProviderRegistry,
    discover,
    remove_provider,
    save_provider,
)

KEY = "sk-test-SECRET-7777"


def test_add_edit_remove_round_trip_through_the_config_file(make_settings, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('theme = "nord"\n\n[generation]\ntemperature = 0.2\n')
    settings = make_settings()
    path = save_provider(settings, ProviderSettings(name="vllm", base_url="http://127.0.0.1:8000/v1",
                         api_key=KEY, price_in=0.5, headers={"X-Team": "a"}))  # fmt: skip
    assert path == config
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    reread = load_settings(config)
    assert reread.theme == "nord" and reread.generation.temperature == 0.2
    (p,) = reread.providers
    assert (p.name, p.api_key, p.price_in, p.headers) == ("vllm", KEY, 0.5, {"X-Team": "a"})
    assert KEY not in repr(reread) and KEY not in repr(p)

    save_provider(settings, ProviderSettings(name="groq", base_url="https://api.groq.com/openai/v1",
                  api_key_env="GROQ_API_KEY"))  # fmt: skip
    save_provider(settings, ProviderSettings(name="local-vllm", base_url="http://127.0.0.1:8001/v1"),
                  replacing="vllm")  # fmt: skip
    assert [p.name for p in load_settings(config).providers] == ["local-vllm", "groq"]
    with pytest.raises(ConfigError, match="already exists"):
        save_provider(settings, ProviderSettings(name="groq", base_url="http://x/v1"))
    remove_provider(settings, "local-vllm")
    assert [p.name for p in load_settings(config).providers] == ["groq"]
    assert [p.name for p in settings.providers] == ["groq"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_a_broken_config_file_is_not_overwritten(make_settings, tmp_path):
    settings = make_settings()
    config = tmp_path / "config.toml"
    config.write_text("theme = [broken\n")
    with pytest.raises(ConfigError, match="could not be read"):
        save_provider(settings, ProviderSettings(name="a", base_url="http://x/v1"))
    assert config.read_text() == "theme = [broken\n"


def test_key_comes_from_the_named_env_var(monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    assert provider_key(ProviderSettings(name="a", base_url="http://x", api_key_env="MY_KEY")) == KEY
    assert provider_key(ProviderSettings(name="a", base_url="http://x", api_key_env="UNSET_X")) is None


async def test_list_all_gives_each_providers_models_or_its_error(make_settings):
    with FaultServer() as good, FaultServer() as bad:
        bad.models_behaviour = "500"
        settings = make_settings(providers=[
            {"name": "good", "base_url": good.url},
            {"name": "bad", "base_url": bad.url},
        ])  # fmt: skip
        registry = ProviderRegistry(settings)
        registry.get("bad").retries = 0
        listings = await registry.list_all()
        await registry.aclose()
    by_name = {entry.provider: entry for entry in listings}
    assert [m.id for m in by_name["good"].models] == ["fault-model", "other-model"]
    assert not by_name["bad"].models and "HTTP 500" in by_name["bad"].error


async def test_discovery_finds_servers_answering_on_loopback_ports():
    with FaultServer() as server:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        found = await discover({server.port: "Test server", closed: "Nothing"})
    assert len(found) == 1
    assert found[0].label == "Test server" and found[0].base_url == server.url
    assert found[0].models == ["fault-model", "other-model"]
