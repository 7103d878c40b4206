"""Writing the config file: the one path every change made in the app takes (providers,
`[generation]`, the per-model `[models."NAME"]` tables).

`set_table` edits one table's lines in place, so the file's comments and its other keys
stay where they were; the edited text is read back and compared with what was meant,
and when a text edit cannot say it (a value over several lines, a table written inline
or with dotted keys) the whole file is written with tomli-w instead, comments lost.
`edit_config` always rewrites it whole. Either way the file is replaced atomically with
mode 0600 (it may hold API keys), through a symlink to its target (dotfile repos).
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import ConfigError
from genai_tui.engine.core.files import private_dir, write_private_bytes

if TYPE_CHECKING:
    from genai_tui.config import Settings

_HEADER = re.compile(r"^\s*\[(?!\[)(.*)\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")
_KEY_LINE = re.compile(r'^(\s*)([A-Za-z0-9_-]+|"[^"\\]*")(\s*=\s*)(.*)$')


def config_path(settings: Settings) -> Path:
    """The file `settings` were read from (else where they would be read from)."""
    if settings.config_file is None:
        from genai_tui.config import default_config_file

        return default_config_file()
    return settings.config_file


def read_config(path: Path) -> dict[str, Any]:
    return tomllib.loads(_read_text(path))


def _read_text(path: Path) -> str:
    if not path.exists():
        return ""
    try:
        text = path.read_text(encoding="utf-8")
        tomllib.loads(text)
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot update {path}: it could not be read ({exc}).",
            "Fix or move the file aside, then save again.",
        ) from exc
    return text


def _write(path: Path, text: str) -> Path:
    try:
        if not path.is_symlink():
            private_dir(path.parent)
        write_private_bytes(path, text.encode(), follow_symlink=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write {path}: {exc.strerror or exc}.", "Check its permissions."
        ) from exc
    return path


def edit_config(settings: Settings, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Rewrite the whole file with `edit(its parsed contents)` applied (comments are lost)."""
    import tomli_w

    path = config_path(settings)
    data = read_config(path)
    edit(data)
    return _write(path, tomli_w.dumps(data))


def set_table(settings: Settings, table: tuple[str, ...], values: dict[str, Any]) -> Path:
    """Set `values` in the file's table `table` (("generation",), ("models", NAME)); a
    value of None removes its key, and a table left empty is removed. Its other keys,
    the other tables and the comments are kept."""
    import tomli_w

    path = config_path(settings)
    text = _read_text(path)
    meant = tomllib.loads(text)
    _apply(meant, table, values)
    edited = _edit_text(text, table, values)
    if edited is None or _parses_to(edited) != meant:
        edited = tomli_w.dumps(meant)  # the text edit could not say it: rewrite whole
    return _write(path, edited)


def remove_table(settings: Settings, table: tuple[str, ...]) -> Path:
    """Remove the table `table` from the file (nothing happens if it has none)."""
    current = read_config(config_path(settings))
    node: Any = current
    for part in table:
        node = node.get(part) if isinstance(node, dict) else None
    keys = node if isinstance(node, dict) else {}
    return set_table(settings, table, dict.fromkeys(keys))


def _parses_to(text: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _apply(data: dict[str, Any], table: tuple[str, ...], values: dict[str, Any]) -> None:
    parents = [data]
    for part in table:
        parents.append(parents[-1].setdefault(part, {}))
    node = parents[-1]
    for key, value in values.items():
        if value is None:
            node.pop(key, None)
        else:
            node[key] = copy.deepcopy(value)
    for depth in range(len(table), 0, -1):  # drop tables left empty
        if parents[depth]:
            break
        del parents[depth - 1][table[depth - 1]]


def _header_path(line: str) -> tuple[str, ...] | None:
    """The key path of a `[a."b"]` header line, as TOML reads it; None for other lines."""
    match = _HEADER.match(line)
    if match is None:
        return None
    parsed = _parses_to(f"[{match.group(1)}]\n")
    path: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        key, parsed = next(iter(parsed.items()))
        path.append(key)
    return tuple(path) if parsed == {} else None


def _value_text(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"k": value}).split(" = ", 1)[1].rstrip("\n")


def _split_comment(rest: str) -> tuple[str, str]:
    """(the value as written, with the spaces after it; the comment) of `rest`."""
    for i, ch in enumerate(rest):
        if ch == "#" and _parses_to(f"k = {rest[:i]}\n") is not None:
            return rest[:i], rest[i:]
    return rest, ""


def _key_of(line: str) -> str | None:
    match = _KEY_LINE.match(line)
    if match is None:
        return None
    key = match.group(2)
    return key[1:-1] if key.startswith('"') else key


def _edit_text(text: str, table: tuple[str, ...], values: dict[str, Any]) -> str | None:
    """`text` with the table's lines edited; None when a text edit cannot do it."""
    import tomli_w

    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if _header_path(ln) == table), None)
    if start is None:
        kept = {k: v for k, v in values.items() if v is not None}
        if not kept:
            return text
        nested: dict[str, Any] = kept
        for part in reversed(table):
            nested = {part: nested}
        block = tomli_w.dumps(nested)
        return text.rstrip("\n") + ("\n\n" if text.strip() else "") + block
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])),
               len(lines))  # fmt: skip
    body = lines[start + 1 : end]
    done: set[str] = set()
    out: list[str] = []
    for line in body:
        key = _key_of(line)
        if key is None or key not in values:
            out.append(line)
            continue
        done.add(key)
        if values[key] is None:
            continue
        match = _KEY_LINE.match(line)
        assert match is not None
        indent, name, equals, rest = match.groups()
        old, comment = _split_comment(rest)
        new = _value_text(values[key])
        if comment:  # keep the comment's column where there is room
            new = new.ljust(max(len(old), len(new) + 1))
        out.append(f"{indent}{name}{equals}{new}{comment}".rstrip())
    missing = [f"{k} = {_value_text(v)}" for k, v in values.items()
               if k not in done and v is not None]  # fmt: skip
    last = max((i for i, ln in enumerate(out) if _key_of(ln) is not None), default=-1)
    out[last + 1 : last + 1] = missing
    if not any(_key_of(ln) is not None for ln in out):
        # The table is empty now: drop its header and body, but keep comments written
        # just above the next table (they are that table's).
        tail = len(out)
        while tail > 0 and out[tail - 1].lstrip().startswith("#"):
            tail -= 1
        lines[start:end] = out[tail:]
        if 0 < start <= len(lines) and not lines[start - 1].strip():
            del lines[start - 1]  # the blank line that set the table off
    else:
        lines[start + 1 : end] = out
    return "\n".join(lines) + "\n" if lines else ""


def save_generation(settings: Settings, values: dict[str, Any]) -> Path:
    """Make `values` (form text or typed values; "" or None keeps the current value) the
    `[generation]` defaults: checked with the file's rules and words (ParamsError naming
    the keys; then nothing changes), written to the file's table, and set on the running
    settings' own object, which the engine reads (new replies; the next model load)."""
    from genai_tui.config import check_table

    current = settings.generation.model_dump()
    given = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
    merged = current | {k: v for k, v in given.items() if v not in (None, "")}
    checked = check_table("generation", merged, config_path(settings)).model_dump()
    changed = {k: v for k, v in checked.items() if v != current[k]}
    path = set_table(settings, ("generation",), changed) if changed else config_path(settings)
    for key, value in changed.items():
        setattr(settings.generation, key, value)
    return path
