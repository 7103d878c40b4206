"""The studio's Queue tab under Pilot at 80x24, on the tiny real SD pipeline."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TabbedContent

from genai_tui.engine.images.queue import lock_path, try_lock
from genai_tui.screens.dialogs import ConfirmDialog
from genai_tui.widgets.image_queue import ImageQueueList

from .conftest import studio_maker, wait_until

SIZE = (80, 24)


@pytest.fixture
def studio_app(settings, tiny_sd_dir):
    return studio_maker(settings, tiny_sd_dir, steps=2, variations=1)


def status(screen) -> str:
    return str(screen.query_one("#studio-status").render())


def rows(table: ImageQueueList) -> list[tuple[str, ...]]:
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


@pytest.fixture
def other_runner(settings):
    """Another instance runs the queue (holds its lock): jobs added here wait."""
    settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    handle = try_lock(lock_path(settings.db_path))
    assert handle is not None
    yield handle
    handle.close()


async def open_studio(pilot) -> None:
    await pilot.press("f3")
    await wait_until(pilot, lambda: getattr(pilot.app.screen, "model", None) is not None)


async def test_the_queue_tab_lists_moves_and_cancels_jobs(studio_app, other_runner) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen, images = app.screen, app.engine.images
        prompt = screen.query_one("#prompt", Input)
        prompt.value = "first queued"
        await pilot.press("alt+q")
        assert "Queued as job 1, position 1" in status(screen)
        prompt.value = "second queued"
        await pilot.press("ctrl+g")  # Generate while jobs wait: queued behind them
        assert "Queued as job 2, position 2" in status(screen)
        assert not images.generating
        await pilot.press("f9")
        tabs = screen.query_one(TabbedContent)
        table = screen.query_one(ImageQueueList)
        assert tabs.active == "queue" and table.has_focus
        assert "Queue (2)" in str(tabs.get_tab("queue").label)
        shown = rows(table)
        assert [r[:4] for r in shown] == [("1", "first queued", "tiny-sd", "queued"),
                                          ("2", "second queued", "tiny-sd", "queued")]
        assert table.region.width <= SIZE[0] and all(r[4] == "0%" for r in shown)
        # Alt+Down moves the first job down (the cursor follows); Delete cancels it.
        await pilot.press("alt+down")
        assert [r[1] for r in rows(table)] == ["second queued", "first queued"]
        assert table.cursor_row == 1
        await pilot.press("delete")
        assert [r[:2] for r in rows(table)] == [("1", "second queued")]
        assert "Queue (1)" in str(tabs.get_tab("queue").label)
        # The other instance quits: this one takes the queue over and runs the job left.
        other_runner.close()
        await wait_until(pilot, lambda: not images.queue.busy)
        await pilot.pause(0.1)
        assert rows(table)[0][3:5] == ("done", "100%")
        assert "Queue: job 2 done, 1 image saved." in status(screen)
        assert [img.prompt for img in images.gallery.images()] == ["second queued"]


async def test_shift_delete_cancels_all_after_asking(studio_app, other_runner) -> None:
    app = studio_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_studio(pilot)
        screen, queue = app.screen, app.engine.images.queue
        screen.query_one("#prompt", Input).value = "a fox"
        for _ in range(3):
            await pilot.press("alt+q")
        await pilot.press("f9")
        assert screen.query_one(ImageQueueList).row_count == 3
        await pilot.press("shift+delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen)
        assert not queue.busy and screen.query_one(ImageQueueList).row_count == 0
        assert "Cancelled 3 image jobs." in status(screen)
