"""The image queue on the tiny real SD pipeline: order, restarts, cancel, reorder, failures."""

from __future__ import annotations

import asyncio
import time

import pytest

from genai_tui.engine.core.events import ImageReady, StepProgress
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.queue import request_from_json
from genai_tui.engine.images.queue_events import (
    JobCancelled,
    JobDone,
    JobFailed,
    JobProgress,
    JobQueued,
    JobStarted,
)


@pytest.fixture
def image_settings(settings, tiny_sd_dir):
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny-sd").symlink_to(tiny_sd_dir)
    image = settings.image.model_copy(update={"threads": 1, "default_model": "tiny-sd"})
    return settings.model_copy(update={"image": image})


@pytest.fixture
async def engine(image_settings):
    eng = Engine(image_settings)
    yield eng
    await eng.aclose()


def request(engine: Engine, prompt: str, **changes):
    values = {"width": 64, "height": 64, "steps": 2, "variations": 1, "seed": 7} | changes
    return engine.images.request_defaults(prompt, **values)


def listen(engine: Engine) -> list:
    events: list = []
    engine.images.queue.subscribe(events.append)
    return events


def gallery_prompts(engine: Engine) -> list[str]:
    return [img.prompt for img in sorted(engine.images.gallery.images(), key=lambda i: i.id)]


async def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_a_request_round_trips_through_json(tmp_path) -> None:
    from genai_tui.engine.images.diffusion_params import ImageRequest

    req = ImageRequest("a fox", "fog", 96, 64, 3, 5.5, 2, 9, "fixed", "DDIMScheduler",
                       tmp_path / "init.png", 0.4)  # fmt: skip
    assert request_from_json(req.to_json() | {"from_a_newer_version": 1}) == req


async def test_three_requests_run_in_order_with_progress_and_an_eta(engine: Engine) -> None:
    queue = engine.images.queue
    events = listen(engine)
    ids = [queue.add(request(engine, p), "tiny-sd") for p in ("one", "two", "three")]
    assert [e.job.id for e in events if isinstance(e, JobQueued)] == ids
    jobs = queue.jobs()
    assert [(j.id, j.position, j.state) for j in jobs] == [(ids[0], 1, "queued"),
                                                          (ids[1], 2, "queued"),
                                                          (ids[2], 3, "queued")]  # fmt: skip
    assert jobs[0].model_name == "tiny-sd" and jobs[0].total_steps == 2
    await queue.drain()
    assert [e.job.id for e in events if isinstance(e, JobStarted)] == ids
    assert [e.job.id for e in events if isinstance(e, JobDone)] == ids
    assert gallery_prompts(engine) == ["one", "two", "three"]
    steps = [e for e in events if isinstance(e, JobProgress) and isinstance(e.event, StepProgress)]
    assert steps and steps[-1].job.progress == 1.0
    made = [e.event.image_id for e in events
            if isinstance(e, JobProgress) and isinstance(e.event, ImageReady)]  # fmt: skip
    done = {j.id: j for j in queue.jobs()}
    assert [done[i].state for i in ids] == ["done"] * 3
    assert [i for j in ids for i in done[j].image_ids] == made
    # The model's measured seconds per step give the next jobs an ETA, summed down the queue.
    later = [queue.add(request(engine, p, steps=4), "tiny-sd") for p in ("four", "five")]
    first, second = (queue.job(i) for i in later)
    assert first.eta_s is not None and first.eta_s > 0
    assert second.eta_s is not None and second.eta_s > first.eta_s


async def test_the_queue_survives_a_restart_and_a_job_cut_off_runs_again(image_settings) -> None:
    first = Engine(image_settings)
    queue = first.images.queue
    events = listen(first)
    a = queue.add(request(first, "before the restart", steps=30), "tiny-sd")
    b = queue.add(request(first, "after the restart"), "tiny-sd")
    queue.start()
    await wait_for(lambda: any(isinstance(e, JobStarted) for e in events))
    await first.aclose()  # the app quits while job `a` loads or runs
    assert not any(isinstance(e, JobDone) for e in events)

    again = Engine(image_settings)
    try:
        queue = again.images.queue
        assert [(j.id, j.state) for j in queue.jobs()] == [(a, "queued"), (b, "queued")]
        events = listen(again)
        queue.start()
        await wait_for(lambda: sum(isinstance(e, JobDone) for e in events) == 2)
        assert [e.job.id for e in events if isinstance(e, JobStarted)] == [a, b]
        assert gallery_prompts(again) == ["before the restart", "after the restart"]
    finally:
        await again.aclose()


async def test_a_cancelled_job_never_runs(engine: Engine) -> None:
    queue = engine.images.queue
    events = listen(engine)
    ids = [queue.add(request(engine, p), "tiny-sd") for p in ("keep", "drop", "also")]
    queue.cancel(ids[1])
    assert [j.id for j in queue.jobs()] == [ids[0], ids[2]]
    assert [j.position for j in queue.jobs()] == [1, 2]
    assert [e.job.id for e in events if isinstance(e, JobCancelled)] == [ids[1]]
    await queue.drain()
    assert gallery_prompts(engine) == ["keep", "also"]
    assert ids[1] not in [e.job.id for e in events if isinstance(e, JobStarted)]


async def test_moving_a_job_changes_the_run_order_and_cancel_all_empties(engine: Engine) -> None:
    queue = engine.images.queue
    events = listen(engine)
    a, b, c = (queue.add(request(engine, p), "tiny-sd") for p in "abc")
    queue.move(c, -1)
    queue.move(a, +5)  # past the end: last
    assert [j.id for j in queue.jobs()] == [c, b, a]
    await queue.drain()
    assert gallery_prompts(engine) == ["c", "b", "a"]
    assert [e.job.id for e in events if isinstance(e, JobStarted)] == [c, b, a]
    for p in "xyz":
        queue.add(request(engine, p), "tiny-sd")
    assert queue.cancel_all() == 3 and not queue.busy
    await queue.drain()
    assert len(gallery_prompts(engine)) == 3


async def test_a_failing_job_is_marked_failed_and_the_next_runs(engine: Engine) -> None:
    queue = engine.images.queue
    events = listen(engine)
    bad = queue.add(request(engine, "nowhere"), "no-such-model")
    good = queue.add(request(engine, "somewhere"), "tiny-sd")
    await queue.drain()
    failed = [e for e in events if isinstance(e, JobFailed)]
    assert [e.job.id for e in failed] == [bad]
    assert "No image model named 'no-such-model'" in failed[0].message
    jobs = {j.id: j for j in queue.jobs()}
    assert jobs[bad].state == "failed" and "no-such-model" in jobs[bad].error
    assert jobs[good].state == "done" and gallery_prompts(engine) == ["somewhere"]
    # A failed job stays listed until dismissed.
    queue.cancel(bad)
    assert bad not in [j.id for j in queue.jobs()]


async def test_the_queue_waits_while_the_studio_generates(engine: Engine) -> None:
    queue = engine.images.queue
    events = listen(engine)
    direct = engine.images.generate(request(engine, "direct", steps=4), "tiny-sd")
    await anext(direct)  # the studio's own request has started (its model loaded)
    queue.add(request(engine, "queued"), "tiny-sd")
    queue.start()
    async for _ in direct:
        assert not any(isinstance(e, JobStarted) for e in events)
    await wait_for(lambda: any(isinstance(e, JobDone) for e in events))
    assert gallery_prompts(engine) == ["direct", "queued"]


async def test_jobs_added_by_another_process_are_picked_up(engine: Engine, image_settings) -> None:
    from genai_tui.engine.core.store import Store

    queue = engine.images.queue
    events = listen(engine)
    queue.start()
    other = Store(image_settings.data_dir / "genai-tui.sqlite3")
    try:
        assert other.path == engine.store.path
        other.add_image_job(request(engine, "from the cli").to_json(), "tiny-sd", "tiny-sd",
                            "cli", 2)  # fmt: skip
    finally:
        other.close()
    await wait_for(lambda: any(isinstance(e, JobDone) for e in events))
    assert [type(e) for e in events if not isinstance(e, JobProgress)] == [
        JobQueued, JobStarted, JobDone]  # fmt: skip
    assert gallery_prompts(engine) == ["from the cli"]


async def test_a_request_in_turn_waits_for_the_jobs_before_it_and_sees_its_own_run(
    engine: Engine,
) -> None:
    """What /imagine does while the queue is busy: its pictures come after the queued ones."""
    import threading

    from genai_tui.engine.core.events import ImagesDone
    from genai_tui.engine.images.queue_turn import in_turn

    queue = engine.images.queue
    queue.add(request(engine, "queued first"), "tiny-sd")
    events = [e async for e in in_turn(queue, request(engine, "my own", variations=2))]
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert len(ready) == 2 and isinstance(events[-1], ImagesDone)
    assert gallery_prompts(engine) == ["queued first", "my own", "my own"]
    assert {img.id for img in engine.images.gallery.images()} >= {e.image_id for e in ready}
    # Stopped while it waits: it never runs.
    stop = threading.Event()
    queue.add(request(engine, "queued again", steps=6), "tiny-sd")
    stop.set()
    assert [e async for e in in_turn(queue, request(engine, "stopped"), stop=stop)] == []
    await wait_for(lambda: not queue.busy)
    assert "stopped" not in gallery_prompts(engine)
    # A job that fails raises its message.
    from genai_tui.engine.core.errors import GenaiError

    with pytest.raises(GenaiError, match="No image model named 'nope'"):
        async for _ in in_turn(queue, request(engine, "x"), "nope"):
            pass
