"""A provider's images endpoint (`POST /images/generations`) over the provider's own client.

The studio (engine/images/remote_images.py) builds the request and reads the pictures;
this module only talks HTTP, through the provider's connection pool: the key goes in the
Authorization header and nowhere else, redirects and picture URLs stay on the provider's
origin (same_origin), bodies are read up to a cap, and every failure becomes a message
that says what to do (server text shortened, printable, with the key blanked). No
retries: a generation the server already started would run (and be billed) twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from genai_tui.engine.chat.remote import provider_key
from genai_tui.engine.chat.remote_errors import connect_failure, server_message, status_failure
from genai_tui.engine.chat.same_origin import origin
from genai_tui.engine.chat.sse import read_limited
from genai_tui.engine.core.errors import (
    GenaiError,
    ImageRequestError,
    ProviderAuthError,
    ProviderError,
    ProviderModelNotFoundError,
    ProviderRejectedError,
    ProviderStreamError,
    ProviderUnavailableError,
)
from genai_tui.engine.core.text import printable

if TYPE_CHECKING:
    from genai_tui.engine.chat.providers import ProviderRegistry
    from genai_tui.engine.chat.remote import RemoteProvider

READ_TIMEOUT_S = 600.0  # a few large pictures on a busy server take minutes
MAX_ANSWER = 256 << 20  # the JSON with the base64 pictures
_SIZE = re.compile(r"\b(\d{2,5})\s*[x×]\s*(\d{2,5})\b")


class HasProviders(Protocol):
    @property
    def providers(self) -> ProviderRegistry: ...


def image_servers(owner: HasProviders) -> Callable[[str], ProviderImages]:
    """The studio's way to a provider's images endpoint, by provider name."""
    return lambda name: ProviderImages(owner.providers.get(name))


def size_failure(name: str, size: str, said: str) -> ImageRequestError:
    """A 4xx about the size: the sizes the server named, when it named any."""
    sizes = dict.fromkeys(f"{w}x{h}" for w, h in _SIZE.findall(said))
    accepted = [s for s in sizes if s != size]
    return ImageRequestError(
        f"{name} does not accept the size {size}."
        + (f" It accepts: {', '.join(accepted)}." if accepted else f" The server said: {said}"),
        "Pick one of those sizes (F8 in the studio, --size in `genai-tui gen`)."
        if accepted
        else "Try a size the server's documentation lists, e.g. 1024x1024 or 512x512.",
    )


class ProviderImages:
    """POST /images/generations and GET a picture URL on one provider."""

    def __init__(self, provider: RemoteProvider, read_timeout_s: float | None = None) -> None:
        self.provider = provider
        self.name = provider.name
        self.timeout = httpx.Timeout(
            read_timeout_s or READ_TIMEOUT_S, connect=provider.timeout.connect
        )

    def _headers(self) -> dict[str, str]:
        settings = self.provider.settings
        key = provider_key(settings)
        return {"Accept": "application/json", **settings.headers} | (
            {"Authorization": f"Bearer {key}"} if key else {}
        )

    def _secrets(self) -> list[str | None]:
        settings = self.provider.settings
        return [provider_key(settings), *settings.headers.values()]

    async def _get(self, method: str, url: str, limit: int, **kw: Any) -> tuple[int, bytes]:
        try:
            async with self.provider.client.stream(
                method, url, headers=self._headers(), timeout=self.timeout, **kw
            ) as response:
                cap = limit if response.status_code < 400 else 64 << 10
                body, more = await read_limited(response.aiter_bytes(), cap)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise connect_failure(self.name, url, exc)[0] from None
            raise ProviderUnavailableError(
                f"{self.name} sent no picture within {self.timeout.read:.0f} s.",
                "The server may still be busy: ask for fewer or smaller images, or check "
                "its log and load, then generate again.",
            ) from None
        except httpx.TransportError as exc:
            raise connect_failure(self.name, url, exc)[0] from None
        if more and response.status_code < 400:
            raise ProviderStreamError(
                f"{self.name} sent more than {limit >> 20} MB for the pictures; none were kept.",
                "Ask for fewer or smaller images.",
            )
        return response.status_code, body

    async def generate(self, body: dict[str, Any]) -> Any:
        """The server's JSON answer to `body`; a GenaiError that says what to do otherwise."""
        url = f"{self.provider.base_url}/images/generations"
        status, answer = await self._get("POST", url, MAX_ANSWER, json=body)
        model = str(body.get("model", ""))
        if status >= 400:
            raise self._failure(status, answer, model, str(body.get("size", "")))
        try:
            return json.loads(answer)
        except ValueError:
            raise ProviderStreamError(
                f"{self.name} answered the image request with something that is not JSON.",
                "Check that the base URL points at an OpenAI-compatible API (ending in /v1).",
            ) from None

    def _failure(self, status: int, body: bytes, model: str, size: str) -> GenaiError:
        said = server_message(body, self._secrets())
        detail = f" The server said: {said}" if said else ""
        if status in (401, 403):
            return ProviderAuthError(
                f"{self.name}: the API key was refused (HTTP {status}).{detail}",
                "Set the provider's API key (or its env var) in Settings (F7).",
            )
        if status == 404:
            return ProviderModelNotFoundError(
                f"{self.name} does not serve the image model '{printable(model)}' (HTTP 404), "
                f"or has no images endpoint.{detail}",
                "Check the provider's image_models in the config file against the models the "
                "server lists (GET /v1/models), and that the base URL ends in /v1.",
            )
        if status in (400, 422) and "size" in said.lower():
            return size_failure(self.name, size, said)
        if status in (400, 422):
            return ProviderRejectedError(
                f"{self.name} rejected the image request (HTTP {status}).{detail}",
                "Change what the server's message names (prompt, size, number of images).",
            )
        return status_failure(self.name, status, body, model, self._secrets())

    async def fetch(self, url: str, limit: int) -> bytes:
        """A picture the server returned as a URL: fetched only from the provider's origin."""
        try:
            target = httpx.URL(self.provider.base_url).join(url)
        except (httpx.InvalidURL, ValueError):
            raise ProviderStreamError(
                f"{self.name} returned a picture URL that is not valid.", ""
            ) from None
        if origin(target) != origin(httpx.URL(self.provider.base_url)):
            there = printable(f"{target.scheme}://{target.netloc.decode('ascii', 'replace')}")
            raise ProviderError(
                f"{self.name} returned a picture at another address ({there}); it was not "
                "fetched (your key is sent only to the provider's own address).",
                "Configure the server to return base64 (response_format b64_json).",
            )
        status, body = await self._get("GET", str(target), limit)
        if status >= 400:
            said = server_message(body, self._secrets())
            raise ProviderUnavailableError(
                f"{self.name} did not hand over a picture it made (HTTP {status})."
                + (f" The server said: {said}" if said else ""),
                "Configure the server to return base64 (response_format b64_json), or check "
                "its log.",
            )
        return body
