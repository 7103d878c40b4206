"""Files in the chat at 80x24 with the real SmolLM2: Ctrl+A, the attach dialog (Tab
completes the path, Enter checks then adds, Ctrl+T trims), the line above the prompt,
Backspace removes, and the sent message holds the file's text."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Label

from genai_tui.app import GenaiApp
from genai_tui.screens.attach_dialog import AttachDialog, complete_path
from genai_tui.widgets.attachment_line import AttachmentLine

from .conftest import send, wait_idle, wait_until

CODE = "def greet(name):\n    return f'Hello, {name}!'\n\nprint(greet('sea'))\n"


@pytest.fixture
def app(settings, models_dir) -> GenaiApp:
    return GenaiApp(settings)


def info(app) -> str:
    return str(app.screen.query_one("#info", Label).render())


async def open_dialog(pilot, app) -> AttachDialog:
    await pilot.press("ctrl+a")
    await wait_until(pilot, lambda: isinstance(app.screen, AttachDialog))
    return app.screen


async def check(pilot, app, path: Path | str) -> None:
    app.screen.query_one("#path", Input).value = str(path)
    await pilot.press("enter")
    await wait_until(pilot, lambda: not info(app).startswith(("Reading", "Trimming")) and info(app))


def attachment_line(app) -> str:
    return str(app.screen.query_one(AttachmentLine).render())


async def test_a_file_is_checked_attached_and_sent_with_the_message(
    app: GenaiApp, tmp_path: Path, smollm_file: Path
) -> None:
    import llama_cpp

    (tmp_path / "main.py").write_text(CODE)
    (tmp_path / "manual.md").write_text("# Manual\n")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, app, "Hi")  # the model loads: its tokenizer counts the file
        await wait_idle(pilot, app)
        dialog = await open_dialog(pilot, app)
        path_box = dialog.query_one("#path", Input)
        path_box.value = str(tmp_path / "ma")
        await pilot.press("tab")  # main.py and manual.md: as far as they agree
        assert path_box.value == str(tmp_path / "ma")
        assert "main.py  manual.md" in str(dialog.query_one("#matches", Label).render())
        path_box.value = str(tmp_path / "mai")
        await pilot.press("tab")
        assert path_box.value == str(tmp_path / "main.py")
        await check(pilot, app, tmp_path / "main.py")
        vocab = llama_cpp.Llama(model_path=str(smollm_file), vocab_only=True, verbose=False)
        block = f"File: main.py\n```\n{CODE}```"
        tokens = len(vocab.tokenize(block.encode(), add_bos=False, special=True))
        assert info(app).startswith(f"main.py · {len(CODE)} B · {tokens:,} tokens\nFits: the context has ")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, AttachDialog))
        assert attachment_line(app).startswith(f"📎 main.py · {tokens:,} tokens\n")
        assert app.screen.focused is app.screen.query_one("#prompt")
        await send(pilot, app, "What does it print?")
        await wait_idle(pilot, app)
        conv = app.engine.conversations()[0]
        user = [m for m in app.engine.messages(conv.id) if m.role == "user"][-1]
        assert user.content == f"{block}\n\nWhat does it print?"
        reply = app.engine.messages(conv.id)[-1]
        assert reply.role == "assistant" and reply.content and reply.prompt_tokens > tokens
        assert not app.screen.query_one(AttachmentLine).display  # sent: nothing pending


async def test_a_file_too_large_is_refused_with_the_numbers_then_trimmed(
    app: GenaiApp, tmp_path: Path
) -> None:
    big = tmp_path / "big.log"
    big.write_text("".join(f"{i:05d} GET /index.html 200\n" for i in range(2000)))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dialog(pilot, app)
        await check(pilot, app, big)
        said = info(app)
        assert said.startswith("big.log · 52.0 KB · about ")  # no model loaded yet: estimated
        assert "Does not fit. big.log takes about " in said and "2,048 in all" in said
        assert "Ctrl+T adds its head" in said
        await pilot.press("enter")  # Enter does not add a file that does not fit
        assert isinstance(app.screen, AttachDialog)
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: not isinstance(app.screen, AttachDialog))
        line = attachment_line(app)
        assert line.startswith("📎 big.log · ~") and "(estimate) · trimmed" in line
        assert line.endswith("\nBackspace in an empty prompt removes it")
        await pilot.press("backspace")  # the prompt is empty: the file goes
        await pilot.pause()
        assert not app.screen.query_one(AttachmentLine).display
        assert app.screen.attached == ()


async def test_binary_and_hostile_names_are_shown_as_text(app: GenaiApp, tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    evil = tmp_path / "evil\x1b[2Jname.txt"
    evil.write_text("hello\n")
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot, app)
        await check(pilot, app, tmp_path / "blob.bin")
        assert "blob.bin is a binary file, not UTF-8 text" in info(app)
        assert dialog.query_one("#info").has_class("refused")
        await check(pilot, app, evil)
        assert info(app).startswith("evil␛[2Jname.txt · 6 B · ")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, AttachDialog))
        assert attachment_line(app).startswith("📎 evil␛[2Jname.txt · ~")
        await open_dialog(pilot, app)
        await pilot.press("escape")  # cancel: nothing more attached
        await wait_until(pilot, lambda: not isinstance(app.screen, AttachDialog))
        assert len(app.screen.attached) == 1


def test_path_completion(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / ".hidden").write_text("")
    assert complete_path(str(tmp_path / "s")) == (str(tmp_path / "src") + "/", ["src"])
    assert complete_path(str(tmp_path) + "/") == (str(tmp_path) + "/src/", ["src"])
    assert complete_path(str(tmp_path / ".h"))[1] == [".hidden"]
    assert complete_path(str(tmp_path / "nothing")) == (str(tmp_path / "nothing"), [])
