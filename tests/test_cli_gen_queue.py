"""`genai-tui gen --queue`: the request joins the app's image queue instead of running."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from genai_tui.config import load_settings
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.queue import lock_path, try_lock


def test_queued_jobs_wait_for_the_app_and_run_there(gen, tmp_path: Path) -> None:
    code, out, err = gen("a red barn", "-m", "tiny-sd", "--size", "64", "--steps", "2", "-n",
                         "1", "--seed", "3", "--queue")  # fmt: skip
    assert code == 0, err
    assert out.strip() == ("Queued image job 1 at position 1: it runs when genai-tui next "
                           "starts (F3, the Queue tab).")  # fmt: skip
    code, out, _ = gen("a blue barn", "--size", "64", "--steps", "2", "-n", "1", "--queue",
                       "--json")  # fmt: skip
    assert code == 0 and json.loads(out) == {"job": 2, "position": 2}

    settings = load_settings(None, data_dir=str(tmp_path / "data"),
                             models_dir=str(tmp_path / "models"))  # fmt: skip
    asyncio.run(the_app_runs_them(settings))


async def the_app_runs_them(settings) -> None:
    engine = Engine(settings)
    try:
        studio = engine.images
        assert studio.gallery.images() == []  # nothing ran yet
        jobs = studio.queue.jobs()
        assert [(j.id, j.position, j.state, j.source) for j in jobs] == [
            (1, 1, "queued", "cli"), (2, 2, "queued", "cli")]  # fmt: skip
        assert jobs[0].model_name == "tiny-sd" and jobs[1].model == ""  # the default model
        assert jobs[0].request.seed == 3 and (jobs[0].request.width, jobs[0].request.steps) == (
            64, 2)  # fmt: skip
        await studio.queue.drain()
        made = sorted(studio.gallery.images(), key=lambda img: img.id)
        assert [(img.prompt, img.model) for img in made] == [("a red barn", "tiny-sd"),
                                                             ("a blue barn", "tiny-sd")]
        assert made[0].seed == 3
    finally:
        await engine.aclose()


def test_a_running_app_is_said_to_pick_it_up(gen, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    gen("x", "--size", "64", "--queue")  # the database exists
    held = try_lock(lock_path(tmp_path / "data" / "genai-tui.sqlite3"))
    try:
        code, out, _ = gen("y", "--size", "64", "--queue")
    finally:
        assert held is not None
        held.close()
    assert code == 0 and "job 2 at position 2: the running app starts it in turn" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-m", "no-such-model"], 1, "No image model named 'no-such-model'"),
        (["--size", "100x64"], 2, "not a multiple of 8"),
        (["-o", "/tmp/somewhere"], 2, "--queue saves to the gallery. Leave out -o."),
    ],
)
def test_a_bad_request_is_refused_before_it_is_queued(gen, tmp_path, args, code, message) -> None:
    got, out, err = gen("x", "--queue", *args)
    assert got == code and message in err and out == ""
    settings = load_settings(None, data_dir=str(tmp_path / "data"))
    from genai_tui.engine.core.store import Store

    store = Store(settings.db_path)
    try:
        assert store.image_jobs() == []
    finally:
        store.close()
