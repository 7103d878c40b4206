"""Write a conversation out as Markdown or JSON."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from pathlib import Path

from genai_tui.engine.core.files import private_dir, write_private_bytes
from genai_tui.engine.core.store import Conversation, Message


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "chat"


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def to_markdown(conv: Conversation, messages: list[Message]) -> str:
    lines = [f"# {conv.title}", ""]
    lines.append(f"- model: {conv.model or 'unknown'}")
    lines.append(f"- created: {_stamp(conv.created_at)}")
    if conv.system_prompt:
        lines += ["", "## System", "", conv.system_prompt]
    for msg in messages:
        lines += ["", f"## {msg.role.capitalize()}", ""]
        if msg.thinking:
            quoted = "\n".join("> " + ln for ln in msg.thinking.splitlines())
            lines += ["<details><summary>Thinking</summary>", "", quoted, "", "</details>", ""]
        lines.append(msg.content)
        if msg.role == "assistant":
            notes = []
            if msg.completion_tokens:
                notes.append(f"{msg.completion_tokens} tokens")
            if msg.tokens_per_s:
                notes.append(f"{msg.tokens_per_s:.1f} tok/s")
            if msg.stopped:
                notes.append("stopped")
            if notes:
                lines += ["", f"*({', '.join(notes)})*"]
    return "\n".join(lines) + "\n"


def to_json(conv: Conversation, messages: list[Message]) -> str:
    data = {"conversation": asdict(conv), "messages": [asdict(m) for m in messages]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def export_conversation(
    conv: Conversation, messages: list[Message], folder: Path
) -> tuple[Path, Path]:
    """Write `<title>-<id>.md` and `.json` into `folder` (0700; the files 0600, replacing
    earlier exports of the conversation); return both paths."""
    private_dir(folder)
    base = folder / f"{slug(conv.title)}-{conv.id}"
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    write_private_bytes(md, to_markdown(conv, messages).encode("utf-8"))
    write_private_bytes(js, to_json(conv, messages).encode("utf-8"))
    return md, js
