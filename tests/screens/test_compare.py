"""Compare mode: one prompt to several models at once, local and remote, side by side."""

from __future__ import annotations

import threading

import pytest
from openai_faults import REPLY, FaultServer
from textual.widgets import Input, SelectionList

from genai_tui.config import ProviderSettings
from genai_tui.engine.chat.compare import CompareTarget
from genai_tui.engine.engine import Engine
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import ChatDone, TokenDelta
from genai_tui.screens.compare import CompareScreen
from genai_tui.screens.chat import ChatScreen
from genai_tui.widgets.message_view import MessageView

from .conftest import wait_until


@pytest.fixture
def server():
    with FaultServer(models=["fault-model", "other-model", "slow-model"]) as s:
        yield s


async def test_engine_compare_streams_all_and_saves_each_reply(make_settings, models_dir, server):
    settings = make_settings(
        providers=[{"name": "faulty", "base_url": server.url, "price_in": 1.0, "price_out": 2.0}],
        generation={"temperature": 0.0, "max_tokens": 12, "context_length": 1024, "seed": 1},
    )
    engine = Engine(settings)
    local = engine.chat_models()[0]
    targets = [CompareTarget(local.name, local=local), CompareTarget("fault-model", "faulty"),
               CompareTarget("no-such-model", "faulty")]  # fmt: skip
    engine.providers.get("faulty").retries = 0
    results: dict[int, list] = {0: [], 1: [], 2: []}
    async for index, event in engine.compare(targets, "Say hi.", threading.Event()):
        results[index].append(event)
    assert isinstance(results[0][-1], ChatDone) and results[0][-1].text.strip()
    assert isinstance(results[1][-1], ChatDone) and results[1][-1].text == REPLY
    assert isinstance(results[2][-1], GenaiError) and "no-such-model" in str(results[2][-1])
    assert any(isinstance(e, TokenDelta) for e in results[0])
    convs = {c.provider + "/" + c.model: c for c in engine.store.conversations()}
    remote = engine.store.messages(convs["faulty/fault-model"].id)
    assert [m.role for m in remote] == ["user", "assistant"]
    assert remote[1].cost == pytest.approx((11 * 1.0 + 6 * 2.0) / 1e6)
    assert engine.store.messages(convs["/" + local.name].id)[1].provider == ""
    await engine.aclose()


async def test_compare_screen_runs_side_by_side_and_esc_stops(make_app, server):
    app = make_app(providers=[ProviderSettings(name="faulty", base_url=server.url, price_out=1.0)])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), 5)
        screen = app.screen
        options = screen.query_one("#compare-models", SelectionList)
        local = len(app.engine.chat_models())  # the models dir's SmolLM2 and the demo's
        await wait_until(pilot, lambda: options.option_count == local + len(server.models), 10)
        labels = [t.label for t in screen.targets]
        # pick the two remote models, type the prompt and run
        options.select(labels.index("faulty/fault-model"))
        await pilot.press("ctrl+r")
        assert not screen.query(MessageView)  # only one model picked: nothing ran
        options.select(labels.index("faulty/other-model"))
        screen.query_one("#compare-prompt", Input).value = "Hello both"
        await pilot.press("ctrl+r")
        try:  # 30 s: CI's busy cores; on failure, say what the columns showed
            await wait_until(pilot, lambda: not screen.running
                             and len(screen.query(MessageView)) == 2
                             and not any("waiting" in str(s.render())
                                         for s in screen.query(".column-stats")), 30)  # fmt: skip
        except AssertionError:
            shown = [str(s.render()) for s in screen.query(".column-stats")]
            texts = [v.text for v in screen.query(MessageView)]
            raise AssertionError(f"running={screen.running} stats={shown} texts={texts}") from None
        views = list(screen.query(MessageView))
        assert [v.text for v in views] == [REPLY, REPLY]
        stats = [str(s.render()) for s in screen.query(".column-stats")]
        assert all("TTFT" in s and "tok/s" in s and "6 tokens" in s and "$0.000006" in s
                   for s in stats), stats  # fmt: skip
        heads = [str(h.render()) for h in screen.query(".column-head")]
        assert heads == ["faulty/fault-model", "faulty/other-model"]
        # a long run is stopped with Esc; what arrived is kept
        server.default = "slow"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(screen.query(MessageView)) == 2
                         and all(len(v.text) > 20 for v in screen.query(MessageView)), 10)  # fmt: skip
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.running, 10)
        assert all(v.has_class("stopped") for v in screen.query(MessageView))
        assert all("stopped" in str(s.render()) for s in screen.query(".column-stats"))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)


async def test_compare_with_one_model_available_says_what_is_missing(make_app, tmp_path):
    app = make_app(models_dir=tmp_path / "empty")  # the demo model alone
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("f10")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), 5)
        screen = app.screen
        options = screen.query_one("#compare-models", SelectionList)
        assert options.option_count == 1
        await pilot.press("space")  # the first model is highlighted: space picks it
        assert options.selected == [0]
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        said = [n.message for n in app._notifications]
        assert any("needs two models and 1 is available" in m and "F2" in m for m in said)
        assert not screen.query(MessageView) and app.is_running
