"""Pilot tests: a long chat draws its last messages, "▲ N earlier messages" shows the rest
batch by batch, and a chat grown long again is cut back after a reply (what was cut is
freed)."""

from __future__ import annotations

from genai_tui.screens.chat_history import HISTORY_WINDOW
from genai_tui.widgets.earlier_messages import EarlierMessages
from genai_tui.widgets.message_view import MessageView

from .conftest import SIZE, send, wait_idle, wait_until
from .test_soak_memory import live, orphan_style_caches

TOTAL = 2 * HISTORY_WINDOW + 10  # three batches, the last one short


def seed_long_chat(app, pairs: int = TOTAL // 2) -> tuple[int, list[int]]:
    conv = app.engine.new_conversation()
    store = app.engine.store
    ids = []
    for i in range(pairs):
        ids.append(store.add_message(conv.id, "user", f"question {i}").id)
        reply = f"answer {i}" if i else "answer 0\n\n```python\nprint('oldest code')\n```"
        ids.append(store.add_message(conv.id, "assistant", reply).id)
    return conv.id, ids


def drawn(app) -> list[str]:
    return [v.text for v in app.screen.messages.query(MessageView)]


def earlier_line(app) -> EarlierMessages | None:
    return next(iter(app.screen.messages.query(EarlierMessages)), None)


async def test_a_long_chat_opens_on_its_last_messages_and_shows_earlier_ones_on_enter(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        conv_id, _ = seed_long_chat(app)
        await app.screen.show_conversation(conv_id)
        await pilot.pause()
        assert drawn(app)[0] == f"question {(TOTAL - HISTORY_WINDOW) // 2}"
        assert len(drawn(app)) == HISTORY_WINDOW
        line = earlier_line(app)
        assert line is not None
        assert f"{TOTAL - HISTORY_WINDOW} earlier messages" in str(line.render())
        assert f"shows {HISTORY_WINDOW} more" in str(line.render())

        # Alt+↑ selects the last message; ↑ all the way up reaches the line, Enter on it
        # draws the next batch and selects the message just above the one that was first.
        await pilot.press("alt+up")
        for _ in range(HISTORY_WINDOW):
            await pilot.press("up")
        await pilot.pause()
        assert app.screen.focused is line
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(drawn(app)) == 2 * HISTORY_WINDOW)
        assert "10 earlier messages" in str(line.render())
        assert isinstance(app.screen.focused, MessageView)
        assert app.screen.focused.text == f"answer {(TOTAL - HISTORY_WINDOW) // 2 - 1}"

        # Scrolled up to it, a click on the line draws the rest; the line goes.
        app.screen.messages.scroll_home(animate=False)
        await pilot.pause()
        await pilot.click(EarlierMessages)
        await wait_until(pilot, lambda: len(drawn(app)) == TOTAL)
        assert earlier_line(app) is None
        assert drawn(app)[:2] == ["question 0", "answer 0\n\n```python\nprint('oldest code')\n```"]
        assert drawn(app)[-1] == f"answer {TOTAL // 2 - 1}"


async def test_copy_code_and_branch_selection_reach_messages_not_drawn(make_app):
    app = make_app()
    copied: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        app.copy_to_clipboard = copied.append
        conv_id, ids = seed_long_chat(app)
        await app.screen.show_conversation(conv_id)
        await pilot.pause()
        assert "question 0" not in drawn(app)
        await pilot.press("f6")
        assert copied == ["print('oldest code')"]
        # Showing the chat from an old message (as stepping to a branch there does)
        # draws it and everything after it.
        await app.screen.show_conversation(conv_id, keep=ids[2])
        await pilot.pause()
        assert drawn(app)[0] == "question 1"
        assert "2 earlier messages" in str(earlier_line(app).render())


async def test_a_chat_shown_whole_is_cut_back_after_a_reply(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        conv_id, _ = seed_long_chat(app)
        await app.screen.show_conversation(conv_id)
        for _ in range(2):
            await app.screen.show_earlier()
        await pilot.pause()
        assert len(drawn(app)) == TOTAL
        await send(pilot, app, "Say hi.")
        await wait_idle(pilot, app)
        await wait_until(pilot, lambda: len(drawn(app)) == HISTORY_WINDOW)
        texts = drawn(app)
        assert texts[-2] == "Say hi." and texts[-1]  # the new exchange is kept, drawn last
        assert f"{TOTAL + 2 - HISTORY_WINDOW} earlier messages" in str(earlier_line(app).render())
        assert app.screen.messages.children[0] is earlier_line(app)
        # What was cut is freed: the live message widgets are the ones drawn.
        await pilot.pause()
        assert {id(v) for v in live(MessageView)} == {id(v) for v in app.screen.query(MessageView)}
        assert orphan_style_caches() == 0
