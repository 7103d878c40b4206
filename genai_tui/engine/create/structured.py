"""Ask a chat model for a structured answer: a JSON schema constrains the reply (a
llama.cpp grammar for a local model, `response_format` for a server that has it), and
pydantic validates what came back. A malformed answer is None, never an exception: the
flows fall back and say so."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from genai_tui.engine.chat.service import model_reply
from genai_tui.engine.core.errors import ProviderRejectedError
from genai_tui.engine.core.events import ChatStats, ContextTrimmed, TokenDelta

if TYPE_CHECKING:
    from genai_tui.engine.chat.local import SamplingParams
    from genai_tui.engine.chat.service import ChatModel, Messages
    from genai_tui.engine.gpu.residency import Residency

Plan = TypeVar("Plan", bound=BaseModel)


class ImagePlan(BaseModel):
    """The planner's answer to an /imagine request."""

    action: Literal["draw", "ask"]
    prompt: str = ""
    negative_prompt: str = ""
    slogan: str = ""
    question: str = ""
    suggestions: list[str] = Field(default_factory=list, max_length=4)


class Scene(BaseModel):
    text: str = Field(min_length=1)
    prompt: str = Field(min_length=1)


class StoryPlan(BaseModel):
    title: str = Field(min_length=1)
    scenes: list[Scene] = Field(min_length=1, max_length=12)


def parse(kind: type[Plan], text: str) -> Plan | None:
    """`text` as a `kind`, or None. Tolerates a code fence or words around the object."""
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return kind.model_validate(json.loads(text[start : end + 1]))
    except (ValueError, ValidationError):
        return None


async def ask(
    model: ChatModel,
    messages: Messages,
    kind: type[Plan],
    params: SamplingParams,
    cancel: threading.Event,
    residency: Residency | None = None,
) -> AsyncGenerator[TokenDelta | ContextTrimmed | Plan | str, None]:
    """Stream the answer's text (TokenDelta), then end with the parsed `kind`, or with
    the raw text (str) when it did not validate."""
    constrained = dataclasses.replace(params, json_schema=kind.model_json_schema())
    parts: list[str] = []
    try:
        async for event in _reply(model, messages, constrained, cancel, residency, parts):
            yield event
    except ProviderRejectedError:
        if parts:
            raise
        # A server without `response_format`: ask again, the schema only in words.
        async for event in _reply(model, messages, params, cancel, residency, parts):
            yield event
    text = "".join(parts)
    parsed = parse(kind, text)
    yield parsed if parsed is not None else text


async def _reply(model: ChatModel, messages: Messages, params: SamplingParams,
                 cancel: threading.Event, residency: Residency | None,
                 parts: list[str]) -> AsyncGenerator[Any, None]:  # fmt: skip
    reply = model_reply(model, messages, params, cancel, residency)
    async with aclosing(reply) as events:
        async for event in events:
            if isinstance(event, TokenDelta):
                parts.append(event.text)
                yield event
            elif isinstance(event, ContextTrimmed):
                yield event
            elif isinstance(event, ChatStats):
                pass  # the answer is the point here, not its speed
