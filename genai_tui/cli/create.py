"""`genai-tui imagine` and `genai-tui story`: the chat's create flows, headless.

The chat model plans (or writes the story), the image model draws; progress goes to
stderr, the pictures' paths to stdout (`--json`: one object). The pictures stay in
the gallery; the one-off conversation that carried the request does not stay in the
chat list. Standard library only at the top.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.cli.common import fail, for_stream
from genai_tui.cli.gen import EXIT_INTERRUPTED, StepBar

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.core.events import Clarify
    from genai_tui.engine.engine import Engine

MODES = ("art", "photo", "poster", "transform")


def add_parser(sub: Any) -> None:
    imagine = sub.add_parser(
        "imagine", help="pictures from a request: the chat model writes the prompt",
        description="The chat model turns the request into a diffusion prompt (asking one "
        "question first when the request is vague and stdin is a terminal), then the image "
        "model draws it. Paths on stdout, progress on stderr.",
    )  # fmt: skip
    imagine.add_argument("request", help='what to draw, e.g. "a lighthouse at dusk"')
    imagine.add_argument("--mode", choices=MODES, default="art",
                         help="art (default), photo, poster (a slogan drawn on), transform")
    imagine.add_argument("--init", type=Path, metavar="IMAGE",
                         help="transform: the picture to start from (default: the newest "
                         "in the gallery)")  # fmt: skip
    imagine.add_argument("-n", type=int, metavar="N", help="pictures to make (default: settings)")
    imagine.add_argument("--json", action="store_true", help="print one JSON object")
    story = sub.add_parser(
        "story", help="an illustrated story: N scenes, one picture each",
        description="The chat model writes a titled story in scenes; each scene gets a "
        "picture. With -o DIR the story is written there as Markdown with its pictures.",
    )  # fmt: skip
    story.add_argument("idea", help='what the story is about, e.g. "a fox who learns to fly"')
    story.add_argument("--scenes", type=int, default=3, metavar="N", help="scenes (1-8, default 3)")
    story.add_argument("-o", "--output", type=Path, metavar="DIR",
                       help="write the story as Markdown, pictures beside it, into DIR")
    story.add_argument("--json", action="store_true", help="print one JSON object")


def _ask(question: Clarify) -> str:
    """The planner's question on a terminal; piped input draws the request as written."""
    if sys.stdin is None or not sys.stdin.isatty():
        return "as asked, no more detail"
    sys.stderr.write(for_stream(question.question, sys.stderr) + "\n")
    for n, suggestion in enumerate(question.suggestions, 1):
        sys.stderr.write(f"  {n}. {for_stream(suggestion, sys.stderr)}\n")
    sys.stderr.write("Answer (a number or your words): ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip()
    if answer.isdigit() and 1 <= int(answer) <= len(question.suggestions):
        return question.suggestions[int(answer) - 1]
    return answer or "as asked, no more detail"


def _conversation(engine: Engine, ref: str | None) -> int:
    """A one-off conversation on the chat model named by -m (PROVIDER/MODEL or local)."""
    provider, _, remote = (ref or "").partition("/")
    if remote and provider in {p.name for p in engine.settings.providers}:
        return engine.new_conversation(remote, provider=provider).id
    local = engine.resolve_model(ref) if ref else engine.default_model()
    return engine.new_conversation(local.name if local else "").id


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from asyncio import CancelledError

    from genai_tui.engine.core.errors import GenaiError
    from genai_tui.engine.core.events import (
        Clarify,
        CreateNote,
        CreateStep,
        ImageReady,
        PicturesSaved,
        StepProgress,
    )
    from genai_tui.engine.engine import Engine

    if args.command == "imagine" and args.n is not None:
        image = settings.image.model_copy(update={"variations": max(1, args.n)})
        settings = settings.model_copy(update={"image": image})
    engine = Engine(settings)
    bar = StepBar(sys.stderr)
    ready: list[ImageReady] = []
    saved: int | None = None
    conv_id: int | None = None
    try:
        conv_id = _conversation(engine, getattr(args, "chat_model", None) or args.model)
        answer: str | None = None
        while True:
            if args.command == "story":
                flow = engine.create.story(conv_id, args.idea, args.scenes)
            else:
                request = args.request if args.mode == "art" else f"{args.mode}: {args.request}"
                start = args.init or (engine.create.start_picture(conv_id)
                                      if args.mode == "transform" else None)  # fmt: skip
                flow = engine.create.imagine(conv_id, request, answer, start)
            question = None
            async for event in flow:
                if isinstance(event, StepProgress):
                    bar.step(event)
                elif isinstance(event, CreateStep):
                    bar.say(f"{event.text}…")
                elif isinstance(event, CreateNote):
                    bar.close()
                    sys.stderr.write(for_stream(event.text, sys.stderr) + "\n")
                elif isinstance(event, Clarify):
                    question = event
                elif isinstance(event, ImageReady):
                    ready.append(event)
                    bar.close()
                    if not args.json:
                        print(for_stream(str(event.path), sys.stdout), flush=True)
                elif isinstance(event, PicturesSaved):
                    saved = event.message_id
            if question is None:
                break
            bar.close()
            answer = _ask(question)
        bar.close()
        return _report(args, engine, conv_id, saved, ready)
    except (KeyboardInterrupt, CancelledError):
        engine.stop()
        return EXIT_INTERRUPTED
    except GenaiError as exc:
        bar.close()
        return fail(str(exc))
    finally:
        if conv_id is not None:
            engine.delete_conversation(conv_id)
        await engine.aclose()


def _report(args: argparse.Namespace, engine: Engine, conv_id: int, saved: int | None,
            ready: list[Any]) -> int:  # fmt: skip
    if saved is None:
        return fail("no picture was made", 1)
    message = engine.message(saved)
    out: dict[str, Any] = {"kind": message.kind, **message.meta}
    if args.command == "story" and args.output is not None:
        md, _ = engine.export(conv_id, args.output)
        out["markdown"] = str(md)
        if not args.json:
            print(for_stream(str(md), sys.stdout))
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    return asyncio.run(_run(args, settings))
