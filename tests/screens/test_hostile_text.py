"""Outside text never reaches the terminal as escapes, on any screen.

Each test puts hostile text where someone else controls it (a process name, a
model folder, GGUF metadata, a Hub error header and model card, a chat title
and reply, a notification), renders the screen, and checks the bytes the
driver would write: no OSC 52, no title change, no clear screen, no C1.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from fake_nvml import FakeGpu, FakeNvml
from ggufs import write_gguf
from hostile import COMM, PAYLOAD, injected, plain, terminal_output
from textual.widgets import DataTable, Input

from genai_tui.config import GpuSettings
from genai_tui.widgets.gpu_processes import ProcessTable

from .conftest import wait_until

SIZE = (120, 40)


def visible(app) -> str:
    output = terminal_output(app)
    assert injected(output) == []
    return plain(output)


@pytest.fixture
def hostile_process():
    """A real process that named itself with escapes (any local user can)."""
    code = f"open('/proc/self/comm', 'w').write({COMM!r}); import time; time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


async def test_gpu_process_names_and_users_are_shown_as_text(make_app, monkeypatch,
                                                             hostile_process):  # fmt: skip
    FakeNvml([FakeGpu(processes=[(hostile_process, 2**30)])]).install(monkeypatch.setattr)
    app = make_app(gpu=GpuSettings(interval_s=0.1))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        table = app.screen.query_one(ProcessTable)
        await wait_until(pilot, lambda: table.row_count == 1
                         and "pwn" in str(table.get_row_at(0)[3]), 20)  # fmt: skip
        await pilot.pause(0.2)
        assert "␛]2;pwn␇x" in visible(app)  # the name, with its escapes shown as pictures


async def test_notifications_show_escapes_as_pictures(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.notify(f"Download failed: {PAYLOAD}", title=PAYLOAD)
        await wait_until(pilot, lambda: "Download failed" in plain(terminal_output(app)), 10)
        assert "evil␛]52;c;cHduZWQ" in visible(app)


async def test_model_folder_and_gguf_metadata_on_the_models_screen(make_app, models_dir):
    folder = models_dir / PAYLOAD
    folder.mkdir()
    write_gguf(folder / f"m{PAYLOAD}.gguf", architecture=PAYLOAD)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2", "ctrl+l")
        local = app.screen.query_one("#local-table", DataTable)
        await wait_until(pilot, lambda: local.row_count >= 2, 30)
        await pilot.pause(0.2)
        assert "evil" in visible(app)
        # The chat's model picker lists it, with its error (which quotes the architecture).
        await pilot.press("f1", "ctrl+o")
        await pilot.pause(0.5)
        assert "evil" in visible(app)


async def test_hub_error_header_card_and_file_names(make_app, hub_server, monkeypatch,
                                                    smollm_path):  # fmt: skip
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    hub_server.add_repo(
        "acme/evil-GGUF",
        {"m.Q4_1.gguf": smollm_path.read_bytes()[:4096],
         "README.md": f"---\nlicense: mit\n---\n# Card {PAYLOAD}\n\nA card {PAYLOAD}.\n".encode()},
        downloads=7,
    )  # fmt: skip
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#hub-query", Input).value = "evil"
        await pilot.press("enter")
        results = screen.query_one("#hub-results", DataTable)
        await wait_until(pilot, lambda: results.row_count == 1, 30)
        await pilot.press("enter")
        detail = screen.query_one("#detail-text")
        await wait_until(pilot, lambda: "A card" in str(detail.render()), 30)
        await pilot.pause(0.2)
        visible(app)
        # A download refused with an X-Error-Message carrying C1 controls (latin-1 lets
        # them through HTTP; ESC it does not).
        hub_server.fail("acme/evil-GGUF/m.Q4_1.gguf", 403, times=None, head=True,
                        message="refused \x9b2J\x9d52;c;eA==\x9c")  # fmt: skip
        choices = screen.query_one("#choices")
        await wait_until(pilot, lambda: choices.option_count == 1, 30)
        choices.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(n.title == "Download failed"
                                            for n in app._notifications), 30)  # fmt: skip
        await pilot.pause(0.3)
        visible(app)


async def test_chat_title_and_reply(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        conv = app.engine.new_conversation()
        app.engine.store.update_conversation(conv.id, title=PAYLOAD)
        app.engine.store.add_message(conv.id, "user", f"hi {PAYLOAD}")
        app.engine.store.add_message(conv.id, "assistant", f"reply {PAYLOAD}\n\n[link]({PAYLOAD})")
        await app.screen.show_conversation(conv.id)
        await pilot.pause(0.3)
        assert "reply evil" in visible(app)


async def test_copies_leave_without_control_characters(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.copy_to_clipboard(f"line one\r\nrm -rf ~\x1b[201~\ttab\n{PAYLOAD}")
        assert app.clipboard.startswith("line one\nrm -rf ~[201~\ttab\nevil]52;c;cHduZWQ=")
        assert not any(ord(c) < 0x20 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F
                       for c in app.clipboard)  # fmt: skip
        await pilot.pause()


async def test_links_are_copied_not_opened(make_app, monkeypatch):
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.open_url("https://example.com/page")
        await pilot.pause()
        assert opened == []
        assert app.clipboard == "https://example.com/page"
        assert any("Copied the link" in str(n.message) for n in app._notifications)


async def test_a_widget_that_forgets_printable_still_writes_no_escape(make_app):
    """The App's line filter is the choke point: raw Text in any widget is cleaned."""
    from rich.text import Text
    from textual.widgets import Label, Static

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.screen.mount(Static(Text(f"raw {PAYLOAD}")), Label(f"label {PAYLOAD}",
                                                                     markup=False))  # fmt: skip
        await pilot.pause(0.2)
        shown = visible(app)
        assert "raw evil]52;c;cHduZWQ=]2;pwned" in shown  # the escapes dropped, the text kept
        assert "label evil" in shown
