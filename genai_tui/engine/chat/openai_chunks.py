"""What an OpenAI-compatible server sends: chat chunks (SSE data), whole completions, and
the model list.

Each is turned into items for RemoteProvider's queue: ("delta", is_thinking, text),
("usage", dict), ("finish", reason). Anything else is a ProviderStreamError quoting a
short, printable, key-free sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genai_tui.engine.chat.remote_errors import redact, server_message
from genai_tui.engine.core.errors import ProviderError, ProviderStreamError
from genai_tui.engine.core.text import printable

if TYPE_CHECKING:
    from genai_tui.engine.chat.local import SamplingParams

Item = tuple[Any, ...]


def chat_body(model: str, messages: list[dict[str, Any]], params: SamplingParams) -> dict:
    """The JSON of a streaming POST /chat/completions. A message's content is its text, or
    OpenAI content parts (`text`, `image_url`: see vision.py), sent as they are."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
    }
    if params.seed >= 0:
        body["seed"] = params.seed
    if params.stop:
        body["stop"] = list(params.stop)
    # Beyond the OpenAI API (vLLM, llama.cpp's server, LM Studio and Ollama read them; the
    # OpenAI API refuses them): sent only when the chat itself sets them.
    for key in ("top_k", "min_p", "repeat_penalty"):
        if key in params.chat_keys:
            body[key] = getattr(params, key)
    if params.json_schema:  # servers without it answer 4xx: the caller retries without
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": params.json_schema},
        }
    elif params.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def malformed(name: str, payload: str, secrets: Iterable[str | None]) -> ProviderStreamError:
    sample = server_message(redact(payload[:80], secrets))
    return ProviderStreamError(
        f"{name} sent a chunk that is not an OpenAI-style chat chunk: {sample!r}",
        "The partial reply was kept. Check that the server speaks the OpenAI API "
        "(base URL ending in /v1).",
    )


def parse_chunk(name: str, payload: str, secrets: list[str | None]) -> list[Item]:
    """One `chat.completion.chunk`; reasoning (`reasoning_content`/`reasoning`) is thinking."""
    try:
        chunk = json.loads(payload)
    except ValueError:
        chunk = None
    if not isinstance(chunk, dict):
        raise malformed(name, payload, secrets)
    if "error" in chunk:
        raise ProviderError(
            f"{name} stopped the reply with an error: {server_message(json.dumps(chunk), secrets)}",
            "The partial reply was kept. Try again, or pick another model.",
        )
    items: list[Item] = []
    if isinstance(chunk.get("usage"), dict):
        items.append(("usage", chunk["usage"]))
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise malformed(name, payload, secrets)
    for choice in choices[:1]:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            raise malformed(name, payload, secrets)
        thinking = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(thinking, str) and thinking:
            items.append(("delta", True, thinking))
        if isinstance(delta.get("content"), str) and delta["content"]:
            items.append(("delta", False, delta["content"]))
        if choice.get("finish_reason"):
            items.append(("finish", str(choice["finish_reason"])))
    return items


def parse_completion(name: str, body: bytes, secrets: list[str | None]) -> list[Item]:
    """A server that ignored stream=true and sent one JSON completion."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise malformed(name, body.decode("utf-8", "replace"), secrets) from None
    items: list[Item] = [("delta", False, text)] if text else []
    if isinstance(data.get("usage"), dict):
        items.append(("usage", data["usage"]))
    items.append(("finish", str(choice.get("finish_reason") or "stop")))
    return items


IMAGE_TOKENS = 765  # an estimate for one image part (OpenAI: a 1024x1024 image, high detail)


def content_tokens(content: str | list[dict[str, Any]]) -> int:
    """An estimate of a message content's tokens: about 4 characters a token, and
    IMAGE_TOKENS an image part. The server's usage replaces it."""
    if isinstance(content, str):
        return len(content) // 4
    return sum(len(str(p.get("text") or "")) // 4 if p.get("type") == "text" else IMAGE_TOKENS
               for p in content)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RemoteModel:
    provider: str
    id: str
    context_length: int | None = None


CONTEXT_KEYS = ("max_model_len", "context_length", "max_context_length")  # vLLM, others


def parse_model_list(provider: str, data: Any) -> list[RemoteModel]:
    """GET /models (`{"data": [...]}` or a bare list) -> models, with their context
    length where the server says it."""
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ProviderError(f"{provider} sent a model list in an unknown shape.",
                            "Check that the base URL ends in /v1.")  # fmt: skip
    models = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            ctx = next((item[k] for k in CONTEXT_KEYS if isinstance(item.get(k), int)), None)
            models.append(RemoteModel(provider, printable(item["id"]), ctx))
    return models
