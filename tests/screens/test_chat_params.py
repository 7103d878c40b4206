"""The chat's generation-settings form (screens/chat_params.py), driven with Pilot: bad
values refused in the form with the config file's message, Esc keeps the chat's settings,
presets filled in, saved and deleted, the status line's summary."""

from __future__ import annotations

from textual.widgets import Checkbox, Input, OptionList, Static

from genai_tui.screens.chat_params import ChatParamsDialog
from genai_tui.screens.dialogs import ConfirmDialog
from genai_tui.widgets.chat_status import ChatStatus

from .conftest import wait_until


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def open_form(app, pilot, conv_id: int, results: list) -> ChatParamsDialog:
    """The form over the chat, as the chat screen's key opens it (its result goes to
    `results`, and the status line is told what differs, as the chat screen does)."""

    def done(changed: bool | None) -> None:
        results.append(changed)
        if changed:
            app.screen.query_one(ChatStatus).set(params=app.engine.sampling.describe(conv_id))

    dialog = ChatParamsDialog(app.engine, conv_id)
    app.push_screen(dialog, done)
    await wait_until(pilot, lambda: app.screen is dialog)
    await pilot.pause()
    return dialog


async def type_into(pilot, dialog, field: str, text: str) -> None:
    box = dialog.query_one(f"#{field}", Input)
    box.focus()
    box.value = ""
    await pilot.press(*text) if text else None


async def test_bad_value_is_refused_in_the_form_then_a_good_one_applies(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        conv = app.engine.new_conversation()
        app.engine.sampling.set(conv.id, {"temperature": 0.3})
        results: list = []
        dialog = await open_form(app, pilot, conv.id, results)
        assert dialog.query_one("#temperature", Input).value == "0.3"
        assert "ctrl+s" in screen_text(app)  # the whole form fits 80x24

        await type_into(pilot, dialog, "temperature", "9")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and results == []  # still open
        error = str(dialog.query_one("#error", Static).render())
        assert "temperature: Input should be less than or equal to 5 (got '9')" in error
        assert "leave it empty to use the default" in error
        assert dialog.query_one("#temperature", Input).has_class("-invalid")
        assert app.engine.sampling.changes(conv.id) == {"temperature": 0.3}  # unchanged

        await type_into(pilot, dialog, "temperature", "0.2")
        await type_into(pilot, dialog, "stop", r"###, \n\n")
        dialog.query_one("#json_mode", Checkbox).value = True
        dialog.query_one("#temperature", Input).focus()
        await pilot.press("enter")  # Enter in a field applies
        await wait_until(pilot, lambda: results == [True])
        assert app.engine.sampling.changes(conv.id) == {
            "temperature": 0.2, "stop": ["###", "\n\n"], "json_mode": True}  # fmt: skip
        status = str(app.screen.query_one(ChatStatus).render())
        assert "temp 0.2 · stop 2 · json" in status


async def test_escape_cancels_and_the_chat_keeps_its_settings(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        conv = app.engine.new_conversation()
        app.engine.sampling.set(conv.id, {"seed": 11})
        results: list = []
        dialog = await open_form(app, pilot, conv.id, results)
        await type_into(pilot, dialog, "seed", "42")
        await pilot.press("ctrl+r")  # the defaults, in the form only
        assert dialog.query_one("#seed", Input).value == str(app.engine.sampling.defaults()["seed"])
        await pilot.press("escape")
        await wait_until(pilot, lambda: results == [None])
        assert app.engine.sampling.changes(conv.id) == {"seed": 11}


async def test_presets_fill_the_form_save_and_delete(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        conv = app.engine.new_conversation()
        results: list = []
        dialog = await open_form(app, pilot, conv.id, results)
        presets = dialog.query_one("#presets", OptionList)
        names = [p.name for p in dialog.presets]
        presets.focus()
        presets.highlighted = names.index("precise")
        await pilot.press("delete")  # a built-in one stays
        await pilot.pause()
        assert "precise" in [p.name for p in app.engine.sampling.presets()]
        await pilot.press("enter")
        await pilot.pause()
        assert dialog.query_one("#temperature", Input).value == "0.2"
        assert app.engine.sampling.changes(conv.id) == {}  # filled in, not applied yet

        name_box = dialog.query_one("#save-name", Input)
        name_box.focus()
        name_box.value = "mine\x1b[31m"  # a control character: refused, said why
        await pilot.press("enter")
        await pilot.pause()
        assert "printable characters" in str(dialog.query_one("#error").render())
        assert [p.name for p in app.engine.sampling.presets() if not p.builtin] == []

        hostile = "[bold red]mine[/]"  # outside text: shown as typed, never as markup
        name_box.value = hostile
        await pilot.press("enter")
        await pilot.pause()
        saved = app.engine.sampling.preset(hostile)
        assert saved.params["temperature"] == 0.2 and not saved.builtin
        assert "[bold red]mine[/]" in screen_text(app)

        presets.focus()
        presets.highlighted = [p.name for p in dialog.presets].index(hostile)
        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is dialog)
        assert hostile not in [p.name for p in app.engine.sampling.presets()]

        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: results == [True])
        assert app.engine.sampling.describe(conv.id) == "temp 0.2 · top-p 0.9"


async def test_a_preset_name_that_is_refused_shows_why(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        conv = app.engine.new_conversation()
        dialog = await open_form(app, pilot, conv.id, [])
        name_box = dialog.query_one("#save-name", Input)
        name_box.focus()
        name_box.value = "creative"
        await pilot.press("enter")
        await pilot.pause()
        assert "'creative' is a built-in preset" in str(dialog.query_one("#error").render())
        assert name_box.has_class("-invalid")


async def test_ctrl_f_on_the_chat_opens_the_form_and_the_status_line_keeps_the_change(make_app):
    """The chat screen's own key: no chat open yet, so one is started for the settings;
    the status line shows them, and they stay when the chat is opened again."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChatScreen")
        chat = app.screen
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatParamsDialog))
        assert chat.conv_id is not None
        await type_into(pilot, app.screen, "top_k", "7")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is chat)
        assert "top-k 7" in str(chat.query_one(ChatStatus).render())
        await chat.show_conversation(chat.conv_id)
        assert "top-k 7" in str(chat.query_one(ChatStatus).render())
