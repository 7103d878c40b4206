"""Write a conversation out as Markdown or JSON."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from pathlib import Path

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
    """Write `<title>-<id>.md` and `.json` into `folder`; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"{slug(conv.title)}-{conv.id}"
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    md.write_text(to_markdown(conv, messages), encoding="utf-8")
    js.write_text(to_json(conv, messages), encoding="utf-8")
    return md, js
