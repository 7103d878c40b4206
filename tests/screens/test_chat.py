"""Pilot tests of the chat flow with the real SmolLM2 GGUF model."""

from __future__ import annotations

import json

from textual.widgets import OptionList

from genai_tui.screens.chat import ChatScreen
from genai_tui.widgets.message_view import MessageView

from .conftest import SIZE, send, wait_idle, wait_until


def views(app, role: str | None = None) -> list[MessageView]:
    return [v for v in app.screen.query(MessageView) if role is None or v.role == role]


def screen_text(app) -> str:
    """The characters drawn on the terminal, line by line."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def body_text(view: MessageView) -> str:
    return view.shown


async def test_send_streams_reply_and_saves_it(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ChatScreen)
        await send(pilot, app, "Name three colors.")
        await wait_idle(pilot, app)
        user, reply = views(app)
        assert user.role == "user" and body_text(user) == "Name three colors."
        assert reply.role == "assistant" and body_text(reply).strip()
        status = str(app.screen.query_one("#status").render())
        assert "tok/s" in status and "TTFT" in status and "ctx " in status
        conv = app.engine.store.conversations()[0]
        assert conv.title == "Name three colors."
        saved = app.engine.store.messages(conv.id)
        assert [m.role for m in saved] == ["user", "assistant"]
        assert saved[1].content == reply.text and saved[1].completion_tokens > 0
        assert app.screen.query_one("#prompt").text == ""


async def test_ctrl_j_inserts_a_newline_that_the_message_keeps(make_app):
    app = make_app(generation=app_generation(max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"first", "ctrl+j", *"second")
        assert app.screen.query_one("#prompt").text == "first\nsecond"
        await pilot.press("enter")
        await wait_idle(pilot, app)
        assert body_text(views(app, "user")[0]) == "first\nsecond"
        pane = [line[28:].strip(" ▕█▌") for line in screen_text(app).splitlines()]
        at = pane.index("first")
        assert pane[at + 1] == "second"


async def test_stop_mid_reply_keeps_partial_text_and_model_stays_usable(make_app):
    app = make_app(generation=app_generation(max_tokens=600))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "Write a long story about a dragon and a knight.")
        await wait_until(pilot, lambda: len(views(app, "assistant")) == 1
                         and len(views(app, "assistant")[0].text) > 20)  # fmt: skip
        await pilot.press("escape")
        await wait_idle(pilot, app)
        reply = views(app, "assistant")[0]
        assert reply.has_class("stopped")
        conv = app.engine.store.conversations()[0]
        saved = app.engine.store.messages(conv.id)[-1]
        assert saved.stopped and saved.finish_reason == "cancelled"
        assert saved.content == reply.text and saved.completion_tokens < 600
        # The model is still loaded and answers the next message.
        await send(pilot, app, "Say hello.")
        await wait_idle(pilot, app)
        assert len(views(app, "assistant")) == 2
        assert not views(app, "assistant")[1].has_class("stopped")
        assert views(app, "assistant")[1].text


def app_generation(**changes):
    base = {"temperature": 0.0, "max_tokens": 48, "context_length": 2048, "seed": 1}
    from genai_tui.config import GenerationSettings

    return GenerationSettings(**(base | changes))


async def test_regenerate_replaces_the_last_reply(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "Tell me a fact about the moon.")
        await wait_idle(pilot, app)
        conv = app.engine.store.conversations()[0]
        first = app.engine.store.messages(conv.id)[-1]
        await pilot.press("ctrl+r")
        await wait_idle(pilot, app)
        saved = app.engine.store.messages(conv.id)
        assert [m.role for m in saved] == ["user", "assistant"]
        assert saved[-1].created_at > first.created_at
        assert len(views(app, "assistant")) == 1 and views(app, "assistant")[0].text


async def test_edit_last_message_and_resend(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "What is the capital of Frnace?")
        await wait_idle(pilot, app)
        await pilot.press("ctrl+g")
        prompt = app.screen.query_one("#prompt")
        assert prompt.text == "What is the capital of Frnace?"
        prompt.text = "What is the capital of France?"
        await pilot.press("enter")
        await wait_idle(pilot, app)
        conv = app.engine.store.conversations()[0]
        saved = app.engine.store.messages(conv.id)
        assert [(m.role, m.content) for m in saved][0] == ("user", "What is the capital of France?")
        assert len(saved) == 2
        assert [body_text(v) for v in views(app, "user")] == ["What is the capital of France?"]


async def test_switch_conversation_and_history_survives_restart(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "First chat: say one word.")
        await wait_idle(pilot, app)
        await pilot.press("ctrl+n")
        assert views(app) == []
        await send(pilot, app, "Second chat: say two words.")
        await wait_idle(pilot, app)
        titles = [c.title for c in app.engine.store.conversations()]
        assert titles == ["Second chat: say two words.", "First chat: say one word."]
        options = app.screen.query_one("#chat-options", OptionList)
        options.focus()
        options.highlighted = 1
        await pilot.press("enter")
        await pilot.pause()
        assert body_text(views(app, "user")[0]) == "First chat: say one word."
        first_reply = views(app, "assistant")[0].text

    # A new app on the same data dir finds the history intact.
    app2 = make_app()
    async with app2.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [c.title for c in app2.engine.store.conversations()] == titles
        # It opens on the most recent chat.
        assert [body_text(v) for v in views(app2, "user")] == ["Second chat: say two words."]
        options = app2.screen.query_one("#chat-options", OptionList)
        assert options.option_count == 2
        conv = next(c for c in app2.engine.store.conversations() if c.title.startswith("First"))
        assert app2.engine.store.messages(conv.id)[1].content == first_reply


async def test_export_writes_markdown_and_json(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "Say hi.")
        await wait_idle(pilot, app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        exports = sorted(app.engine.settings.exports_dir.iterdir())
        assert [p.suffix for p in exports] == [".json", ".md"]
        md = exports[1].read_text()
        assert "## User" in md and "Say hi." in md and "## Assistant" in md
        data = json.loads(exports[0].read_text())
        assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
        assert data["messages"][1]["content"] == views(app, "assistant")[0].text


async def test_copy_reply_and_code_block_use_the_clipboard(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        conv = app.engine.new_conversation()
        store = app.engine.store
        store.add_message(conv.id, "user", "code please")
        reply = "Here:\n\n```python\nprint('hi')\n```\n\nDone."
        store.add_message(conv.id, "assistant", reply)
        await app.screen.show_conversation(conv.id)
        await pilot.press("f5")
        assert app.clipboard == reply
        await pilot.press("f6")
        assert app.clipboard == "print('hi')"


async def test_markup_and_escapes_in_text_are_shown_literally(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        conv = app.engine.new_conversation()
        store = app.engine.store
        store.add_message(conv.id, "user", "[bold red]not bold[/] \x1b[31mred?")
        store.add_message(conv.id, "assistant", "[link=http://x]click[/link] \x1b]0;pwned\x07 ok")
        await app.screen.show_conversation(conv.id)
        await pilot.pause()
        user, reply = views(app)
        shown_user = body_text(user)
        assert "[bold red]not bold[/]" in shown_user
        assert "\x1b" not in shown_user and "␛[31m" in shown_user
        shown_reply = body_text(reply)
        assert "[link=http://x]click[/link]" in shown_reply
        assert "\x1b" not in shown_reply and "\x07" not in shown_reply and "␛]0;pwned␇" in shown_reply
        # What is drawn on screen carries the literal brackets.
        drawn = screen_text(app)
        assert "[bold red]not bold[/]" in drawn and "[link=http://x]click[/link]" in drawn


async def test_streamed_markup_is_literal(make_app):
    """A reply streamed token by token with markup and escapes stays literal text."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        view = MessageView("assistant")
        await app.screen.query_one("#messages").mount(view)
        for piece in ["[bo", "ld]x[/bold] ", "\x1b[2J", "\x9b31m", " end"]:
            await view.append(piece)
        await view.finish("done")
        await pilot.pause()
        source = view.body.source
        assert source.startswith("[bold]x[/bold] ␛[2J\\x9b31m end")
        assert view.text == "[bold]x[/bold] \x1b[2J\x9b31m end"
