"""Plain HTTP/1.1 for Hub file transfers, on the standard library's http.client.

Why not httpx: a download's body is read straight into a reused buffer
(`readinto`, no per-chunk parsing or copies), several times cheaper in CPU
than an h11-based client; on a fast link that CPU is the limit. It also keeps
`genai-tui pull` from importing a second HTTP stack beside huggingface_hub's.

What it does that a bare http.client does not: one keep-alive connection per
(thread, origin), TLS with the system's trust store (truststore when
installed; SSL_CERT_FILE / REQUESTS_CA_BUNDLE honoured), the *_PROXY /
NO_PROXY environment (CONNECT tunnels for https), and redirects followed by
hand, the Authorization header kept to the origin it was meant for.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 5


class TransportError(Exception):
    """The connection failed (refused, reset, timed out, closed early): worth a retry."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A response whose body is still to be read (`readinto`), or was not asked for."""

    status: int
    headers: http.client.HTTPMessage
    url: str  # where it came from, after redirects
    raw: http.client.HTTPResponse
    sock: socket.socket | None

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and "Location" in self.headers

    def readinto(self, buf: memoryview) -> int:
        try:
            return self.raw.readinto(buf)
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(_describe(exc)) from None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _ssl_context() -> Any:
    import ssl

    cafile = os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    try:
        import truststore
    except ImportError:
        return ssl.create_default_context()
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _proxy_for(scheme: str, host: str) -> str | None:
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None  # the common case, without importing urllib.request
    import urllib.request

    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # untyped
    if bypass(host):
        return None
    return urllib.request.getproxies_environment().get(scheme)


class Connections:
    """Keep-alive connections, one per (thread, origin); thread-safe to share."""

    def __init__(self, timeout_s: float = 30.0, connect_timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._all: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._ssl: Any = None
        # plain-HTTP proxy connections -> the headers for the proxy
        self._via_proxy: weakref.WeakKeyDictionary[http.client.HTTPConnection, dict[str, str]] = (
            weakref.WeakKeyDictionary()
        )

    def _pool(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        pool: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(
            self._local, "pool", None
        )
        if pool is None:
            pool = self._local.pool = {}
        return pool

    def _connect(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        """A new connection to scheme://netloc; True when requests go to a plain proxy."""
        u = urlsplit(f"{scheme}://{netloc}")
        host, port = u.hostname or "", u.port
        proxy = _proxy_for(scheme, host)
        kind: Any = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        kw: dict[str, Any] = {"timeout": self.connect_timeout_s}
        if scheme == "https":
            if self._ssl is None:
                self._ssl = _ssl_context()
            kw["context"] = self._ssl
        if proxy is None:
            return kind(host, port, **kw), False
        p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        headers = {}
        if p.username:
            import base64

            cred = f"{p.username}:{p.password or ''}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(cred).decode()
        if scheme == "https":
            conn = kind(p.hostname or "", p.port or 8080, **kw)
            conn.set_tunnel(host, port, headers=headers)
            return conn, False
        conn = http.client.HTTPConnection(p.hostname or "", p.port or 8080, **kw)
        self._via_proxy[conn] = headers
        return conn, True

    def request(self, method: str, url: str, headers: dict[str, str], *,
                origin_headers: dict[str, str] | None = None,
                follow: bool = True) -> Answer:  # fmt: skip
        """Send `method url`; `origin_headers` (the token) go only to `url`'s own origin.

        Redirects are followed (up to MAX_REDIRECTS) when `follow`; the answer's body
        is left to read. Raises TransportError when the connection fails."""
        origin = urlsplit(url)[:2]
        for _ in range(MAX_REDIRECTS + 1):
            send = dict(headers)
            if origin_headers and urlsplit(url)[:2] == origin:
                send.update(origin_headers)
            answer = self._once(method, url, send)
            if not (follow and answer.is_redirect):
                return answer
            self.finish(answer)
            url = urljoin(url, answer.headers["Location"])
        return answer

    def _once(self, method: str, url: str, headers: dict[str, str]) -> Answer:
        u = urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise TransportError(f"unsupported URL scheme in {u.scheme}://{u.netloc}")
        key = (u.scheme, u.netloc)
        pool = self._pool()
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        for attempt in (0, 1):  # a kept-alive connection the server closed: once more
            conn = pool.get(key)
            fresh = conn is None
            if conn is None:
                conn, _ = self._connect(u.scheme, u.netloc)
                pool[key] = conn
                with self._lock:
                    self._all.add(conn)
            extra = self._via_proxy.get(conn)  # a plain proxy: absolute URL, its headers
            path = url if extra is not None else target
            try:
                conn.request(method, path, headers={**(extra or {}), **headers})
                if conn.sock is not None:
                    conn.sock.settimeout(self.timeout_s)
                raw = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self._drop(key, conn)
                if fresh or attempt:
                    raise TransportError(_describe(exc)) from None
                continue
            return Answer(raw.status, raw.headers, url, raw, conn.sock)
        raise AssertionError("unreachable")

    def finish(self, answer: Answer) -> None:
        """Done with `answer`: keep its connection if the body was read to the end."""
        raw = answer.raw
        if raw.length and raw.length <= 65536 and not raw.isclosed():
            try:
                raw.read()  # a short body (an error page): drain it, keep the connection
            except (OSError, http.client.HTTPException):
                pass
        if not raw.isclosed() or raw.will_close:
            u = urlsplit(answer.url)
            key = (u.scheme, u.netloc)
            conn = self._pool().get(key)
            if conn is not None and conn.sock is answer.sock:
                self._drop(key, conn)
            raw.close()

    def _drop(self, key: tuple[str, str], conn: http.client.HTTPConnection) -> None:
        self._pool().pop(key, None)
        with self._lock:
            self._all.discard(conn)
        conn.close()

    def close(self) -> None:
        """Close every connection (of every thread)."""
        with self._lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass
