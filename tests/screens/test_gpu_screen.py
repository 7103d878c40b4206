"""Pilot tests of the GPU screen (F4) with the fake NVML: values, sorting, history, and the
screen keeps running with no driver and when a GPU falls off the bus."""

from __future__ import annotations

import os

from fake_nvml import GIB, four_gpus, no_driver, one_gpu
from textual.widgets import Sparkline, TabbedContent

from genai_tui.config import GpuSettings
from genai_tui.screens.gpu import GpuScreen
from genai_tui.widgets.gpu_line import GpuLine
from genai_tui.widgets.gpu_models import LoadedModels
from genai_tui.widgets.gpu_processes import ProcessTable

from .conftest import wait_until

FAST = GpuSettings(interval_s=0.1)
SMALL = (80, 24)


def text(widget) -> str:
    return str(widget.render())


def pids(table: ProcessTable) -> list[tuple[str, str]]:
    return [(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[1]))
            for i in range(table.row_count)]  # fmt: skip


async def open_gpu(pilot, app) -> GpuScreen:
    await pilot.press("f4")
    screen = app.screen
    assert isinstance(screen, GpuScreen)
    await wait_until(pilot, lambda: screen.shown is not None, 20)
    await pilot.pause(0.2)
    return screen


async def test_one_gpu_values_processes_and_history(make_app, monkeypatch) -> None:
    fake = one_gpu().install(monkeypatch.setattr)
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_gpu(pilot, app)
        card = screen.query_one("#gpu-card-0")
        title, details, util, mem, temp, power = text(card).splitlines()
        assert title == "GPU 0 NVIDIA Fake A100 80GB"
        assert "SM 1410 MHz" in details and "fan 30%" in details and "throttle idle" in details
        assert util.startswith("Util") and " 37% " in util
        assert mem.startswith("Mem") and "2.0/80.0 GiB" in mem
        assert temp.startswith("Temp") and "54°C" in temp
        assert power.startswith("Power") and "120/400 W" in power
        assert "driver 550.54.15" in text(screen.query_one("#gpu-status"))
        table = screen.query_one(ProcessTable)
        assert pids(table) == [("0", str(os.getpid())), ("0", "1")]  # largest memory first
        assert "this app" in str(table.get_row_at(0)[5]) and str(table.get_row_at(1)[5]) == ""
        # History grows, and a new value reaches the card in place (same widget).
        before = len(card.series["util"])
        fake.gpus[0].util_gpu = 88
        await wait_until(pilot, lambda: " 88% " in text(card).splitlines()[2], 10)
        await wait_until(pilot, lambda: len(card.series["util"]) > before + 1, 10)
        assert card.series["util"][-1] == 88.0 and screen.query_one("#gpu-card-0") is card
        assert text(card).splitlines()[2].rstrip().endswith("█")  # the graph's newest bar
        cpu = screen.query_one("#host-spark", Sparkline)
        assert len(cpu.data) > before  # the host's CPU graph grows too
        # The compact line reads the same sample.
        assert text(screen.query_one(GpuLine)) == "GPU 88% · 2.0/80 GiB · 54°C"


async def test_four_gpus_sorting_and_not_supported(make_app, monkeypatch) -> None:
    four_gpus().install(monkeypatch.setattr)
    me = str(os.getpid())
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_gpu(pilot, app)
        assert len(screen.cards) == 4
        t4 = text(screen.cards[3]).splitlines()
        assert t4[0] == "GPU 3 NVIDIA T4" and "fan n/a" in t4[1]
        assert t4[5].startswith("Power") and " n/a " in t4[5]
        table = screen.query_one(ProcessTable)
        by_memory = [("0", me), ("1", "1"), ("0", "1"), ("3", me)]  # 30, 8, 4 GiB, n/a
        assert pids(table) == by_memory
        await pilot.press("m")  # again: smallest first
        assert pids(table) == by_memory[::-1]
        await pilot.press("i")  # by PID
        assert [pid for _, pid in pids(table)] == sorted([me, me, "1", "1"], key=int)
        assert "4 GPUs" in text(screen.query_one(GpuLine))


async def test_no_driver_says_so_and_shows_the_host(make_app, monkeypatch) -> None:
    no_driver().install(monkeypatch.setattr)
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_gpu(pilot, app)
        status = text(screen.query_one("#gpu-status"))
        assert "No NVIDIA driver found" in status and "the host is shown" in status
        assert screen.query_one(TabbedContent).active == "host"
        assert not screen.query_one("#gpu-cards").display
        assert "cores" in text(screen.query_one("#host-value-cpu"))
        assert "GB" in text(screen.query_one("#host-value-ram"))
        assert "genai-tui resident memory" in text(screen.query_one("#host-rss"))
        # No GPU: the compact line stays out of the way on every screen.
        assert not screen.query_one(GpuLine).display
        await pilot.press("f1")
        await wait_until(pilot, lambda: app.current_mode == "chat", 10)
        assert not app.screen.query_one(GpuLine).display


async def test_a_gpu_lost_mid_run_the_screen_keeps_going(make_app, monkeypatch) -> None:
    fake = four_gpus().install(monkeypatch.setattr)
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_gpu(pilot, app)
        fake.lose(1)
        fake.gpus[0].mem_used = 70 * GIB
        lost = screen.cards[1]
        await wait_until(pilot, lambda: "lost" in text(lost).splitlines()[0], 10)
        assert "GPU is lost" in text(lost) and " n/a " in text(lost).splitlines()[2]
        await wait_until(pilot, lambda: "70.0/80.0 GiB" in text(screen.cards[0]), 10)
        assert "1 lost" in text(screen.query_one(GpuLine))
        await pilot.press("h")
        assert screen.query_one(TabbedContent).active == "host"


async def test_gpu_line_on_the_chat_screen(make_app, monkeypatch) -> None:
    one_gpu().install(monkeypatch.setattr)
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        line = app.screen.query_one(GpuLine)
        await wait_until(pilot, lambda: bool(line.display), 20)
        assert text(line) == "GPU 37% · 2.0/80 GiB · 54°C"


async def test_loaded_models_panel_and_unload_key(make_app, monkeypatch) -> None:
    no_driver().install(monkeypatch.setattr)
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        model = app.engine.default_model()
        await app.engine.load_model(model)
        screen = await open_gpu(pilot, app)
        await pilot.press("l")
        table = screen.query_one(LoadedModels)
        await wait_until(pilot, lambda: table.row_count == 1, 10)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == model.name and row[1:3] == ["chat", "CPU"]
        assert "MB" in row[3] and row[5] == "idle"
        table.focus()
        await pilot.press("u")
        await wait_until(pilot, lambda: app.engine.model is None and table.row_count == 0, 20)
        assert app.engine.residency.residents() == []
        notes = [n.message for n in app._notifications]
        assert any(f"Unloaded {model.name}" in n and "by request" in n for n in notes)
        await pilot.press("u")  # nothing left: says so, keeps running
        await wait_until(pilot, lambda: any("No model is loaded" in n.message
                                            for n in app._notifications), 10)  # fmt: skip


async def test_waiting_for_the_gpu_shows_on_every_screen(make_app, monkeypatch) -> None:
    """Even without a GPU line to show, a job waiting for the GPU is announced."""
    import asyncio

    no_driver().install(monkeypatch.setattr)
    app = make_app(gpu=GpuSettings(interval_s=0.1, vram_budget_mb=100))
    async with app.run_test(size=SMALL) as pilot:
        line = app.screen.query_one(GpuLine)
        await wait_until(pilot, lambda: app.gpu_latest is not None, 20)
        residency = app.engine.residency
        release = asyncio.Event()
        holding = asyncio.Event()

        async def job(key: str, mb: int) -> None:
            async with residency.gpu_slot(key, mb * 1024**2):
                holding.set()
                await release.wait()

        first = asyncio.create_task(job("big-image", 80))
        await asyncio.wait_for(holding.wait(), 10)  # the first job has the GPU
        second = asyncio.create_task(job("another-image", 80))
        await wait_until(pilot, lambda: bool(line.display), 10)
        assert text(line) == "⏳ waiting for GPU: another-image"
        release.set()
        await asyncio.gather(first, second)
        await wait_until(pilot, lambda: not line.display, 10)


async def test_samples_reach_the_app_in_its_own_context(make_app, monkeypatch) -> None:
    """The sampler's thread hands each sample to the loop in the subscriber's context:
    timers and widgets the App's signal callbacks create must see the active app (without
    it a timer made there failed at shutdown with LookupError: active_app)."""
    import asyncio

    from textual._context import active_app

    no_driver().install(monkeypatch.setattr)
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        seen: list[object] = []
        app.engine.gpu.subscribe(asyncio.get_running_loop(),
                                 lambda _snap: seen.append(active_app.get(None)))  # fmt: skip
        await wait_until(pilot, lambda: bool(seen), 20)
        assert seen[0] is app


async def test_loaded_models_show_which_gpu_they_sit_on(make_app, monkeypatch) -> None:
    """Four GPUs: a model on GPU 1 and one split across GPUs 0 and 1 say so in the table."""
    four_gpus().install(monkeypatch.setattr)
    app = make_app(gpu=FAST)
    async with app.run_test(size=SMALL) as pilot:
        residency = app.engine.residency

        async def nothing() -> None:
            return None

        for key, device in (("on-one", "cuda:1"), ("split", "cuda:0+1=3,1")):
            async with residency.admitting(key, "chat", GIB, device, nothing):
                pass
        screen = await open_gpu(pilot, app)
        await pilot.press("l")
        table = screen.query_one(LoadedModels)
        await wait_until(pilot, lambda: table.row_count == 2, 10)
        where = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[2]) for i in range(2)}
        assert where == {"on-one": "GPU1", "split": "GPU0+1"}
        # Every screen's GPU line says it too (four GPUs are summed: models by name).
        line = screen.query_one(GpuLine)
        await wait_until(pilot, lambda: "split on GPU0+1" in text(line), 10)
        assert "on-one on GPU1" in text(line)
        residency.forget("on-one")  # its owner unloaded it: the line hears at once
        await wait_until(pilot, lambda: "on-one" not in text(line), 10)
        assert "split on GPU0+1" in text(line)


def test_two_gpus_each_name_the_models_on_them() -> None:
    from types import SimpleNamespace

    from genai_tui.widgets.gpu_line import line_text

    def gpu(index: int) -> SimpleNamespace:
        return SimpleNamespace(index=index, lost=False, util_gpu=50, mem_used=2 * GIB,
                               mem_total=80 * GIB, temp_c=60)  # fmt: skip

    snap = SimpleNamespace(gpus=(gpu(0), gpu(1)))
    placed = (("SmolLM2", "GPU1"), ("big-split", "GPU0+1"), ("on-cpu", "CPU"))
    assert line_text(snap, (), placed) == (
        "GPU0 50% · 2.0/80 GiB · 60°C · big-split │ "
        "GPU1 50% · 2.0/80 GiB · 60°C · SmolLM2, big-split"
    )
    one = SimpleNamespace(gpus=(gpu(0),))
    assert line_text(one, (), (("SmolLM2", "GPU0"),)).endswith("60°C · SmolLM2")
