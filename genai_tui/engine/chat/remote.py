"""OpenAI-compatible servers over httpx: vLLM, Ollama, LM Studio, llama.cpp server, OpenAI, ...

One `RemoteProvider` per configured provider: it lists models and streams chat
completions (SSE), retrying connection failures, 429 (Retry-After) and 5xx
before the first token, and stops calling a dead server for a while (circuit
breaker). `RemoteChatModel` gives the Engine the same shape as a local model.
The API key goes into the Authorization header and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

import httpx

from genai_tui.engine.chat.circuit import CircuitBreaker
from genai_tui.engine.chat.openai_chunks import (
    RemoteModel,
    chat_body,
    content_tokens,
    parse_chunk,
    parse_completion,
    parse_model_list,
)
from genai_tui.engine.chat.remote_errors import (
    connect_failure,
    retry_after_s,
    server_message,
    status_failure,
)
from genai_tui.engine.chat.same_origin import same_origin_client
from genai_tui.engine.chat.sse import SseState, TooLarge, bounded_lines, read_limited, sse_data
from genai_tui.engine.core.errors import (
    GenaiError,
    ProviderError,
    ProviderStreamError,
    ProviderUnavailableError,
)
from genai_tui.engine.core.events import ChatStats, ThinkingDelta, TokenDelta

if TYPE_CHECKING:
    from genai_tui.config import ProviderSettings
    from genai_tui.engine.chat.local import SamplingParams

DEFAULT_CONTEXT = 131072  # when the server does not say; the server rejects what does not fit
_END = object()
MAX_ERROR_BODY = 64 << 10  # an error page: the first 64 KB say what went wrong
MAX_LISTING = 8 << 20  # GET /models
MAX_REPLY = 16 << 20  # a whole (non-streamed) completion


def provider_key(p: ProviderSettings) -> str | None:
    """The API key: from the config, else from the env var it names."""
    if p.api_key:
        return p.api_key
    return os.environ.get(p.api_key_env) if p.api_key_env else None


def cost_of(p: ProviderSettings, prompt_tokens: int, completion_tokens: int) -> float | None:
    """What a reply cost from the provider's prices per million tokens; None without prices."""
    if p.price_in is None and p.price_out is None:
        return None
    return (prompt_tokens * (p.price_in or 0.0) + completion_tokens * (p.price_out or 0.0)) / 1e6


class _Retry(Exception):
    def __init__(self, error: ProviderError, delay: float | None = None) -> None:
        self.error, self.delay = error, delay


class RemoteProvider:
    """One OpenAI-compatible endpoint and its connection pool."""

    def __init__(self, settings: ProviderSettings, *, retries: int = 3, backoff_s: float = 0.5,
                 max_retry_after_s: float = 30.0, connect_timeout_s: float = 5.0,
                 read_timeout_s: float = 300.0) -> None:  # fmt: skip
        self.settings = settings
        self.retries, self.backoff_s, self.max_retry_after_s = retries, backoff_s, max_retry_after_s
        self.timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self.breaker = CircuitBreaker()
        self.contexts: dict[str, int] = {}  # model id -> context length, when the listing says
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"RemoteProvider(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    def _secrets(self) -> list[str | None]:
        return [provider_key(self.settings), *self.settings.headers.values()]

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.settings.headers}
        key = provider_key(self.settings)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = same_origin_client(self.base_url, self.name, self.timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def cost(self, stats: ChatStats) -> float | None:
        return cost_of(self.settings, stats.prompt_tokens, stats.completion_tokens)

    # -- requests ---------------------------------------------------------------

    async def _sleep(self, seconds: float, cancel: threading.Event | None) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                return
            await asyncio.sleep(min(left, 0.05))

    def _delay(self, attempt: int, retry: _Retry) -> float:
        if retry.delay is not None:
            if retry.delay > self.max_retry_after_s:
                raise ProviderUnavailableError(
                    f"{retry.error.message} It asks to wait {retry.delay:.0f} s.",
                    "Try again after that, or use another provider.",
                )
            return retry.delay
        return self.backoff_s * 2**attempt

    def _check_status(self, response: httpx.Response, body: bytes, model: str | None) -> None:
        if response.status_code < 400:
            self.breaker.success()
            return
        error = status_failure(self.name, response.status_code, body, model, self._secrets())
        if response.status_code == 429:
            self.breaker.success()  # alive, only busy
            raise _Retry(error, retry_after_s(response))
        if response.status_code >= 500:
            self.breaker.failure()
            raise _Retry(error)
        self.breaker.success()
        raise error

    def _transport_failure(
        self, url: str, exc: httpx.TransportError, idempotent: bool = True
    ) -> _Retry:
        """A retry for a request that failed on the way; raises where retrying won't help.

        A request that is not idempotent (a chat POST) is retried only when it provably
        never reached the server (no connection, no pool slot): once sent, the server may
        already be generating, and a second copy would run (and be billed) twice.
        """
        self.breaker.failure()
        error, retryable = connect_failure(self.name, url, exc)
        unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if retryable and not idempotent and not unsent:
            raise ProviderUnavailableError(
                error.message + " The request had been sent, so it was not repeated.",
                error.hint,
            ) from None
        if not retryable:
            raise error from None
        return _Retry(error)

    async def _retrying(self, attempt_fn: Callable[[], Any], cancel: threading.Event | None,
                        force: bool = False, retries: int | None = None) -> Any:  # fmt: skip
        retries = self.retries if retries is None else retries
        if not force:
            self.breaker.check(self.name)
        for attempt in range(retries + 1):
            try:
                return await attempt_fn()
            except (GenaiError, asyncio.CancelledError):
                raise
            except _Retry as retry:
                if attempt >= retries or (cancel is not None and cancel.is_set()):
                    raise retry.error from None
                await self._sleep(self._delay(attempt, retry), cancel)
                if not force:
                    self.breaker.check(self.name)
            except Exception as exc:  # e.g. a header value httpx cannot encode
                said = server_message(f"{type(exc).__name__}: {exc}", self._secrets())
                raise ProviderError(
                    f"The request to {self.name} could not be made: {said}",
                    "Check the provider's base URL and extra headers in Settings (F7).",
                ) from None
        raise AssertionError("unreachable")

    async def list_models(
        self, force: bool = False, retries: int | None = None
    ) -> list[RemoteModel]:
        """GET /models. `force` skips the circuit breaker (the Settings screen's test)."""
        url = f"{self.base_url}/models"

        async def attempt() -> Any:
            try:
                async with self.client.stream("GET", url, headers=self._headers()) as response:
                    content, more = await read_limited(response.aiter_bytes(), MAX_LISTING)
            except httpx.TransportError as exc:
                raise self._transport_failure(url, exc) from None
            self._check_status(response, content, None)
            if more:
                raise ProviderError(f"{self.name} sent a model list of more than "
                                    f"{MAX_LISTING >> 20} MB; it was not read.",
                                    "Check that the base URL points at the API.")  # fmt: skip
            try:
                return json.loads(content)
            except ValueError:
                raise ProviderError(
                    f"{self.name} answered GET /models with something that is not JSON.",
                    "Check that the base URL points at the API (it usually ends in /v1).",
                ) from None

        data = await self._retrying(attempt, None, force=force, retries=retries)
        models = parse_model_list(self.name, data)
        self.contexts.update((m.id, m.context_length) for m in models if m.context_length)
        return models

    # -- chat -----------------------------------------------------------------

    async def _pump(self, body: dict, queue: asyncio.Queue[Any], cancel: threading.Event) -> None:
        """Open the stream (retrying until the first token) and queue what arrives."""
        url = f"{self.base_url}/chat/completions"
        delivered = finished = False

        def put(item: Any) -> None:
            nonlocal delivered, finished
            delivered = delivered or item[0] == "delta"
            finished = finished or item[0] == "finish"
            queue.put_nowait(item)

        async def attempt() -> None:
            try:
                async with self.client.stream("POST", url, json=body,
                                              headers=self._headers()) as response:  # fmt: skip
                    if response.status_code >= 400:
                        said, _ = await read_limited(response.aiter_bytes(), MAX_ERROR_BODY)
                        self._check_status(response, said, body["model"])
                    self.breaker.success()
                    if "text/event-stream" not in response.headers.get("content-type", ""):
                        whole, more = await read_limited(response.aiter_bytes(), MAX_REPLY)
                        if more:
                            raise TooLarge(f"a reply of more than {MAX_REPLY >> 20} MB")
                        self._whole_reply(whole, put)
                        return
                    sse = SseState()
                    lines = bounded_lines(response.aiter_text())
                    async for payload in sse_data(lines, sse):
                        self._chunk(payload, put)
                    if not (sse.done or finished):
                        # Closed early, without an error: not a complete reply.
                        raise ProviderStreamError(
                            f"The stream from {self.name} ended before the reply was "
                            "complete (no finish reason, no [DONE]).",
                            "The partial reply was kept, marked interrupted. Regenerate "
                            "(ctrl+r) to try again.",
                        )
            except TooLarge as exc:
                raise ProviderStreamError(
                    f"{self.name} sent {exc}; reading stopped there.",
                    "Check the server: a chat reply is never that big.",
                ) from None
            except httpx.TransportError as exc:
                if delivered:
                    raise ProviderStreamError(
                        f"The stream from {self.name} broke off mid-reply.",
                        "The partial reply was kept, marked interrupted. Regenerate (ctrl+r) "
                        "to try again.",
                    ) from None
                raise self._transport_failure(url, exc, idempotent=False) from None

        try:
            await self._retrying(attempt, cancel)
        except ProviderError as exc:
            queue.put_nowait(("error", exc))
        finally:
            queue.put_nowait((_END,))

    def _chunk(self, payload: str, put: Callable[[Any], None]) -> None:
        for item in parse_chunk(self.name, payload, self._secrets()):
            put(item)

    def _whole_reply(self, body: bytes, put: Callable[[Any], None]) -> None:
        for item in parse_completion(self.name, body, self._secrets()):
            put(item)

    async def stream_chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: SamplingParams,
        cancel: threading.Event,
        prompt_tokens: int = 0,
        context_size: int = 0,
    ) -> AsyncGenerator[TokenDelta | ThinkingDelta | ChatStats, None]:
        """Yield the reply's deltas, then its ChatStats.

        Setting `cancel` stops at once (the connection is closed); what arrived is kept.
        """
        queue: asyncio.Queue[Any] = asyncio.Queue()
        started = time.perf_counter()
        pump = asyncio.create_task(self._pump(chat_body(model, messages, params), queue, cancel))

        async def watch() -> None:  # wakes the loop below when the user stops the reply
            while not cancel.is_set():
                await asyncio.sleep(0.05)
            queue.put_nowait((_END,))

        watcher = asyncio.create_task(watch())
        first: float | None = None
        deltas, finish, usage = 0, "stop", None
        try:
            while True:
                item = await queue.get()
                if cancel.is_set():
                    finish = "cancelled"
                    break
                kind = item[0]
                if kind is _END:
                    break
                if kind == "error":
                    raise item[1]
                if kind == "usage":
                    usage = item[1]
                elif kind == "finish":
                    finish = item[1]
                else:
                    first = first or time.perf_counter()
                    deltas += 1
                    yield ThinkingDelta(item[2]) if item[1] else TokenDelta(item[2])
        finally:
            for task in (watcher, pump):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        ended = time.perf_counter()
        completion = deltas
        if usage and finish != "cancelled":
            completion = int(usage.get("completion_tokens") or deltas)
            prompt_tokens = int(usage.get("prompt_tokens") or prompt_tokens)
        yield ChatStats.timed(prompt_tokens, completion, started, first, ended, finish,
                              context_size)  # fmt: skip


class RemoteChatModel:
    """A provider's model, in the shape Engine's chat loop drives (as LocalChatModel)."""

    def __init__(self, provider: RemoteProvider, model: str, context_size: int | None = None):
        self.provider = provider
        self.name = model
        self.known_context = context_size or 0  # 0: the server did not say
        self.context_size = context_size or DEFAULT_CONTEXT  # for fitting the history
        self.loaded = True
        self.residency_key: str | None = None  # the GPU it uses is the server's, not ours

    async def count_prompt(self, messages: list[dict[str, Any]]) -> tuple[int, str]:
        """An estimate (about 4 characters a token, content parts too); the server's usage
        replaces it."""
        return sum(content_tokens(m["content"]) + 4 for m in messages), ""

    def stream(
        self,
        messages: list[dict[str, Any]],
        params: SamplingParams,
        cancel: threading.Event,
        prompt_tokens: int = 0,
    ) -> AsyncGenerator[TokenDelta | ThinkingDelta | ChatStats, None]:
        return self.provider.stream_chat(self.name, messages, params, cancel,
                                         prompt_tokens, self.known_context)  # fmt: skip

    def cost(self, stats: ChatStats) -> float | None:
        return self.provider.cost(stats)
