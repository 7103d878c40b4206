"""Residency: who holds the (fake-budget) GPU; real models load and unload through it on CPU."""

from __future__ import annotations

import asyncio
import time

import pytest

from genai_tui.engine.core.errors import GpuBudgetError
from genai_tui.engine.core.events import GpuAcquired, GpuWaiting, ModelEvicted, TokenDelta
from genai_tui.engine.core.text import human_bytes
from genai_tui.engine.engine import Engine
from genai_tui.engine.gpu.residency import Residency

MB = 1024**2


class Model:
    """Something loaded: it knows whether it was unloaded or offloaded, and when."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.loaded, self.on_gpu = name, log, True, True

    async def unload(self) -> None:
        await asyncio.sleep(0)
        self.loaded = False
        self.log.append(f"unload {self.name}")

    async def offload(self) -> None:
        self.on_gpu = False
        self.log.append(f"offload {self.name}")


def residency(make_settings, **gpu) -> tuple[Residency, list]:
    gpu.setdefault("vram_budget_mb", 1000)
    res = Residency(make_settings(gpu=gpu).gpu)
    heard: list = []
    res.subscribe(heard.append)
    return res, heard


async def load(res: Residency, name: str, mb: int, log: list[str], kind: str = "chat",
               device: str = "cuda:0") -> Model:  # fmt: skip
    model = Model(name, log)
    async with res.admitting(name, kind, mb * MB, device, model.unload, model.offload) as adm:
        adm.measured_bytes = mb * MB
    return model


async def test_loading_what_does_not_fit_evicts_the_least_recently_used(make_settings) -> None:
    res, heard = residency(make_settings)
    log: list[str] = []
    a = await load(res, "chat-a", 400, log)
    b = await load(res, "image-b", 400, log, kind="image")
    res.touch("chat-a")  # a used after b: b is now the least recently used
    c = await load(res, "image-c", 500, log, kind="image")
    assert log == ["unload image-b"]
    assert (a.loaded, b.loaded, c.loaded) == (True, False, True)
    assert [r.key for r in res.residents()] == ["image-c", "chat-a"]
    assert res.used("cuda:0") == 900 * MB
    (evicted,) = [e for e in heard if isinstance(e, ModelEvicted)]
    assert evicted.key == "image-b" and evicted.kind == "image" and evicted.action == "unloaded"
    assert evicted.bytes == 400 * MB
    assert "to make room for image-c" in evicted.reason and human_bytes(1000 * MB) in evicted.reason


async def test_models_on_other_devices_are_not_evicted(make_settings) -> None:
    res, _ = residency(make_settings)
    log: list[str] = []
    await load(res, "on-cpu", 900, log, device="cpu")
    await load(res, "on-gpu", 900, log, device="cuda")
    assert log == [] and res.used("cpu") == res.used("cuda:0") == 900 * MB


async def test_offload_moves_the_lru_model_to_the_cpu_instead(make_settings) -> None:
    res, heard = residency(make_settings, on_full="offload")
    log: list[str] = []
    a = await load(res, "a", 600, log, kind="image")
    await load(res, "b", 600, log)
    assert log == ["offload a"] and a.loaded and not a.on_gpu
    assert res.get("a").device == "cpu" and res.used("cuda:0") == 600 * MB
    assert [e.action for e in heard if isinstance(e, ModelEvicted)] == ["offloaded"]


async def test_a_model_larger_than_the_budget_alone_is_refused_with_a_fix(make_settings) -> None:
    res, _ = residency(make_settings)
    log: list[str] = []
    await load(res, "small", 100, log)
    with pytest.raises(GpuBudgetError) as err:
        await load(res, "huge", 2000, log)
    assert "gpu.vram_budget_mb" in str(err.value) and "smaller model" in str(err.value)
    assert log == [] and res.get("huge") is None and res.get("small") is not None


async def test_a_failed_load_is_forgotten(make_settings) -> None:
    res, _ = residency(make_settings)
    with pytest.raises(RuntimeError):
        async with res.admitting("broken", "chat", 100 * MB, "cuda", Model("x", []).unload):
            raise RuntimeError("load failed")
    assert res.residents() == [] and res.used("cuda:0") == 0


async def test_two_jobs_that_cannot_coexist_are_serialized(make_settings) -> None:
    """Image generation needs 500 MB of working memory beside two 200 MB models (budget
    1000): a chat job (100 MB) may run beside it only after it ends."""
    res, heard = residency(make_settings)
    log: list[str] = []
    await load(res, "chat", 200, log)
    await load(res, "image", 200, log, kind="image")
    timeline: list[str] = []

    async def job(key: str, mb: int, seconds: float) -> None:
        async with res.gpu_slot(key, mb * MB):
            timeline.append(f"start {key}")
            assert res.used("cuda:0") <= 1000 * MB
            await asyncio.sleep(seconds)
            timeline.append(f"end {key}")

    image = asyncio.create_task(job("image", 500, 0.2))
    await asyncio.sleep(0.01)
    chat = asyncio.create_task(job("chat", 150, 0.01))
    await asyncio.sleep(0.05)
    assert res.waiting == ["chat"]
    await asyncio.gather(image, chat)
    assert timeline == ["start image", "end image", "start chat", "end chat"]
    waiting = [e for e in heard if isinstance(e, GpuWaiting)]
    assert waiting == [GpuWaiting("chat", 150 * MB, ("image",))]
    acquired = [e for e in heard if isinstance(e, GpuAcquired)]
    assert [e.key for e in acquired] == ["chat"] and acquired[0].waited_s > 0.1
    assert log == [] and res.waiting == []  # both models still loaded: nothing was evicted


async def test_jobs_that_fit_together_run_together(make_settings) -> None:
    res, heard = residency(make_settings)
    await load(res, "chat", 200, [])
    await load(res, "image", 200, [], kind="image")
    running: list[int] = []
    peak = 0

    async def job(key: str) -> None:
        nonlocal peak
        async with res.gpu_slot(key, 100 * MB):
            running.append(1)
            peak = max(peak, len(running))
            await asyncio.sleep(0.05)
            running.pop()

    await asyncio.gather(job("chat"), job("image"))
    assert peak == 2 and not [e for e in heard if isinstance(e, GpuWaiting)]


async def test_a_busy_model_is_not_evicted_the_load_waits_for_it(make_settings) -> None:
    res, heard = residency(make_settings)
    log: list[str] = []
    await load(res, "chat", 600, log)
    order: list[str] = []

    async def generate() -> None:
        async with res.gpu_slot("chat"):
            await asyncio.sleep(0.15)
            order.append("chat done")

    gen = asyncio.create_task(generate())
    await asyncio.sleep(0.01)
    await load(res, "image", 600, log, kind="image")
    order.append("image loaded")
    await gen
    assert order == ["chat done", "image loaded"] and log == ["unload chat"]
    assert any(isinstance(e, GpuWaiting) and e.key == "image" for e in heard)


async def test_a_job_makes_room_by_evicting_idle_models(make_settings) -> None:
    res, heard = residency(make_settings)
    log: list[str] = []
    await load(res, "chat", 400, log)
    await load(res, "image", 400, log, kind="image")
    async with res.gpu_slot("image", 500 * MB):
        assert log == ["unload chat"]
    assert [e.key for e in heard if isinstance(e, ModelEvicted)] == ["chat"]


async def test_unload_by_request_and_idle_unload(make_settings) -> None:
    res, heard = residency(make_settings, idle_unload_s=1)
    log: list[str] = []
    await load(res, "a", 100, log)
    await load(res, "b", 100, log)
    event = await res.unload("a")
    assert event.reason == "unloaded by request" and log == ["unload a"]
    assert await res.unload("a") is None
    res.get("b").last_used = time.monotonic() - 5  # idle for 5 s (limit 1 s)
    assert [e.key for e in await res.unload_idle()] == ["b"]
    assert "idle for 5s" in heard[-1].reason and res.residents() == []
    await res.aclose()


async def test_idle_unload_is_off_by_default(make_settings) -> None:
    res, _ = residency(make_settings)
    await load(res, "a", 100, [])
    res.get("a").last_used = time.monotonic() - 10**6
    assert await res.unload_idle() == [] and res.get("a") is not None


async def test_idle_timer_unloads_on_its_own(make_settings) -> None:
    res, heard = residency(make_settings, idle_unload_s=1)
    log: list[str] = []
    await load(res, "a", 100, log)
    res.get("a").last_used = time.monotonic() - 5
    deadline = time.monotonic() + 5
    while not log and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert log == ["unload a"]
    await res.aclose()


# -- real models through the engine, on the CPU ----------------------------------------


async def test_real_chat_model_loads_unloads_and_is_evicted_lru(
    make_settings, smollm_path
) -> None:
    """SmolLM2 (about 400 MB estimated at a 2k context) and a 500 MB image model do not fit
    a 1000 MB budget together: loading the image model unloads the idle chat model, and the
    next message loads it back."""
    settings = make_settings(
        gpu={"vram_budget_mb": 1000},
        generation={"temperature": 0.0, "max_tokens": 4, "context_length": 2048},
    )
    engine = Engine(settings)
    heard: list = []
    engine.residency.subscribe(heard.append)
    try:
        await engine.load_model(str(smollm_path))
        chat = engine.residency.get(engine.model.name)
        assert chat is not None and chat.kind == "chat" and chat.device == "cpu"
        # On the CPU the estimate stands (mmapped weights make RSS deltas meaningless).
        assert not chat.loading and chat.bytes == chat.estimate_bytes > 300 * MB
        image = Model("tiny-image", [])
        async with engine.residency.admitting("tiny-image", "image", 700 * MB, "cpu",
                                              image.unload) as adm:  # fmt: skip
            adm.measured_bytes = 700 * MB
        assert engine.model is None and engine.last_loaded is None
        (evicted,) = [e for e in heard if isinstance(e, ModelEvicted)]
        assert evicted.key == chat.key and evicted.kind == "chat"
        assert "to make room for tiny-image" in evicted.reason
        # Chatting loads the chat model back, evicting the now idle image model.
        conv = engine.new_conversation(str(smollm_path))
        tokens = [e async for e in engine.chat(conv.id, "Hi") if isinstance(e, TokenDelta)]
        assert tokens and engine.model is not None and engine.model.loaded
        assert not image.loaded
        assert [e.key for e in heard if isinstance(e, ModelEvicted)][-1] == "tiny-image"
        await engine.unload_model()
        assert engine.residency.residents() == []
    finally:
        await engine.aclose()


async def test_a_job_that_leaves_no_room_waits_for_the_real_reply(
    make_settings, smollm_path
) -> None:
    """An image job needing more than the room left beside SmolLM2 waits while a reply is
    generated, then the (now idle) chat model is unloaded to make room for it."""
    settings = make_settings(
        gpu={"vram_budget_mb": 1000},
        generation={"temperature": 0.0, "max_tokens": 24, "context_length": 2048},
    )
    engine = Engine(settings)
    heard: list = []
    engine.residency.subscribe(heard.append)
    try:
        await engine.load_model(str(smollm_path))
        key = engine.model.name
        room = 1000 * MB - engine.residency.used("cpu")
        order: list[str] = []

        async def reply() -> None:
            conv = engine.new_conversation(str(smollm_path))
            async for event in engine.chat(conv.id, "Count to twenty."):
                if isinstance(event, TokenDelta) and not order:
                    order.append("reply streaming")
            order.append("reply done")

        async def image_job() -> None:
            async with engine.residency.gpu_slot("image-job", room + 50 * MB):
                order.append("image job runs")

        chat = asyncio.create_task(reply())
        while not order:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(chat, image_job()), 60)
        assert order == ["reply streaming", "reply done", "image job runs"]
        assert [e.key for e in heard if isinstance(e, GpuWaiting)] == ["image-job"]
        (evicted,) = [e for e in heard if isinstance(e, ModelEvicted)]
        assert evicted.key == key and "image-job" in evicted.reason
        assert engine.model is None
    finally:
        await engine.aclose()



# -- the tiny diffusers pipeline and SmolLM2 share one budget ---------------------------


def _shared_engine(make_settings, smollm_path, tiny_sd_dir, spare_mb: int) -> Engine:
    """An engine whose budget holds SmolLM2 plus `spare_mb`: too little for the image model
    (its weights, about 3 MB, or a job's working memory) beside it."""
    from genai_tui.engine.chat.local import memory_needed
    from genai_tui.engine.models.gguf_info import read_gguf

    chat_mb = -(-memory_needed(read_gguf(smollm_path), 2048) // MB)
    settings = make_settings(
        gpu={"vram_budget_mb": chat_mb + spare_mb},
        generation={"temperature": 0.0, "max_tokens": 16, "context_length": 2048},
        image={"threads": 1},
    )
    settings.models_path.mkdir(parents=True, exist_ok=True)
    (settings.models_path / "tiny-sd").symlink_to(tiny_sd_dir)
    return Engine(settings)


async def test_real_image_and_chat_models_evict_each_other(
    make_settings, smollm_path, tiny_sd_dir
) -> None:
    engine = _shared_engine(make_settings, smollm_path, tiny_sd_dir, spare_mb=1)
    heard: list = []
    engine.residency.subscribe(heard.append)
    try:
        await engine.load_model(str(smollm_path))
        chat_key = engine.model.name
        loaded = await engine.images.load("tiny-sd")
        image = engine.residency.get("tiny-sd")
        assert image is not None and image.kind == "image" and image.device == "cpu"
        assert image.measured_bytes == loaded.memory_bytes > 1_000_000  # measured after load
        assert engine.model is None  # the chat model made room
        assert [(e.key, e.kind) for e in heard if isinstance(e, ModelEvicted)] == [
            (chat_key, "chat")
        ]
        # Images are generated with the image model resident.
        request = engine.images.request_defaults("a red barn", width=64, height=64, steps=2,
                                                 variations=1, seed=1)  # fmt: skip
        events = [e async for e in engine.images.generate(request)]
        assert events and engine.images.model is not None
        # A chat reply brings SmolLM2 back and the idle image model goes.
        conv = engine.new_conversation(chat_key)
        assert [e async for e in engine.chat(conv.id, "Hi") if isinstance(e, TokenDelta)]
        assert engine.images.model is None and engine.residency.get("tiny-sd") is None
        assert [e.key for e in heard if isinstance(e, ModelEvicted)][-1] == "tiny-sd"
        await engine.images.unload()
        await engine.unload_model()
        assert engine.residency.residents() == []
    finally:
        await engine.aclose()


async def test_real_image_job_waits_for_a_reply_instead_of_colliding(
    make_settings, smollm_path, tiny_sd_dir
) -> None:
    """Both models fit (budget: SmolLM2 + 12 MB), but not a 64x64 job's ~10 MB working
    memory beside them: the image run waits for the reply, then the idle chat model goes."""
    engine = _shared_engine(make_settings, smollm_path, tiny_sd_dir, spare_mb=12)
    heard: list = []
    engine.residency.subscribe(heard.append)
    try:
        await engine.images.load("tiny-sd")
        await engine.load_model(str(smollm_path))
        assert engine.images.model is not None  # both resident
        order: list[str] = []

        async def reply() -> None:
            conv = engine.new_conversation(engine.model.name)
            async for event in engine.chat(conv.id, "Count to ten."):
                if isinstance(event, TokenDelta) and not order:
                    order.append("reply streaming")
            order.append("reply done")

        async def images() -> None:
            request = engine.images.request_defaults("a barn", width=64, height=64, steps=2,
                                                     variations=1, seed=1)  # fmt: skip
            async for _ in engine.images.generate(request):
                if "images run" not in order:
                    order.append("images run")

        chat = asyncio.create_task(reply())
        while not order:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(chat, images()), 120)
        assert order == ["reply streaming", "reply done", "images run"]
        assert [e.key for e in heard if isinstance(e, GpuWaiting)] == ["tiny-sd"]
        evicted = [e for e in heard if isinstance(e, ModelEvicted)]
        assert [e.kind for e in evicted] == ["chat"] and "job on tiny-sd" in evicted[0].reason
    finally:
        await engine.aclose()



def test_labels_show_a_path_as_its_file_name() -> None:
    from genai_tui.engine.gpu.residency import label

    assert label("/models/x/SmolLM2.Q4_1.gguf") == "SmolLM2.Q4_1.gguf"
    assert label("acme/SmolLM2-GGUF") == "acme/SmolLM2-GGUF" and label("tiny-sd") == "tiny-sd"


async def test_a_gpu_shared_with_other_processes_counts_their_memory(make_settings, monkeypatch):
    """80 GB card; a foreign process (another user's server) holds 64 GB. Admission goes by
    what is free plus what we hold, not by the card's total, and names who holds the rest."""
    import os
    import subprocess
    import sys

    from fake_nvml import GIB, FakeGpu, FakeNvml

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ours = (os.getpid(), 6 * GIB)
        gpu = FakeGpu(mem_total=80 * GIB, mem_used=70 * GIB, processes=[(other.pid, 64 * GIB), ours])
        FakeNvml(gpus=[gpu]).install(monkeypatch.setattr)
        res = Residency(make_settings(gpu={"reserve_mb": 512}).gpu)
        log: list[str] = []
        mine = Model("ours-6gb", log)
        async with res.admitting("ours-6gb", "chat", 6 * GIB, "cuda:0", mine.unload):
            pass
        # 10 GB free + our 6 GB - 0.5 GB reserve = 15.5 GB: a 20 GB model cannot fit, even
        # with ours unloaded (so ours stays)...
        with pytest.raises(GpuBudgetError) as info:
            async with res.admitting("big-20gb", "chat", 20 * GIB, "cuda:0", Model("b", log).unload):
                pass
        said = str(info.value)
        assert f"pid {other.pid}" in said and "python" in said.lower()
        assert human_bytes(64 * GIB) in said
        assert "free" in said and res.get("big-20gb") is None and log == []
        # ...but a 12 GB one does (the card's total would say 80), once our idle 6 GB
        # model makes room.
        async with res.admitting("mid-12gb", "chat", 12 * GIB, "cuda:0", Model("m", log).unload):
            pass
        assert log == ["unload ours-6gb"] and res.get("mid-12gb") is not None
    finally:
        other.kill()
        other.wait()
