"""Settings (F7): providers added, edited, tested, removed and discovered; the usage tab."""

from __future__ import annotations

import stat
import tomllib

import pytest
from openai_faults import FaultServer
from textual.widgets import DataTable, Input, Sparkline

from genai_tui.screens.dialogs import ConfirmDialog
from genai_tui.screens.settings import SettingsScreen
from genai_tui.widgets.provider_form import ProviderForm

from .conftest import wait_until

KEY = "sk-test-SECRET-form-555"


@pytest.fixture
def server():
    with FaultServer(key=KEY) as s:
        yield s


def config(tmp_path) -> dict:
    return tomllib.loads((tmp_path / "config.toml").read_text())


def rows(app) -> list[list[str]]:
    table = app.screen.query_one("#provider-table", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def fill_form(pilot, app, **values) -> None:
    form = app.screen
    assert isinstance(form, ProviderForm)
    for key, value in values.items():
        form.query_one(f"#{key}", Input).value = value
    await pilot.press("ctrl+s")
    await pilot.pause()


async def test_add_test_edit_and_remove_a_provider(make_app, server, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f7")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 5)
        assert isinstance(app.screen, SettingsScreen)
        assert "No providers yet" in str(app.screen.query_one("#provider-note").render())
        await pilot.press("a")
        await fill_form(pilot, app, name="lab", base_url="not a url")
        assert isinstance(app.screen, ProviderForm)  # kept open, saying why
        assert "http://" in str(app.screen.query_one("#form-error").render())
        await fill_form(pilot, app, base_url=server.url, api_key=KEY, price_out="2.5")
        assert isinstance(app.screen, SettingsScreen)
        await wait_until(pilot, lambda: "✓ 2 models" in rows(app)[0][-1], timeout=10)
        saved = config(tmp_path)["providers"]
        assert saved == [{"name": "lab", "base_url": server.url, "api_key": KEY, "price_out": 2.5}]
        assert stat.S_IMODE((tmp_path / "config.toml").stat().st_mode) == 0o600
        assert rows(app)[0][2] == "in config" and KEY not in " ".join(rows(app)[0])

        await pilot.press("e")
        await fill_form(pilot, app, api_key="", api_key_env="LAB_KEY")
        await wait_until(pilot, lambda: "✗" in rows(app)[0][-1], timeout=10)
        assert any("HTTP 401" in n for n in notes(app))
        assert config(tmp_path)["providers"][0].get("api_key") is None
        assert rows(app)[0][2] == "$LAB_KEY"

        await pilot.press("x")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await pilot.pause()
        assert rows(app) == [] and config(tmp_path)["providers"] == []
        assert not any(KEY in n for n in notes(app))


async def test_discover_offers_a_local_server_and_adds_it_when_accepted(make_app, monkeypatch):
    with FaultServer() as local:
        monkeypatch.setattr(SettingsScreen, "discovery_ports", {local.port: "llama.cpp server"})
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f7")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 5)
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=10)
            assert local.url in str(app.screen.question) and "2 models" in app.screen.question
            await pilot.press("y")
            await wait_until(pilot, lambda: bool(rows(app)), timeout=10)
            assert rows(app)[0][:2] == ["llama-cpp-server", local.url]
            # Found again: already added, nothing offered.
            await pilot.press("d")
            await wait_until(pilot, lambda: any("already added" in n for n in notes(app)), 10)


async def test_usage_tab_shows_totals_models_and_the_plot(make_app):
    app = make_app()
    store = app.engine.store
    conv = store.create_conversation().id
    store.add_message(conv, "assistant", "a", model="smol", prompt_tokens=10, completion_tokens=30,
                      tokens_per_s=40.0, ttft_s=0.1)  # fmt: skip
    store.add_message(conv, "assistant", "b", model="[red]gpt[/]", provider="cloud",
                      prompt_tokens=100, completion_tokens=60, cost=0.25)  # fmt: skip
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f7")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 5)
        await pilot.press("u")
        await pilot.pause()
        view = app.screen.query_one("#usage-view")
        totals = str(view.query_one("#usage-totals").render())
        assert "2 replies" in totals and "200 tokens" in totals and "$0.2500" in totals
        table = view.query_one("#usage-models", DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[:2] == ["[red]gpt[/]", "cloud"] and first[5] == "$0.2500"
        assert view.query_one(Sparkline).data[-1] == 200.0


async def test_a_visit_probes_nothing_and_d_says_what_answered_unverified(
    make_app, monkeypatch
):
    """On a shared box a well-known port may be anyone's server: no probe on a visit."""
    with FaultServer(models=["m\x1b]2;pwned\x07"]) as local:
        monkeypatch.setattr(SettingsScreen, "discovery_ports", {local.port: "vLLM"})
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f7")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), 5)
            await pilot.pause(1.0)
            assert local.requests == []
            assert "d to look for local servers" in str(app.screen.query_one("#provider-note").render())
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=10)
            question = app.screen.question
            assert local.url in question and "the port vLLM uses" in question
            assert "Unverified" in question and "m␛]2;pwned␇" in question
            await pilot.press("n")
            await pilot.pause()
            assert app.engine.settings.providers == []  # nothing added without a yes
