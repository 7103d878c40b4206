"""Which GPU a chat model goes to on a box with four (the fake NVML's GPUs): auto picks
the freest GPU that fits, an explicit GPU is admitted against its own memory and evicts
only there, a split counts its share on each GPU, and a GPU the box lacks is refused
naming the ones it has."""

from __future__ import annotations

import asyncio

import pytest
from fake_nvml import GIB, four_gpus

from genai_tui.engine.core.errors import GpuBudgetError
from genai_tui.engine.gpu.placement import device_label, llama_args, parse_device
from genai_tui.engine.gpu.residency import Residency

# four_gpus(): GPU0 80 GB with 20 free, GPU1 80 GB with 72 free, GPU2 24 GB with 23 free,
# GPU3 16 GB with 13 free.


class Model:
    """A model residency admits: it says what it needs and where, and hears where it went."""

    def __init__(self, name: str, need: int, device: str, log: list[str]) -> None:
        self.name, self.need, self.device, self.log = name, need, device, log
        self.placed: str | None = None

    async def footprint(self) -> tuple[int, str]:
        return self.need, self.device

    def place(self, device: str) -> None:
        self.placed = device

    async def load(self) -> Model:
        return self

    def measured_bytes(self) -> int | None:
        return None

    async def close(self) -> None:
        pass

    async def unload(self) -> None:
        await asyncio.sleep(0)
        self.log.append(f"unload {self.name}")


@pytest.fixture
def res(make_settings, monkeypatch) -> Residency:
    four_gpus().install(monkeypatch.setattr)
    return Residency(make_settings(gpu={"reserve_mb": 0}).gpu)


async def load(res: Residency, name: str, gib: float, device: str, log: list[str]) -> Model:
    model = Model(name, int(gib * GIB), device, log)
    await res.load(name, "chat", model, model.unload)
    return model


async def test_auto_picks_the_gpu_with_the_most_free_memory_that_fits(res) -> None:
    log: list[str] = []
    big = await load(res, "big", 40, "cuda:auto", log)
    assert big.placed == "cuda:1"  # 72 GB free; GPU0 has 20
    assert res.get("big").where == "GPU1" and res.used("cuda:1") == 40 * GIB
    assert res.used("cuda:0") == 0 and log == []


async def test_an_explicit_gpu_is_admitted_against_its_own_memory_and_evicts_only_there(
    make_settings, monkeypatch
) -> None:
    four_gpus().install(monkeypatch.setattr)
    res = Residency(make_settings(gpu={"reserve_mb": 0, "vram_budget_mb": 10 * 1024}).gpu)
    log: list[str] = []
    await load(res, "on-gpu0", 6, "cuda:0", log)
    await load(res, "on-gpu2", 6, "cuda:2", log)
    await load(res, "also-gpu2", 6, "cuda:2", log)  # 12 GB > GPU2's 10 GB budget
    assert log == ["unload on-gpu2"]  # GPU0's model stays
    assert {r.key: r.where for r in res.residents()} == {"also-gpu2": "GPU2", "on-gpu0": "GPU0"}
    assert res.used("cuda:0") == res.used("cuda:2") == 6 * GIB


async def test_a_split_counts_its_share_on_each_gpu(make_settings, monkeypatch) -> None:
    four_gpus().install(monkeypatch.setattr)
    res = Residency(make_settings(gpu={"reserve_mb": 0, "vram_budget_mb": 10 * 1024}).gpu)
    log: list[str] = []
    await load(res, "on-gpu1", 4, "cuda:1", log)
    await load(res, "on-gpu2", 4, "cuda:2", log)
    split = await load(res, "split", 8, "cuda:split=3,1", log)  # 6 GB on GPU0, 2 on GPU1
    assert split.placed == "cuda:0+1=3,1" and res.get("split").where == "GPU0+1"
    assert res.used("cuda:0") == 6 * GIB and res.used("cuda:1") == 6 * GIB
    assert log == []  # GPU1: 4 + 2 fit in 10
    await load(res, "big-split", 14, "cuda:split=1,1", log)  # 7 + 7: both GPUs evict
    assert "unload split" in log and "unload on-gpu1" in log and "unload on-gpu2" not in log
    assert llama_args("cuda:0+1=3,1") == {"split_mode": 1, "main_gpu": 0,
                                          "tensor_split": [0.75, 0.25]}  # fmt: skip
    assert llama_args("cuda:1") == {"split_mode": 0, "main_gpu": 1}


async def test_split_without_shares_follows_free_memory_on_all_gpus(res) -> None:
    model = await load(res, "split", 8, "cuda:split", [])
    assert model.placed is not None and model.placed.startswith("cuda:0+1+2+3=")
    assert res.used("cuda:1") > res.used("cuda:3") > 0  # 72 GB free vs 13


async def test_a_gpu_the_box_lacks_is_refused_naming_its_gpus(res) -> None:
    with pytest.raises(GpuBudgetError) as refused:
        await load(res, "nowhere", 1, "cuda:7", [])
    said = str(refused.value)
    assert "GPU 7" in said and "GPU0 (NVIDIA H100 80GB HBM3)" in said and "GPU3 (NVIDIA T4)" in said
    assert res.residents() == []


def test_device_setting_words() -> None:
    assert [parse_device(v) for v in ("auto", " 1 ", "SPLIT", "split:3,1", "3,1")] == [
        "auto", "1", "split", "split:3,1", "split:3,1"]  # fmt: skip
    for bad in ("gpu1", "-1", "split:0,0", "cuda"):
        with pytest.raises(ValueError):
            parse_device(bad)
    assert device_label("cpu") == "CPU" and device_label("cuda") == "GPU0"
