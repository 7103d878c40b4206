"""Branches in the chat screen with the real SmolLM2 GGUF: select a message, edit an
earlier one, step between branches, regenerate keeps the old reply; after a restart."""

from __future__ import annotations

from genai_tui.widgets.chat_message import ChatMessage

from .conftest import SIZE, send, wait_idle, wait_until
from .test_chat import screen_text, views


def shown(app) -> list[tuple[str, str]]:
    return [(v.role, v.text) for v in views(app)]


def markers(app) -> list[tuple[int, int] | None]:
    return [v.branch for v in app.screen.query(ChatMessage)]


async def test_edit_an_earlier_message_step_back_and_restart(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "My cat is called Tom.")
        await wait_idle(pilot, app)
        await send(pilot, app, "What colour is the sky?")
        await wait_idle(pilot, app)
        before = shown(app)
        assert len(before) == 4

        await pilot.press("alt+up")  # the last message is selected
        assert app.focused is views(app)[-1]
        await pilot.press("up", "up", "up")
        assert app.focused is views(app)[0]
        await pilot.press("e")
        prompt = app.screen.query_one("#prompt")
        assert prompt.text == "My cat is called Tom." and app.focused is prompt
        prompt.text = "My dog is called Rex."
        await pilot.press("enter")
        await wait_idle(pilot, app)
        assert [t for _, t in shown(app)][0] == "My dog is called Rex."
        assert len(views(app)) == 2
        assert markers(app) == [(2, 2), None]
        assert "‹ 2/2 ›" in screen_text(app)

        # Back to the first branch: it is shown whole, as it was.
        await pilot.press("alt+up", "up", "left")
        await wait_until(pilot, lambda: len(views(app)) == 4)
        assert shown(app) == before
        assert markers(app) == [(1, 2), None, None, None]
        assert app.focused is views(app)[0]  # still selected, for the next step
        conv = app.engine.conversations()[0].id
        assert [m.content for m in app.engine.messages(conv)][::2] == [
            "My cat is called Tom.", "What colour is the sky?"]  # fmt: skip

    # A restart: the branch last shown comes back, and the other is a step away.
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(views(again)) == 4)
        assert shown(again) == before
        assert markers(again) == [(1, 2), None, None, None]
        await pilot.press("alt+right")  # from the prompt: the last place the chat branches
        await wait_until(pilot, lambda: len(views(again)) == 2)
        assert views(again)[0].text == "My dog is called Rex."
        assert again.focused is again.screen.query_one("#prompt")


async def test_regenerate_keeps_the_old_reply_and_the_chat_goes_on_from_the_shown_one(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "Name a fruit.")
        await wait_idle(pilot, app)
        conv = app.engine.conversations()[0].id
        first = app.engine.messages(conv)[-1]
        app.engine.sampling.set(conv, {"temperature": 1.0, "seed": 7})
        await pilot.press("ctrl+r")
        await wait_idle(pilot, app)
        assert len(views(app)) == 2 and markers(app) == [None, (2, 2)]
        second = app.engine.messages(conv)[-1]
        assert second.id != first.id and views(app)[1].text == second.content

        await pilot.press("alt+left")
        await wait_until(pilot, lambda: views(app)[1].message_id == first.id)
        assert views(app)[1].text == first.content and markers(app) == [None, (1, 2)]

        await send(pilot, app, "Another one?")
        await wait_idle(pilot, app)
        path = app.engine.messages(conv)
        assert [m.id for m in path[:2]] == [path[0].id, first.id]  # goes on from the shown one
        assert path[2].parent_id == first.id

        # r on a selected earlier reply: a third reply there; what followed it leaves.
        await pilot.press("alt+up", "up", "up", "r")
        await wait_idle(pilot, app)
        assert len(views(app)) == 2 and markers(app) == [None, (3, 3)]
        assert app.engine.messages(conv)[-1].id == views(app)[1].message_id


async def test_a_message_just_sent_can_be_edited_at_once(make_app):
    """The views of a message just sent learn their saved ids when the reply ends, so
    `e` on it works without reopening the chat; Esc leaves the selection."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "Hello there.")
        await wait_idle(pilot, app)
        assert all(v.message_id is not None for v in views(app))
        await pilot.press("alt+up", "up", "enter")
        prompt = app.screen.query_one("#prompt")
        assert prompt.text == "Hello there." and app.screen.editing
        await pilot.press("escape")  # cancels the edit
        assert not app.screen.editing
        await pilot.press("alt+up", "r")  # regenerate the reply selected
        await wait_idle(pilot, app)
        assert markers(app) == [None, (2, 2)]
