"""GPU monitor cost: CPU time of the sampler, and of the whole app idling on the GPU screen.

Three measurements over the same window (`--seconds`, default 60), one after another:

  (a) sampler   `GpuSampler` alone on its thread at `--interval` (default 1 s):
                the thread's own CPU time (time.thread_time, summed per sample)
  (b) app       `GenaiApp` under `run_test()` on the GPU screen (F4), idle: the
                process's CPU time (all threads: event loop, sampler, ...); frames
                go through a null terminal driver that encodes them and drops the
                bytes (as bench/chat_stream.py does)
  (c) bare      a bare Textual app (a Static and a Footer) idling the same way: the
                floor Textual itself costs on this machine

Target: (b), which includes the sampler, at most 2% of one core.

Without an NVIDIA driver the sampler has no GPU to read; `--fake-gpus N` installs the
fake NVML of tests/fake_nvml.py (N GPUs whose utilization moves every sample) so the
GPU path (cards, sparklines, process table) is exercised. The output says which.
The fake answers in Python; a real NVML call is an ioctl, typically 10-100 us each.

    .venv/bin/python bench/monitor.py [--seconds 60] [--fake-gpus 4] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "bench", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

TARGET_PCT = 2.0
SIZE = (120, 40)


def install_fake(count: int) -> str:
    """N fake GPUs whose utilization, memory and power move every sample."""
    from fake_nvml import GIB, FakeGpu, FakeNvml

    class MovingNvml(FakeNvml):
        def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
            gpu = self.gpus[handle.index]
            gpu.util_gpu = random.randint(0, 100)
            gpu.mem_used = random.randint(1, 70) * GIB
            gpu.power_mw = random.randint(50_000, 350_000)
            return super().nvmlDeviceGetUtilizationRates(handle)

    me = os.getpid()
    gpus = [FakeGpu(name=f"NVIDIA Fake H100 #{i}", processes=[(me, 2 * GIB), (1, GIB)])
            for i in range(count)]  # fmt: skip
    MovingNvml(gpus).install()
    return f"fake NVML, {count} GPU{'s' if count != 1 else ''} (tests/fake_nvml.py)"


def nvml_source() -> str:
    from genai_tui.engine.gpu.nvml import NvmlReader

    reader = NvmlReader()
    try:
        state = reader.open()
        return f"real NVML, {len(reader.read())} GPU(s)" if state == "ok" else (
            f"no GPU ({state}): host only"
        )  # fmt: skip
    finally:
        reader.close()


def measure_sampler(seconds: float, interval: float) -> dict[str, float]:
    from genai_tui.config import GpuSettings
    from genai_tui.engine.gpu.sampler import GpuSampler

    sampler = GpuSampler(GpuSettings(interval_s=interval))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    wall = time.perf_counter() - wall0
    samples = sampler.latest.seq if sampler.latest else 0
    return {
        "sampler_cpu_pct": 100 * sampler.cpu_s / wall,
        "sampler_process_cpu_pct": 100 * (time.process_time() - cpu0) / wall,
        "sampler_ms_per_sample": 1000 * sampler.cpu_s / max(1, samples),
        "samples": samples,
    }


async def idle(app: Any, seconds: float, before: Any) -> tuple[float, int]:
    """CPU % of the process while `app` idles for `seconds`; frames written meanwhile."""
    from chat_stream import null_terminal_driver

    app.driver_class = null_terminal_driver()
    driver = app.driver_class
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await before(pilot)
        frames0 = len(driver.frames)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        frames = len(driver.frames) - frames0
    driver.frames.clear()
    return 100 * cpu / wall, frames


async def measure_app(seconds: float, interval: float) -> dict[str, float]:
    from genai_tui.app import GenaiApp
    from genai_tui.config import load_settings
    from genai_tui.screens.gpu import GpuScreen

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            Path(tmp) / "missing.toml", data_dir=Path(tmp) / "data",
            models_dir=Path(tmp) / "models", gpu={"interval_s": interval},
        )  # fmt: skip
        app = GenaiApp(settings)

        async def open_gpu(pilot: Any) -> None:
            await pilot.press("f4")
            deadline = time.monotonic() + 30
            while not (isinstance(app.screen, GpuScreen) and app.screen.shown is not None):
                if time.monotonic() > deadline:
                    raise RuntimeError("the GPU screen showed no sample in 30 s")
                await pilot.pause(0.05)
            await pilot.pause(2 * interval)  # the first samples settle the layout

        pct, frames = await idle(app, seconds, open_gpu)
    return {"idle_app_cpu_pct": pct, "idle_app_frames_per_s": frames / seconds}


async def measure_bare(seconds: float) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Static

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("bare")
            yield Footer()

    async def settle(pilot: Any) -> None:
        await pilot.pause(0.5)

    pct, frames = await idle(Bare(), seconds, settle)
    return {"bare_app_cpu_pct": pct, "bare_app_frames_per_s": frames / seconds}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of each window (60)")
    p.add_argument("--interval", type=float, default=1.0, help="sampling interval (1.0 s)")
    p.add_argument("--fake-gpus", type=int, default=0, metavar="N",
                   help="use N fake GPUs (tests/fake_nvml.py) instead of the real NVML")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    source = install_fake(args.fake_gpus) if args.fake_gpus > 0 else nvml_source()
    log(f"GPU source: {source}; {args.seconds:g} s per window, sampling every "
        f"{args.interval:g} s; {os.cpu_count()} CPUs")  # fmt: skip
    result: dict[str, Any] = {"gpu_source": source, "seconds": args.seconds,
                              "interval_s": args.interval}  # fmt: skip
    log("(a) sampler alone ...")
    result.update(measure_sampler(args.seconds, args.interval))
    log("(b) app idle on the GPU screen ...")
    result.update(asyncio.run(measure_app(args.seconds, args.interval)))
    log("(c) bare Textual app idle ...")
    result.update(asyncio.run(measure_bare(args.seconds)))
    result["target_pct"] = TARGET_PCT
    result["target_met"] = result["idle_app_cpu_pct"] <= TARGET_PCT
    if args.json:
        print(json.dumps(result))
        return 0
    print()
    print(f"{'':30} {'CPU % of one core':>18}")
    print(f"{'(a) sampler thread':30} {result['sampler_cpu_pct']:18.3f}"
          f"   ({result['sampler_ms_per_sample']:.2f} ms per sample, "
          f"{result['samples']} samples)")  # fmt: skip
    print(f"{'(b) app idle on GPU screen':30} {result['idle_app_cpu_pct']:18.3f}"
          f"   ({result['idle_app_frames_per_s']:.1f} frames/s; includes the sampler)")
    print(f"{'(c) bare Textual app idle':30} {result['bare_app_cpu_pct']:18.3f}"
          f"   ({result['bare_app_frames_per_s']:.1f} frames/s)")
    verdict = "met" if result["target_met"] else "MISSED"
    print(f"\ntarget: (b) <= {TARGET_PCT:g}% of one core: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
