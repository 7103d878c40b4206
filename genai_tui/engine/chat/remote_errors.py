"""Turn what httpx and an OpenAI-compatible server say into errors a user can act on.

Server text is data: it is shortened, made printable and has every secret
(API key, header values) blanked before it goes into a message.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterable

import httpx

from genai_tui.engine.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderModelNotFoundError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from genai_tui.engine.core.text import printable

MAX_SERVER_TEXT = 240


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def server_message(body: bytes | str, secrets: Iterable[str | None] = ()) -> str:
    """The human part of an error body: `{"error": {"message": ...}}`, `{"detail": ...}`,
    or text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or json.dumps(err)
        elif isinstance(err, list):  # FastAPI validation errors
            err = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in err)
        if err is not None:
            text = str(err)
    text = " ".join(printable(redact(text, secrets)).split())
    return text if len(text) <= MAX_SERVER_TEXT else text[: MAX_SERVER_TEXT - 1] + "…"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in seen:
        seen.append(node)
        node = node.__cause__ or node.__context__
    return seen


def connect_failure(name: str, url: str, exc: httpx.TransportError) -> tuple[ProviderError, bool]:
    """The error for a request that never got an answer, and whether retrying may help."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    host = httpx.URL(url).host
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in text or "certificate" in text:
        return ProviderUnavailableError(
            f"TLS handshake with {name} ({host}) failed.",
            "Check the base URL's scheme: a plain-HTTP server needs http://, not https://. "
            "For a self-signed certificate, put the server behind one your system trusts.",
        ), False
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        s in text for s in ("name or service not known", "nodename nor servname",
                            "temporary failure in name resolution", "no address associated")
    ):  # fmt: skip
        return ProviderUnavailableError(
            f"Cannot resolve the host name '{host}' of {name}.",
            "Check the base URL for typos, and the network/DNS of this machine.",
        ), False
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailableError(
            f"{name} ({host}) did not answer in time.",
            "Check that the server is up and reachable; a busy server may need a moment.",
        ), True
    if "refused" in text or isinstance(exc, httpx.ConnectError):
        return ProviderUnavailableError(
            f"Cannot connect to {name} at {url} (connection refused).",
            "Is the server running? Start it, or fix the base URL in Settings (F7).",
        ), True
    return ProviderUnavailableError(
        f"The connection to {name} ({host}) broke before it answered.",
        "Try again; if it keeps happening, check the server's log.",
    ), True


def status_failure(
    name: str, status: int, body: bytes, model: str | None, secrets: Iterable[str | None]
) -> ProviderError:
    said = server_message(body, secrets)
    detail = f" The server said: {said}" if said else ""
    if status in (401, 403):
        return ProviderAuthError(
            f"{name} refused the request (HTTP {status}): the API key is missing or not "
            f"accepted.{detail}",
            "Set the provider's API key (or its env var) in Settings (F7), then test it (t).",
        )
    if status == 404:
        what = f"the model '{model}'" if model else "this API (GET /models)"
        return ProviderModelNotFoundError(
            f"{name} does not serve {what} (HTTP 404).{detail}",
            "Pick one of the models it lists (ctrl+o), or check that the base URL ends in /v1.",
        )
    if status == 429:
        return ProviderUnavailableError(
            f"{name} is rate-limiting requests (HTTP 429).{detail}",
            "Wait a little and try again, or use another provider.",
        )
    if status >= 500:
        return ProviderUnavailableError(
            f"{name} failed with HTTP {status}.{detail}",
            "The server has a problem; try again later or check its log.",
        )
    return ProviderRejectedError(
        f"{name} rejected the request (HTTP {status}).{detail}",
        "Check the model and the generation settings (e.g. max_tokens, context length).",
    )


def retry_after_s(response: httpx.Response) -> float | None:
    """Retry-After in seconds (number form; an HTTP date counts as unknown)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
