"""App-wide behaviour: the screen keys work from any focused widget; notifications
show outside text literally."""

from __future__ import annotations

from textual.widgets import Input

from tests.screens.conftest import SIZE, wait_until


async def test_screen_keys_work_while_typing(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.current_mode == "chat")
        app.screen.query_one("#prompt").focus()
        # The prompt box binds F7 itself (select all); the app's keys come first.
        for key, mode in (("f7", "settings"), ("f3", "studio"), ("f4", "gpu"),
                          ("f2", "models"), ("f1", "chat")):  # fmt: skip
            await pilot.press(key)
            await wait_until(pilot, lambda mode=mode: app.current_mode == mode)
            focused = app.focused
            if mode == "studio":
                assert isinstance(focused, Input)  # typing a prompt, F-keys still move


async def test_notifications_are_plain_text(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        # Text from a server or a file: "[/bold]" alone would be a markup error.
        app.notify("HTTP 500: [/bold] closing tag [red]x[/red]", title="Server")
        app.screen.notify("[link=evil]y")
        await pilot.pause(0.2)
        shown = " ".join(str(toast.render()) for toast in app.screen.query("Toast"))
        assert "HTTP 500: [/bold] closing tag [red]x[/red]" in shown
        assert "[link=evil]y" in shown
        assert app.is_running


async def test_an_unexpected_failure_mid_reply_is_reported_logged_and_the_chat_goes_on(
    make_app, settings
) -> None:
    """Not a GenaiError: a store failure while the reply is being saved. The user sees
    what failed, the traceback is in the log file, and the next message works."""
    from tests.screens.conftest import send, wait_idle
    from tests.screens.test_chat import views

    app = make_app(generation=settings.generation.model_copy(update={"max_tokens": 8}))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        store = app.engine.store
        real_add = store.add_message
        failures = []

        def add_message(conv_id, role, content, **fields):
            if role == "assistant" and not failures:
                failures.append(role)
                raise RuntimeError("disk on fire")
            return real_add(conv_id, role, content, **fields)

        store.add_message = add_message
        await send(pilot, app, "Say hi.")
        await wait_idle(pilot, app)
        await wait_until(pilot, lambda: any("disk on fire" in n.message
                                            for n in app._notifications))  # fmt: skip
        shown = next(n.message for n in app._notifications if "disk on fire" in n.message)
        log = settings.log_path
        assert "RuntimeError: disk on fire" in shown and str(log) in shown
        assert "RuntimeError: disk on fire" in log.read_text()
        assert "Traceback" in log.read_text()
        assert log.stat().st_mode & 0o777 == 0o600  # a traceback may quote your chat
        assert "error" in str(app.screen.query_one("#status").render())
        # The screen is usable: the next message streams and is saved.
        await send(pilot, app, "Say hello.")
        await wait_idle(pilot, app)
        assert len(views(app, "assistant")) == 2
        conv = store.conversations()[0]
        assert [m.role for m in store.messages(conv.id)][-1] == "assistant"
        assert app.is_running
