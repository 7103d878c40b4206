"""GPU sampling against a fake NVML (1 and 4 GPUs, n/a fields, no driver, a GPU lost)."""

from __future__ import annotations

import os
import time

import pynvml
import pytest
from fake_nvml import GIB, FakeGpu, FakeNvml, four_gpus, no_driver, one_gpu

from genai_tui.engine.gpu import nvml as gpumod
from genai_tui.engine.gpu.nvml import HostReader, NvmlReader, na, read_once, snapshot
from genai_tui.engine.gpu.sampler import GpuSampler


def test_one_gpu_every_field(monkeypatch) -> None:
    one_gpu(mem_used=20 * GIB).install(monkeypatch.setattr)
    snap = read_once(cpu_window_s=0.01)
    assert snap.state == "ok" and snap.message == ""
    assert snap.driver == "550.54.15" and snap.cuda == "12.4"
    (g,) = snap.gpus
    assert g.name == "NVIDIA Fake A100 80GB" and not g.lost
    assert (g.util_gpu, g.util_mem, g.temp_c, g.fan_pct) == (37, 12, 54, 30)
    assert g.mem_used == 20 * GIB and g.mem_free == 60 * GIB and g.mem_pct == 25.0
    assert (g.power_w, g.power_limit_w, g.power_pct) == (120.0, 400.0, 30.0)
    assert (g.clock_sm_mhz, g.clock_mem_mhz, g.pcie_tx_kbps) == (1410, 1593, 1200)
    assert g.throttle == ("idle",)
    mine = [p for p in snap.processes if p.is_self]
    assert [p.pid for p in mine] == [os.getpid()] and mine[0].gpu_memory == 1536 * 1024**2
    assert mine[0].name and mine[0].user not in ("", "?")
    other = next(p for p in snap.processes if p.pid == 1)
    assert not other.is_self


def test_four_gpus_and_not_supported_fields(monkeypatch) -> None:
    four_gpus().install(monkeypatch.setattr)
    snap = read_once(cpu_window_s=0.01)
    assert [g.index for g in snap.gpus] == [0, 1, 2, 3]
    t4 = snap.gpus[3]
    assert t4.name == "NVIDIA T4" and t4.util_gpu == 55 and t4.temp_c == 54
    assert t4.fan_pct is None and t4.power_w is None and t4.power_pct is None
    assert t4.throttle is None and t4.pcie_rx_kbps is None
    assert na(t4.fan_pct, "{}%") == "n/a" and na(snap.gpus[0].fan_pct, "{}%") == "30%"
    # usedGpuMemory None (as under MIG or WSL) is kept as unknown, not 0.
    assert [p.gpu_memory for p in t4.processes] == [None]
    assert len(snap.processes) == 4  # this app on GPUs 0 and 3, PID 1 on 0 and 1


@pytest.mark.parametrize(
    "code", [pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED]
)
def test_no_driver_is_a_state_and_the_host_is_still_read(monkeypatch, code) -> None:
    no_driver(code).install(monkeypatch.setattr)
    snap = read_once(cpu_window_s=0.01)
    assert snap.state == "no_driver" and snap.gpus == ()
    assert "No NVIDIA driver" in snap.message and "Install the NVIDIA driver" in snap.message
    assert snap.host.ram_total > 0 and snap.host.rss > 0 and snap.host.cpu_percent
    assert gpumod.free_vram() is None


def test_driver_without_gpus(monkeypatch) -> None:
    FakeNvml([]).install(monkeypatch.setattr)
    snap = read_once(cpu_window_s=0.0)
    assert snap.state == "no_gpu" and "no GPU" in snap.message


def test_gpu_lost_mid_run_keeps_the_others(monkeypatch) -> None:
    fake = four_gpus().install(monkeypatch.setattr)
    nvml, host = NvmlReader(), HostReader()
    snapshot(nvml, host)
    calls = fake.calls
    first = snapshot(nvml, host)
    per_gpu = (fake.calls - calls) / 4
    assert not any(g.lost for g in first.gpus)
    fake.lose(1)
    second = snapshot(nvml, host)
    assert [g.lost for g in second.gpus] == [False, True, False, False]
    lost = second.gpus[1]
    assert lost.name == "NVIDIA H100 80GB HBM3" and lost.util_gpu is None
    assert second.gpus[0].util_gpu == 90
    calls = fake.calls
    snapshot(nvml, host)  # a lost GPU is not asked again; the other three still are
    assert fake.calls - calls == 3 * per_gpu
    assert snapshot(nvml, host).gpus[1].lost


def test_free_and_total_memory_for_fit_and_budget(monkeypatch) -> None:
    four_gpus().install(monkeypatch.setattr)
    assert gpumod.free_vram() == 72 * GIB  # GPU 1: 80 - 8
    assert gpumod.gpu_memory(2, free=False) == 24 * GIB
    from genai_tui.engine.models import hub_files

    assert hub_files.free_vram() == 72 * GIB  # the Models screen's fit estimate reads the same


def test_sampler_thread_history_is_bounded(monkeypatch, make_settings) -> None:
    fake = FakeNvml([FakeGpu(), FakeGpu(unsupported={"power"})]).install(monkeypatch.setattr)
    settings = make_settings(gpu={"interval_s": 0.1, "history_s": 10})
    sampler = GpuSampler(settings.gpu)
    assert sampler.history.length == 100
    sampler.history = type(sampler.history)(5)  # a 5-sample window keeps the test short
    sampler.start()
    try:
        deadline = time.monotonic() + 10
        while len(sampler.history) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        fake.gpus[0].util_gpu = 99
        seq = sampler.latest.seq
        while sampler.latest.seq < seq + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sampler.stop()
    assert not sampler.running
    util = sampler.history.series(0, "util")
    assert len(util) == 5 and util[-1] == 99.0 and util[0] == 37.0
    assert sampler.history.series(1, "power") == [0.0] * 5  # n/a kept aligned as 0
    assert sampler.history.series(0, "power")[-1] == 30.0
    assert sampler.cpu_s > 0 and sampler.error == ""


def test_sampler_survives_a_gpu_lost_and_keeps_sampling(monkeypatch, make_settings) -> None:
    fake = one_gpu().install(monkeypatch.setattr)
    sampler = GpuSampler(make_settings(gpu={"interval_s": 0.1}).gpu)
    sampler.start()
    try:
        deadline = time.monotonic() + 10
        while sampler.latest is None and time.monotonic() < deadline:
            time.sleep(0.02)
        fake.lose(0)
        seq = sampler.latest.seq
        while sampler.latest.seq < seq + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sampler.running and sampler.latest.gpus[0].lost
    finally:
        sampler.stop()


def _has_nvidia_gpu() -> bool:
    reader = NvmlReader()
    try:
        return reader.open() == "ok"
    finally:
        reader.close()


@pytest.mark.cuda
@pytest.mark.skipif(not _has_nvidia_gpu(), reason="needs an NVIDIA GPU and its driver")
def test_real_nvml_reads_every_gpu_and_finds_this_process_absent_or_marked() -> None:
    snap = read_once(cpu_window_s=0.05)
    assert snap.state == "ok" and snap.driver and snap.cuda and snap.gpus
    for g in snap.gpus:
        assert g.name and g.mem_total and g.mem_used is not None and not g.lost
    assert all(p.is_self == (p.pid == os.getpid()) for p in snap.processes)
