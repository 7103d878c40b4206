"""Entry point `genai-tui`: no subcommand opens the TUI; subcommands run headless.

Only the standard library is imported at module level so `--help` stays fast;
settings, the engine and Textual are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui import __version__
from genai_tui.cli import chat as cli_chat
from genai_tui.cli import create as cli_create
from genai_tui.cli import gen as cli_gen
from genai_tui.cli import gpu as cli_gpu
from genai_tui.cli import usage as cli_usage
from genai_tui.cli.common import fail as _fail

if TYPE_CHECKING:
    from genai_tui.config import Settings


def _add_generation_flags(p: argparse.ArgumentParser, default: Any = None) -> None:
    g = p.add_argument_group("generation (override the settings file)")
    add = functools.partial(g.add_argument, default=default)
    add("--temperature", type=float, metavar="T")
    add("--top-p", type=float, metavar="P")
    add("--top-k", type=int, metavar="K")
    add("--repeat-penalty", type=float, metavar="R")
    add("--max-tokens", type=int, metavar="N")
    add("--seed", type=int, metavar="N", help="-1 for a random seed")
    add("--ctx", type=int, metavar="N", help="context length; 0 = the model's own")
    add("--gpu-layers", type=int, metavar="N", help="-1 offloads all layers")
    add("--threads", type=int, metavar="N", help="CPU threads; 0 = cores - 1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genai-tui",
        description="A keyboard-driven terminal workbench for local generative AI. "
        "With no command, opens the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"genai-tui {__version__}")
    parser.add_argument("--config", type=Path, metavar="FILE", help="settings file (TOML)")
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="database and exports")
    parser.add_argument("--models-dir", type=Path, metavar="DIR", help="folder of .gguf models")
    parser.add_argument("-m", "--model", metavar="MODEL", help="model name or .gguf path")
    parser.add_argument("--theme", metavar="NAME", help="Textual theme, e.g. textual-light")
    _add_generation_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = sub.add_parser(
        "chat",
        help="stream one reply to stdout",
        description="Stream a reply to stdout from a local GGUF model or a remote "
        "provider's model (PROVIDER/MODEL). Reads the prompt from stdin when none is given.",
    )
    chat.add_argument("prompt", nargs="?", help="the message (default: read stdin)")
    chat.add_argument("-m", "--model", dest="chat_model", metavar="MODEL",
                      help="model name (see `genai-tui models`), .gguf path, or "
                      "PROVIDER/MODEL for a provider in the settings")  # fmt: skip
    chat.add_argument("-s", "--system", metavar="TEXT", help="system prompt")
    chat.add_argument("--json", action="store_true", help="print one JSON object at the end")
    chat.add_argument("--thinking", action="store_true",
                      help="also print <think> reasoning (to stderr)")  # fmt: skip
    # SUPPRESS: an unset flag here must not blank the same flag given before `chat`.
    _add_generation_flags(chat, default=argparse.SUPPRESS)
    cli_chat.add_flags(chat)

    search = sub.add_parser(
        "search",
        help="search models on the Hugging Face Hub",
        description="Search models on the Hugging Face Hub (or HF_ENDPOINT): one page "
        "of results, most downloaded first.",
    )
    search.add_argument("query", nargs="?", default="", metavar="QUERY",
                        help="text in the repo name (default: everything)")  # fmt: skip
    kind = search.add_mutually_exclusive_group()
    kind.add_argument("--gguf", dest="kind", action="store_const", const="gguf",
                      help="GGUF chat models only")  # fmt: skip
    kind.add_argument("--diffusers", dest="kind", action="store_const", const="diffusers",
                      help="diffusers image models only")  # fmt: skip
    search.add_argument("--sort", choices=("downloads", "likes", "trending", "updated"),
                        default="downloads", help="order (default: downloads)")  # fmt: skip
    search.add_argument("--author", metavar="NAME", help="only this user or organisation")
    search.add_argument("--page", type=_positive, default=1, metavar="N",
                        help="page number, from 1")  # fmt: skip
    search.add_argument("--limit", type=_positive, default=20, metavar="N",
                        help="results per page (default 20)")  # fmt: skip
    search.add_argument("--json", action="store_true", help="print a JSON list")

    pull = sub.add_parser(
        "pull",
        help="download a model from the Hub",
        description="Download files of a Hub repo into the Hugging Face cache (or "
        "--local-dir), with a progress bar on stderr; prints the paths on stdout. "
        "Pick files by name, --include pattern or --quant (GGUF); a diffusers repo "
        "alone fetches what diffusers would load (--variant fp16 for half-size "
        "weights). Interrupted downloads resume from the partial files when run again.",
    )
    pull.add_argument("repo", metavar="REPO", help="the repo id, e.g. org/name-GGUF")
    pull.add_argument("files", nargs="*", metavar="FILE", help="files of the repo to fetch")
    pull.add_argument("--include", action="extend", nargs="+", default=[], metavar="PATTERN",
                      help="also fetch the files matching these globs (quote them)")  # fmt: skip
    pull.add_argument("--quant", metavar="Q", help="a GGUF quantization, e.g. Q4_K_M "
                      "(all its split parts)")  # fmt: skip
    pull.add_argument("--variant", metavar="V", help="diffusers weights variant, e.g. fp16")
    pull.add_argument("--revision", default="main", metavar="REV",
                      help="branch, tag or commit (default: main)")  # fmt: skip
    pull.add_argument("--local-dir", type=Path, metavar="DIR",
                      help="plain files in DIR instead of the Hugging Face cache")  # fmt: skip
    pull.add_argument("--json", action="store_true", help="print one JSON object at the end")

    models = sub.add_parser("models", help="list the models on disk (every kind and place)")
    models.add_argument("--json", action="store_true", help="print JSON with every field")

    rm = sub.add_parser(
        "rm",
        help="delete a model from disk",
        description="Delete a model listed by `genai-tui models` (its whole name, or whole "
        "parts of it: a folder, or the file name without its suffix; several matches are "
        "listed and nothing is deleted). Asks first unless --yes. Models in LM Studio's or "
        'Ollama\'s store are deleted only with --store "LM Studio" or --store Ollama.',
    )
    rm.add_argument("model", metavar="MODEL", help="name (or whole part of one) from `models`")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    rm.add_argument("--store", metavar="NAME",
                    help='confirm deleting in a store: "LM Studio" or Ollama')  # fmt: skip
    rm.add_argument("--json", action="store_true", help="print one JSON object")

    sub.add_parser("doctor", help="show settings, paths, llama.cpp build and models found")
    cli_usage.add_parser(sub)
    cli_gpu.add_parser(sub)
    cli_gen.add_parser(sub)
    cli_create.add_parser(sub)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


_GEN_FLAGS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repeat_penalty": "repeat_penalty",
    "max_tokens": "max_tokens",
    "seed": "seed",
    "ctx": "context_length",
    "gpu_layers": "gpu_layers",
    "threads": "threads",
}


def settings_from_args(args: argparse.Namespace) -> Settings:
    from genai_tui.config import load_settings

    generation = {
        key: getattr(args, flag)
        for flag, key in _GEN_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    overrides: dict[str, Any] = {
        "data_dir": args.data_dir,
        "models_dir": args.models_dir,
        "theme": args.theme,
        "default_model": getattr(args, "chat_model", None) or args.model,
    }
    settings = load_settings(args.config, **overrides)
    if generation:
        merged = settings.generation.model_dump() | generation
        settings = load_settings(args.config, **overrides, generation=merged)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The TUI: ask the terminal what images it can show while the rest starts up.
    probe = _probe_terminal_graphics() if args.command is None else None
    from genai_tui.engine.core.errors import GenaiError

    try:
        if args.command is None:
            from genai_tui.app import run_app
            from genai_tui.config_file import peek_theme

            if probe is not None:
                probe.join()
            # The settings (pydantic) are read just after the first frame, not before it.
            theme = peek_theme(args.config, args.theme)
            return run_app(functools.partial(settings_from_args, args), theme)
        if args.command == "pull":
            from genai_tui.cli import hub as cli_hub

            # Without a config file or GENAI_TUI_* variables, pull's settings are the
            # defaults: it need not import pydantic-settings to learn that.
            return cli_hub.run(args, cli_hub.default_pull_settings(args)
                               or settings_from_args(args))  # fmt: skip
        settings = settings_from_args(args)
        if args.command == "chat":
            import asyncio

            return asyncio.run(cli_chat.run(args, settings))
        if args.command in ("models", "rm"):
            from genai_tui.cli import models as cli_models

            return cli_models.run(args, settings)
        if args.command in ("search", "pull"):
            from genai_tui.cli import hub as cli_hub

            return cli_hub.run(args, settings)
        if args.command == "doctor":
            from genai_tui.cli import doctor

            return doctor.run(settings)
        if args.command == "usage":
            return cli_usage.run(args, settings)
        if args.command == "gpu":
            return cli_gpu.run(args, settings)
        if args.command == "gen":
            return cli_gen.run(args, settings)
        if args.command in ("imagine", "story"):
            return cli_create.run(args, settings)
        raise AssertionError(f"unhandled command {args.command}")
    except GenaiError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


def _probe_terminal_graphics() -> threading.Thread:
    """Ask the terminal what pictures it can show (one round trip, terminal_probe) on a
    thread: it has to end before Textual owns the terminal, but it need not hold up the
    start-up imports meanwhile. textual-image itself is imported only when a picture is
    first shown, and takes these answers instead of asking again."""

    def probe() -> None:
        try:
            from genai_tui.terminal_graphics import probe_terminal

            probe_terminal()
        except Exception:  # noqa: BLE001 - the studio reports it when it opens
            pass

    thread = threading.Thread(target=probe, name="terminal-graphics-probe", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    raise SystemExit(main())
