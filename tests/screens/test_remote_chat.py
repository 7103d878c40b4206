"""Chatting with a remote provider's model from the chat screen (loopback fault server)."""

from __future__ import annotations

import pytest
from openai_faults import REPLY, FaultServer
from textual.widgets import OptionList

from genai_tui.config import ProviderSettings
from genai_tui.screens.dialogs import ModelPicker
from genai_tui.widgets.message_view import MessageView

from .conftest import SIZE, send, wait_idle, wait_until

KEY = "sk-test-SECRET-screen-31337"


@pytest.fixture
def servers():
    with FaultServer(key=KEY) as good, FaultServer() as bad:
        bad.models_behaviour = "503"
        yield good, bad


@pytest.fixture
def remote_app(make_app, servers):
    good, bad = servers
    return make_app(providers=[
        ProviderSettings(name="faulty", base_url=good.url, api_key=KEY, price_out=5.0),
        ProviderSettings(name="down", base_url=bad.url),
    ])  # fmt: skip


def option_texts(picker) -> list[str]:
    options = picker.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def pick_remote(pilot, app, model: str = "fault-model") -> None:
    await pilot.press("ctrl+o")
    picker = app.screen
    assert isinstance(picker, ModelPicker)
    await wait_until(pilot, lambda: picker.listings is not None, timeout=10)
    options = picker.query_one(OptionList)
    options.focus()
    options.highlighted = next(
        i for i in range(options.option_count)
        if options.get_option_at_index(i).id == f"remote:{[m.id for m in picker.remote].index(model)}"
    )  # fmt: skip
    await pilot.press("enter")
    await pilot.pause()


async def test_picker_groups_local_and_remote_models_and_shows_a_failing_provider(remote_app):
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        picker = app.screen
        await wait_until(pilot, lambda: picker.listings is not None, timeout=10)
        texts = option_texts(picker)
        assert texts[0] == "On this machine (GGUF)"
        assert any("SmolLM2" in t for t in texts)
        at = texts.index("faulty (remote)")
        assert "fault-model" in texts[at + 1] and "other-model" in texts[at + 2]
        down = texts.index("down (remote)")
        assert "HTTP 503" in texts[down + 1] and "✗" in texts[down + 1]
        await pilot.press("escape")
        assert not isinstance(app.screen, ModelPicker)


async def test_chat_with_a_remote_model_streams_and_remembers_the_provider(remote_app, servers):
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        assert "faulty/fault-model" in str(app.screen.query_one("#status").render())
        await send(pilot, app, "Hello remote")
        await wait_idle(pilot, app)
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        assert reply.text == REPLY
        conv = app.engine.store.conversations()[0]
        assert (conv.provider, conv.model) == ("faulty", "fault-model")
        saved = app.engine.store.messages(conv.id)[-1]
        assert saved.provider == "faulty" and saved.cost == pytest.approx(6 * 5.0 / 1e6)
        assert app.engine.model is None  # the local model was never loaded
        status = str(app.screen.query_one("#status").render())
        assert "faulty/fault-model" in status and "6 tokens" in status
        assert "$0.000030" in str(reply.query_one("#meta").render())
        # Reopening the app's newest chat brings back its provider.
        await pilot.press("ctrl+n")
        await send(pilot, app, "Second chat")
        await wait_idle(pilot, app)
        assert app.engine.store.conversations()[0].provider == "faulty"


async def test_broken_stream_and_auth_failure_keep_the_chat_alive(remote_app, servers):
    good, _ = servers
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        good.script = ["break"]
        await send(pilot, app, "First")
        await wait_idle(pilot, app)
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        assert reply.text == "Partial reply " and reply.has_class("stopped")
        notes = [str(n.message) for n in app._notifications]
        assert any("broke off mid-reply" in n for n in notes)
        good.script = ["401"]
        await send(pilot, app, "Second")
        await wait_idle(pilot, app)
        notes = [str(n.message) for n in app._notifications]
        assert any("HTTP 401" in n for n in notes) and not any(KEY in n for n in notes)
        await send(pilot, app, "Third")
        await wait_idle(pilot, app)
        conv = app.engine.store.conversations()[0]
        contents = [m.content for m in app.engine.store.messages(conv.id)]
        assert contents == ["First", "Partial reply ", "Second", "Third", REPLY]


async def test_server_text_is_shown_as_data_not_markup(remote_app, servers):
    good, _ = servers
    good.default = "echo"
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        await send(pilot, app, "[bold red]boom[/] \x1b[31mred")
        await wait_idle(pilot, app)
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        assert "[bold red]boom[/]" in reply.shown and "\x1b" not in reply.shown


async def test_esc_stops_a_remote_reply_and_keeps_it(remote_app, servers):
    good, _ = servers
    good.default = "slow"
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        await send(pilot, app, "Talk a lot")
        await wait_until(pilot, lambda: any(v.role == "assistant" and len(v.text) > 30
                                             for v in app.screen.query(MessageView)), 10)  # fmt: skip
        await pilot.press("escape")
        await wait_idle(pilot, app, timeout=10)
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        assert reply.has_class("stopped")
        saved = app.engine.store.messages(app.engine.store.conversations()[0].id)[-1]
        assert saved.stopped and saved.finish_reason == "cancelled"
        assert saved.content == reply.text and saved.completion_tokens < 400


MARKUP = "[/bold] [link=http://x]click[/link] [red"


async def test_markup_in_server_errors_is_shown_as_text(remote_app, servers):
    good, _ = servers
    good.error_text = MARKUP
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        good.script = ["500", "500", "500", "500"]
        await send(pilot, app, "Hi")
        await wait_idle(pilot, app, timeout=20)
        shown = [n for n in app._notifications if MARKUP in str(n.message)]
        assert shown and not any(n.markup for n in shown)  # a Toast would parse it: MarkupError
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        assert MARKUP in str(reply.query_one(".error-text").render())
        good.models_behaviour = "403"
        await pilot.press("f7")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "SettingsScreen", 5)
        await pilot.press("t")
        await wait_until(pilot, lambda: any("HTTP 403" in str(n.message) for n in app._notifications), 10)
        tested = [n for n in app._notifications if "HTTP 403" in str(n.message)]
        assert MARKUP in str(tested[0].message) and not tested[0].markup


async def test_without_any_local_model_a_remote_one_is_enough(make_settings, servers, monkeypatch):
    from genai_tui.app import GenaiApp
    from genai_tui.engine.models import inventory

    monkeypatch.setattr(inventory, "DEMO_PACKAGE", "no_such_demo_package")
    good, _ = servers
    app = GenaiApp(make_settings(providers=[
        ProviderSettings(name="faulty", base_url=good.url, api_key=KEY)]))  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pick_remote(pilot, app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "No GGUF chat model found" not in str(app.screen.query_one("#empty").render())
        await send(pilot, app, "Hi")
        await wait_idle(pilot, app)
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        assert reply.text == REPLY


@pytest.mark.parametrize(("fault", "shown"), [
    ("malformed", "not an OpenAI-style chat chunk"),
    ("429:120", "It asks to wait 120 s"),
    ("403", "HTTP 403"),
    ("json", None),  # not a fault: a server that ignores stream=true still answers
])  # fmt: skip
async def test_each_failure_is_shown_and_the_next_message_works(remote_app, servers, fault, shown):
    good, _ = servers
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        good.script = [fault]
        await send(pilot, app, "First")
        await wait_idle(pilot, app, timeout=20)
        notes = [str(n.message) for n in app._notifications]
        if shown:
            assert any(shown in n for n in notes), notes
        else:
            assert not notes[1:]  # only "Replies now come from ..."
        await send(pilot, app, "Second")
        await wait_idle(pilot, app)
        replies = [v for v in app.screen.query(MessageView) if v.role == "assistant"]
        assert replies[-1].text == REPLY and not replies[-1].has_class("stopped")
        conv = app.engine.store.conversations()[0]
        assert [m.content for m in app.engine.store.messages(conv.id) if m.role == "user"] == [
            "First", "Second"]  # fmt: skip


async def test_the_first_token_is_on_screen_without_waiting_for_the_flush_tick(
    remote_app, servers, monkeypatch
):
    """Streamed text reaches the screen on a timer; the first token (and the first after
    a pause) is shown at once. With the timer at 60 s, the first word still shows."""
    monkeypatch.setattr("genai_tui.screens.chat.FLUSH_INTERVAL_S", 60.0)
    good, _ = servers
    good.default = "slow"  # a word every 50 ms
    app = remote_app
    async with app.run_test(size=SIZE) as pilot:
        await pick_remote(pilot, app)
        await send(pilot, app, "Hello")
        reply = lambda: list(app.screen.query(MessageView))[-1]  # noqa: E731
        await wait_until(pilot, lambda: "word0" in reply().query_one("#body").source, 10)
        assert app.engine.generating  # shown while the reply is still streaming
        await pilot.press("escape")
        await wait_idle(pilot, app)
