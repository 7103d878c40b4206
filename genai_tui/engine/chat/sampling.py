"""Sampling parameters: what a reply is generated with, how a chat's own values are
checked (by the config file's rules), and the short summary of what differs from the
defaults.

A conversation keeps only the values that differ from `[generation]` (its `params`);
a reply uses the defaults with those on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from genai_tui.engine.core.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

# The keys a chat (or a preset) may set, in the order the form shows them.
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens",
                 "seed", "stop", "json_mode")  # fmt: skip
MAX_STOPS = 4  # as the OpenAI API allows


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 1024
    seed: int = -1
    stop: tuple[str, ...] = ()
    """Generation ends before any of these strings (which are not part of the reply)."""
    json_mode: bool = False
    """The reply is one JSON object (a llama.cpp JSON grammar locally, `response_format`
    json_object for a remote server)."""
    chat_keys: frozenset[str] = field(default=frozenset(), compare=False)
    """The keys the conversation set itself (not the defaults): a remote server gets
    top_k, min_p and repeat_penalty only when they are among them."""
    json_schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    """Constrain the reply to JSON of this schema (a llama.cpp grammar locally,
    `response_format` for a remote server)."""

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> SamplingParams:
        kept = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        if "stop" in kept:
            kept["stop"] = tuple(kept["stop"] or ())
        return cls(**kept)

    def response_format(self) -> dict[str, Any] | None:
        """llama-cpp-python's `response_format`: a schema's grammar, or any JSON object."""
        if self.json_schema:
            return {"type": "json_object", "schema": self.json_schema}
        return {"type": "json_object"} if self.json_mode else None


_DEFAULTS = SamplingParams()


def _extra_fields() -> dict[str, Any]:
    """Rules for the keys the config file's [generation] does not have (yet)."""
    from pydantic import Field, StringConstraints

    stop_text = Annotated[str, StringConstraints(min_length=1, max_length=64)]
    return {
        "min_p": (float, Field(_DEFAULTS.min_p, ge=0.0, le=1.0)),
        "stop": (list[stop_text], Field(default_factory=list, max_length=MAX_STOPS)),
        "json_mode": (bool, Field(False, strict=True)),
    }


@cache
def _params_model() -> type[BaseModel]:
    """A pydantic model of the sampling keys: the config file's own fields (so a value
    is refused with the message `config.toml` would get), plus min_p, stop, json_mode."""
    from pydantic import ConfigDict, create_model

    from genai_tui.config import GenerationSettings

    known = GenerationSettings.model_fields
    extra = _extra_fields()
    fields: dict[str, Any] = {
        key: (known[key].annotation, known[key]) if key in known else extra[key]
        for key in SAMPLING_KEYS
    }
    model: type[BaseModel] = create_model(
        "ChatParams", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


class ParamsError(ConfigError):
    """A chat's or preset's sampling value was refused; `keys` names the fields."""

    def __init__(self, message: str, hint: str, keys: tuple[str, ...]) -> None:
        super().__init__(message, hint)
        self.keys = keys


LABELS = {"temperature": "temperature", "top_p": "top-p", "top_k": "top-k", "min_p": "min-p",
          "repeat_penalty": "repeat penalty", "max_tokens": "max tokens", "seed": "seed",
          "stop": "stop strings", "json_mode": "JSON mode"}  # fmt: skip


def validate_params(values: dict[str, Any]) -> dict[str, Any]:
    """`values` checked by the config file's rules and converted ("0.2" -> 0.2). Raises
    ParamsError naming each bad key with pydantic's message, as config.toml would."""
    from pydantic import ValidationError

    model = _params_model()
    try:
        checked = model.model_validate(values)
    except ValidationError as exc:
        keys: list[str] = []
        lines = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "?"
            keys.append(key)
            if err["type"] == "extra_forbidden":
                lines.append(f"unknown setting '{key}'")
                continue
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
            lines.append(f"{LABELS.get(key, key)}: {err['msg']}{shown}")
        raise ParamsError(
            "Invalid generation settings: " + "; ".join(lines) + ".",
            "Fix the value named, or leave it empty to use the default.",
            tuple(dict.fromkeys(keys)),
        ) from None
    return {k: getattr(checked, k) for k in values}


def defaults_from(generation: Any) -> dict[str, Any]:
    """The sampling defaults: the config file's [generation], and the built-in defaults of
    what it does not set."""
    given = generation.model_dump() if hasattr(generation, "model_dump") else dict(generation)
    base = {k: getattr(_DEFAULTS, k) for k in SAMPLING_KEYS}
    base["stop"] = list(base["stop"])
    return base | {k: given[k] for k in SAMPLING_KEYS if k in given}


def differences(params: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The sampling keys of `params` whose values differ from `defaults`, in form order."""
    return {k: params[k] for k in SAMPLING_KEYS if k in params and params[k] != defaults.get(k)}


_SHORT = {"temperature": "temp", "top_p": "top-p", "top_k": "top-k", "min_p": "min-p",
          "repeat_penalty": "repeat", "max_tokens": "max", "seed": "seed"}  # fmt: skip


def summary(diff: dict[str, Any]) -> str:
    """One line for the status bar: "temp 0.2 · stop 1 · json"; "" when nothing differs."""
    parts = []
    for key, value in diff.items():
        if key == "stop":
            parts.append(f"stop {len(value)}")
        elif key == "json_mode":
            parts.append("json" if value else "no json")
        elif key in _SHORT:
            parts.append(f"{_SHORT[key]} {format_value(value)}")
    return " · ".join(parts)


def format_value(value: Any) -> str:
    """A number as the form shows it: 0.2, not 0.20000000000000001; 40, not 40.0."""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else str(value)
    return str(value)


_ESCAPES = {"n": "\n", "t": "\t", "s": " ", ",": ",", "\\": "\\"}


def parse_stops(text: str) -> list[str]:
    """Stop strings as typed on one line: comma-separated, spaces around each trimmed;
    `\\n` a newline, `\\t` a tab, `\\s` a space that counts, `\\,` a comma, `\\\\` a
    backslash. Empty entries are dropped."""
    items: list[str] = []
    current: list[tuple[str, bool]] = []  # (character, escaped)

    def close() -> None:
        while current and current[-1] == (" ", False):
            current.pop()
        while current and current[0] == (" ", False):
            current.pop(0)
        if current:
            items.append("".join(ch for ch, _ in current))
        current.clear()

    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            current.extend((c, True) for c in _ESCAPES.get(nxt, "\\" + nxt))
        elif ch == ",":
            close()
        else:
            current.append((ch, False))
    close()
    return items


def format_stops(stops: list[str] | tuple[str, ...]) -> str:
    """The one-line form of `stops` (parse_stops reads it back)."""

    def escape(s: str) -> str:
        s = s.replace("\\", "\\\\").replace(",", "\\,").replace("\n", "\\n").replace("\t", "\\t")
        core = s.strip(" ")
        if not core:
            return "\\s" * len(s)
        lead, trail = len(s) - len(s.lstrip(" ")), len(s) - len(s.rstrip(" "))
        return "\\s" * lead + core + "\\s" * trail

    return ", ".join(escape(s) for s in stops)
