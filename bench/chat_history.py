"""Streaming cost in a long chat: the event loop's CPU per streamed token in a new chat
and in chats with earlier messages, in the full TUI.

Textual lays out every widget of a screen at each layout, and a streamed reply asks for
one at each line it grows, so what a token costs grew with the widgets on screen: with
every message of a chat drawn, a chat of 20 messages cost about twice a new one. The
chat screen draws a chat's last messages only (genai_tui/screens/chat_history.py); this
bench shows what a token costs with 0 and with --history N earlier exchanges.

For each chat: the earlier exchanges are saved in the store, the chat is opened, one
reply is streamed (its prompt is read: not timed), then a second one is timed (the
prompt shares the first reply's cached prefix). Per chat it prints the event-loop
thread's CPU time from Enter to the reply's end, per token; the full layouts (count,
median ms); the widgets on screen; and the ratio of the long chat to the new one.

    .venv/bin/python bench/chat_history.py [--history 40] [--tokens 150] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chat_stream as cs  # noqa: E402  (the model, settings and timer helpers)

REPLY = ("Here is a longer answer with **bold** words and `code`, spanning a few lines "
         "of text so that it wraps in the view. ") * 3  # fmt: skip


def seed(engine: Any, pairs: int) -> int:
    conv = engine.new_conversation(engine.model.name)
    for i in range(pairs):
        engine.store.add_message(conv.id, "user", f"Question {i}: tell me about item {i}.")
        engine.store.add_message(conv.id, "assistant",
                                 f"{REPLY}\n\n- point one\n- point two\n\n{REPLY}")  # fmt: skip
    return conv.id


async def one_chat(pilot: Any, timer: Any, pairs: int, layouts: list[float]) -> dict[str, Any]:
    screen = pilot.app.screen
    await screen.show_conversation(seed(screen.engine, pairs))
    await pilot.pause()
    for timed in (False, True):
        await cs.type_prompt(pilot, screen)
        await pilot.pause()
        timer.reset()
        layouts.clear()
        cpu = time.thread_time()
        await pilot.press("enter")
        await timer.done.wait()
        cpu = time.thread_time() - cpu
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not timed:
            continue
        tokens = max(1, timer.deltas)
        return {
            "history_pairs": pairs,
            "tokens": tokens,
            "ui_ms_per_token": round(cpu * 1000 / tokens, 2),
            "layouts": len(layouts),
            "layout_ms_median": round(statistics.median(layouts) * 1000, 2) if layouts else 0.0,
            "widgets": len(list(screen.query("*"))),
        }
    raise AssertionError("unreachable")


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from textual._compositor import Compositor

    from genai_tui.app import GenaiApp

    tmp = Path(tempfile.mkdtemp(prefix="genai-bench-"))
    cs.isolate(tmp)
    model = Path(args.model)
    settings = cs.make_settings(tmp, model, args.tokens, args.ctx, 1)
    engine = await cs.new_engine(settings, tmp / "tui.sqlite3", model)
    timer = cs.StreamTimer(engine)
    layouts: list[float] = []
    reflow = Compositor.reflow

    def timed_reflow(self: Any, *a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return reflow(self, *a, **k)
        finally:
            layouts.append(time.perf_counter() - start)

    Compositor.reflow = timed_reflow  # type: ignore[method-assign]
    app = GenaiApp(settings, engine=engine)
    app.driver_class = cs.null_terminal_driver()
    chats = []
    async with app.run_test(headless=False, size=cs.SIZE) as pilot:
        await pilot.pause()
        for pairs in (0, args.history):
            chats.append(await one_chat(pilot, timer, pairs, layouts))
    await engine.aclose()
    new, long = chats
    return {"chats": chats,
            "long_over_new": round(long["ui_ms_per_token"] / new["ui_ms_per_token"], 3)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=cs.default_model(), help="a GGUF chat model")
    parser.add_argument("--history", type=int, default=40, help="earlier exchanges (default 40)")
    parser.add_argument("--tokens", type=int, default=150, help="tokens per reply")
    parser.add_argument("--ctx", type=int, default=16384, help="context length")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.model:
        print("no GGUF model: pass --model PATH", file=sys.stderr)
        return 2
    out = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{'earlier exchanges':>18} {'ui ms/token':>12} {'layouts':>8} {'layout ms':>10} {'widgets':>8}")
    for c in out["chats"]:
        print(f"{c['history_pairs']:>18} {c['ui_ms_per_token']:>12.2f} {c['layouts']:>8} "
              f"{c['layout_ms_median']:>10.2f} {c['widgets']:>8}")  # fmt: skip
    print(f"long chat over new chat: {out['long_over_new']:.2f} x the event loop's CPU per token")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
