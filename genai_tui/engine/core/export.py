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


def _pictures(msg: Message, link: dict[str, str]) -> list[str]:
    """A picture message as Markdown: the story's scenes with their pictures, or the
    prompt and the pictures with their seeds. `link` maps a picture's path to its link."""

    def image(picture: dict | None, alt: str) -> list[str]:
        if not picture or picture["path"] not in link:
            return []
        return [f"![{alt}]({link[picture['path']]})"]

    meta = msg.meta
    if msg.kind == "story":
        lines = [f"### {meta.get('title', '')}"]
        for number, scene in enumerate(meta.get("scenes", []), 1):
            lines += ["", scene["text"], ""]
            lines += image(scene.get("image"), f"Scene {number}")
        return lines
    lines = [f"*{meta.get('mode', 'art')}:* {meta.get('prompt', '')}"]
    if meta.get("slogan"):
        lines.append(f"*slogan:* {meta['slogan']}")
    for picture in meta.get("images", []):
        lines += [""] + image(picture, f"seed {picture['seed']}")
    return lines


def to_markdown(conv: Conversation, messages: list[Message],
                link: dict[str, str] | None = None) -> str:  # fmt: skip
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
        lines += _pictures(msg, link or {}) if msg.kind else [msg.content]
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
    earlier exports of the conversation); return both paths. The chat's pictures are
    copied into `<title>-<id>_files/` beside them, and the Markdown links them there."""
    private_dir(folder)
    base = folder / f"{slug(conv.title)}-{conv.id}"
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    link: dict[str, str] = {}
    pictures = [p for m in messages if m.kind for p in _paths(m)]
    if pictures:
        files = private_dir(folder / f"{base.name}_files")
        for path in pictures:
            source = Path(path)
            if source.is_file():
                write_private_bytes(files / source.name, source.read_bytes())
                link[path] = f"{files.name}/{source.name}"
    write_private_bytes(md, to_markdown(conv, messages, link).encode("utf-8"))
    write_private_bytes(js, to_json(conv, messages).encode("utf-8"))
    return md, js


def _paths(msg: Message) -> list[str]:
    scenes = [s["image"] for s in msg.meta.get("scenes", []) if s.get("image")]
    return [p["path"] for p in [*msg.meta.get("images", []), *scenes]]
