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
