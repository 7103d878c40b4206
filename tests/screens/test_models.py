"""Pilot tests of the Models screen against the loopback Hub, with real bytes."""

from __future__ import annotations

import os

import huggingface_hub
from textual.widgets import DataTable, Input, OptionList, TabbedContent

from genai_tui.screens.models import ModelsScreen

from .conftest import SIZE, wait_until


def serve_models(hub, smollm_path) -> None:
    hub.add_repo(
        "acme/SmolLM2-135M-Instruct-GGUF",
        {
            "SmolLM2-135M-Instruct.Q4_1.gguf": smollm_path.read_bytes(),
            "README.md": b"---\nlicense: apache-2.0\n---\n# SmolLM2\n\nA small chat model.\n",
        },
        downloads=5000, likes=40, license="apache-2.0",
    )  # fmt: skip
    hub.add_repo("acme/other-model", {"config.json": b"{}"}, downloads=10)


async def test_search_detail_download_and_chat(make_app, hub_server, smollm_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    serve_models(hub_server, smollm_path)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        screen.query_one("#hub-query", Input).value = "SmolLM2"
        await pilot.press("enter")
        results = screen.query_one("#hub-results", DataTable)
        await wait_until(pilot, lambda: results.row_count == 1)
        assert "acme/SmolLM2-135M-Instruct-GGUF" in str(results.get_row_at(0)[0])
        await pilot.press("enter")  # the table has focus: open the detail
        choices = screen.query_one("#choices", OptionList)
        await wait_until(pilot, lambda: choices.option_count == 1)
        assert "Q4_1" in str(choices.get_option_at_index(0).prompt)
        assert "A small chat model." in str(screen.query_one("#detail-text").render())
        # The fit estimate arrives for the choice.
        await wait_until(
            pilot, lambda: "fits" in str(choices.get_option_at_index(0).prompt).lower()
        )
        await pilot.press("enter")  # download it
        await pilot.press("ctrl+g")
        assert screen.query_one(TabbedContent).active == "downloads"
        table = screen.query_one("#downloads-table", DataTable)
        await wait_until(
            pilot, lambda: table.row_count == 1 and "done" in str(table.get_row_at(0)[1])
        )
        cache = os.environ["HF_HUB_CACHE"]
        repos = {r.repo_id for r in huggingface_hub.scan_cache_dir(cache).repos}
        assert "acme/SmolLM2-135M-Instruct-GGUF" in repos
        # Local models lists it; Enter sends it to chat, which loads it.
        await pilot.press("ctrl+l")
        local = screen.query_one("#local-table", DataTable)
        await wait_until(pilot, lambda: local.row_count >= 1)
        names = [str(local.get_row_at(i)[0]) for i in range(local.row_count)]
        local.move_cursor(row=next(i for i, n in enumerate(names) if n.startswith("acme/")))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.engine.model is not None)
        assert type(app.screen).__name__ == "ChatScreen"
        assert app.engine.model.name.startswith("acme/SmolLM2")


async def test_hub_errors_are_shown_and_the_screen_survives(make_app, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#hub-query", Input).value = "anything"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: any("127.0.0.1:9" in str(n.message) for n in app._notifications), 30
        )
        await pilot.press("f1")
        assert app.screen.query_one("#prompt") is not None


async def test_delete_in_another_tools_store_needs_its_name(make_app, tmp_path, smollm_path):
    from ggufs import write_gguf
    from store_layouts import lmstudio_store

    model = write_gguf(tmp_path / "tiny.gguf", architecture="llama")
    root = lmstudio_store(tmp_path / "lmstudio", {"acme/tiny-GGUF/tiny.gguf": model.read_bytes()})
    target = root / "acme/tiny-GGUF/tiny.gguf"
    app = make_app(lmstudio_dir=root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2", "ctrl+l")
        screen = app.screen
        local = screen.query_one("#local-table", DataTable)
        await wait_until(pilot, lambda: local.row_count >= 1)
        sources = [str(local.get_row_at(i)[5]) for i in range(local.row_count)]
        local.move_cursor(row=sources.index("LM Studio"))
        for typed, survives in (("lm studio", True), ("LM Studio", False)):
            await pilot.press("delete")
            app.screen.query_one(Input).value = typed
            await pilot.press("enter")
            await pilot.pause(0.3)
            await wait_until(pilot, lambda: not any(w.is_running for w in app.workers
                                                    if w.group == "local-delete"))  # fmt: skip
            assert target.exists() == survives, typed
        assert any("LM Studio" in str(n.message) for n in app._notifications)


async def test_download_news_is_pushed_to_the_line_the_tab_and_notifications(
    make_app, hub_server, monkeypatch
):
    """The App hears the queue (one subscription) and publishes its jobs on each report:
    the downloads line shows a running job, the Downloads tab its end, and the user is
    told when a job finishes or fails. Nothing polls."""
    import random

    from genai_tui.engine.models.downloads import JobFile
    from genai_tui.widgets.downloads_line import DownloadsLine

    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    weights = random.Random(7).randbytes(3_000_000)
    repo = hub_server.add_repo("acme/pushed", {"weights.bin": weights, "config.json": b"{}"})
    hub_server.drop_after("acme/pushed/weights.bin", 1_000_000, times=1)  # a 1 s back-off
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2", "ctrl+g")
        screen = app.screen
        published: list[list] = []
        app.downloads_signal.subscribe(screen, published.append)
        queue = await app.engine.library.downloads()
        files = [JobFile(f.path, f.size, f.sha256 if f.is_lfs else None)
                 for f in repo.files.values()]  # fmt: skip
        good = queue.add("acme/pushed", files)
        line = screen.query_one(DownloadsLine)
        await wait_until(pilot, lambda: "↓ 1 download" in str(line.render()), 10)
        assert line.has_class("-active")
        table = screen.query_one("#downloads-table", DataTable)
        await wait_until(pilot, lambda: "done" in str(table.get_row_at(0)[1]), 30)
        await wait_until(pilot, lambda: not line.has_class("-active"), 5)
        bad = queue.add("acme/pushed", [JobFile("nope.bin", 10)])
        await wait_until(pilot, lambda: table.row_count == 2
                         and "failed" in str(table.get_row_at(0)[1]), 10)  # fmt: skip
        await pilot.pause(0.1)
        said = [(n.title, str(n.message)) for n in app._notifications]
        assert ("Downloads", "Downloaded acme/pushed.") in said
        assert any(t == "Download failed" and "nope.bin" in m for t, m in said)
        assert app.engine.library._download_listeners._items == [app._on_download_event]
        for jobs in published:
            assert all(j.done <= j.total for j in jobs)
        assert {j.id for j in published[-1]} == {good, bad}
        assert [j.state for j in published[-1]] == ["done", "failed"]
