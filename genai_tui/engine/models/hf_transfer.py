"""Hub file transfers over HTTP (httpx, blocking: run on a worker thread).

`Fetcher.resolve` asks the Hub what a file is (HEAD on /resolve, CDN redirects
not followed): the commit, the ETag (the sha256 of LFS files) and the size.
`Fetcher.download` brings a partial file up to its full size with Range
requests, retrying connection errors, timeouts, 408/429/5xx with exponential
back-off (Retry-After honoured), and checks the sha256 it computed while
streaming. 401/403/404 are not retried: they raise DownloadError with a
message that says which and what to do. The token never appears in a message.

A `Control` carries the stop flag and live counters between a transfer and the
code that runs it; `Control.abort()` also shuts the socket, so a transfer
blocked on a stalled connection stops at once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import human_bytes
from genai_tui.engine.models.hf_cache import UnsafeNameError, check_commit, check_etag

CHUNK = 1 << 20  # bytes written and hashed at a time
MAX_RETRY_AFTER_S = 900.0
LOGIN = "Set HF_TOKEN (or hf_token in the settings) or run `hf auth login`."


class DownloadError(GenaiError):
    """A download cannot go on; the message says why and what to do."""


class Stopped(Exception):
    """The transfer was asked to stop (pause, cancel, shutdown)."""


class Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Control:
    """Shared by a running transfer (worker thread) and its owner (event loop)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.response: httpx.Response | None = None
        self.net_bytes = 0  # received over the network since reset()
        self.file_done = 0  # bytes of the current file on disk
        self.on_progress: Callable[[bool], None] = lambda force: None
        self.on_status: Callable[[str | None, str | None], None] = lambda state, note: None

    def check(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def note(self, text: str, state: str | None = None) -> None:
        self.on_status(state, text)

    def abort(self) -> None:
        """Stop at the next chunk; wake a read blocked on a stalled connection."""
        self.stop.set()
        resp = self.response
        stream = resp.extensions.get("network_stream") if resp is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass(frozen=True, slots=True)
class FileRef:
    repo_id: str
    revision: str  # a branch, tag or commit: what goes in the URL
    path: str


@dataclass(frozen=True, slots=True)
class Digest:
    """What a whole file must hash to: its sha256 (LFS files), or its git blob id (others)."""

    kind: str  # "sha256" or "git"
    hexdigest: str

    def hasher(self, size: int) -> Any:
        if self.kind == "git":  # git's blob id: sha1 of "blob <size>\0" + content
            h = hashlib.sha1(usedforsecurity=False)
            h.update(b"blob %d\0" % size)
            return BackgroundHasher(h)
        return BackgroundHasher(hashlib.sha256())


# hashlib releases the GIL on large buffers: hashing chunk N on these threads while the
# transfer thread reads chunk N+1 keeps verification off the download's critical path.
_HASH_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="genai-hash")


class BackgroundHasher:
    """A hashlib object fed on a pool thread; one chunk in flight, in order."""

    def __init__(self, h: Any) -> None:
        self._h = h
        self._pending: Future[None] | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        chunk = bytes(data)  # callers reuse their buffers
        self._wait()
        self._pending = _HASH_POOL.submit(self._h.update, chunk)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def hexdigest(self) -> str:
        self._wait()
        return str(self._h.hexdigest())


@dataclass(frozen=True, slots=True)
class Resolved:
    commit: str
    etag: str
    size: int


class Fetcher:
    """One httpx connection pool to one Hub endpoint, shared by the worker threads."""

    def __init__(self, endpoint: str, token: str | None, *, retries: int = 5,
                 backoff_s: float = 1.0, timeout_s: float = 30.0,
                 max_connections: int = 8) -> None:  # fmt: skip
        self.endpoint = endpoint.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self._token = token
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=max_connections),
            headers={"Accept-Encoding": "identity", "User-Agent": "genai-tui"},
        )

    def close(self) -> None:
        self._client.close()

    def url(self, ref: FileRef) -> str:
        rev = quote(ref.revision, safe="")
        return f"{self.endpoint}/{ref.repo_id}/resolve/{rev}/{quote(ref.path)}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    # -- metadata ------------------------------------------------------------------------

    def resolve(self, ctl: Control, ref: FileRef, listed_size: int) -> Resolved:
        """The file's commit, ETag and size, from HEAD without following CDN redirects."""
        failures = 0
        while True:
            ctl.check()
            url = self.url(ref)
            try:
                for _ in range(5):
                    resp = self._client.head(
                        url, headers=self._headers(), follow_redirects=False, timeout=10.0
                    )
                    self.check_status(resp, ref)
                    location = resp.headers.get("Location")
                    if not (resp.is_redirect and location) or "X-Repo-Commit" in resp.headers:
                        break
                    target = urljoin(url, location)
                    if urlsplit(target).netloc != urlsplit(url).netloc:
                        break
                    url = target  # a renamed repo: follow redirects that stay on the Hub
                h = resp.headers
                commit = check_commit(h.get("X-Repo-Commit"), ref.repo_id)
                raw = h.get("X-Linked-Etag") or h.get("ETag")
                etag = check_etag(raw.removeprefix("W/").strip('"') if raw else None, ref.path)
                size_header = h.get("X-Linked-Size") or (
                    None if resp.is_redirect else h.get("Content-Length")
                )
                size = int(size_header) if size_header and size_header.isdigit() else listed_size
                return Resolved(commit, etag, size)
            except httpx.TransportError as exc:
                if ctl.stop.is_set():
                    raise Stopped from None
                retry = Retry(_describe(exc))
            except Retry as exc:
                retry = exc
            except UnsafeNameError as exc:
                raise DownloadError(exc.message, exc.hint) from None
            failures += 1
            self.backoff(ctl, ref, retry, failures)

    def backoff(self, ctl: Control, ref: FileRef, retry: Retry, failures: int) -> None:
        """Wait before the next attempt (stoppable), or give up after `retries` in a row."""
        ctl.check()
        if failures > self.retries:
            raise DownloadError(
                f"Downloading {ref.path} from {ref.repo_id} failed {failures} times in a row "
                f"({retry.reason}).",
                "Check the network or the Hub's status; the partial file is kept, so resuming "
                "goes on from where it stopped.",
            )
        delay = self.backoff_s * 2 ** (failures - 1)
        if retry.retry_after is not None:
            if retry.retry_after > MAX_RETRY_AFTER_S:
                raise DownloadError(
                    f"The Hub asks to wait {retry.retry_after / 60:.0f} minutes before "
                    f"downloading more of {ref.repo_id} ({retry.reason}).",
                    "Resume the download later; the partial file is kept.",
                )
            delay = retry.retry_after
        ctl.note(f"{retry.reason}; retrying in {delay:.1f} s "
                 f"(attempt {failures + 1} of {self.retries + 1})")  # fmt: skip
        if ctl.stop.wait(delay):
            raise Stopped

    def check_status(self, resp: httpx.Response, ref: FileRef) -> None:
        """Raise Retry for 408/429/5xx, DownloadError for other errors; 416 passes."""
        status = resp.status_code
        if status < 400 or status == 416:
            return
        if status in (408, 429) or status >= 500:
            raise Retry(f"HTTP {status}", parse_retry_after(resp.headers.get("Retry-After")))
        said = (resp.headers.get("X-Error-Message") or "")[:200]
        if self._token:
            said = said.replace(self._token, "***")
        said = f' The Hub said: "{said}"' if said else ""
        code = resp.headers.get("X-Error-Code", "")
        repo = ref.repo_id
        page = f"{self.endpoint}/{repo}"
        if code == "GatedRepo" and status == 403:
            raise DownloadError(
                f"{repo} is gated: this token has not been granted access (403).{said}",
                f"Accept the license on the model page ({page}), then resume the download.",
            )
        if code == "GatedRepo":
            raise DownloadError(
                f"{repo} is gated: you must be logged in to download it (401).{said}",
                f"{LOGIN} Then accept the license on the model page ({page}) and resume.",
            )
        if status == 401 and code == "RepoNotFound":
            raise DownloadError(
                f"{repo} was not found on {self.endpoint}, or it is private (401).{said}",
                "Check the name (owner/model). If it is private, it needs a token with "
                "access: " + LOGIN,
            )
        if status == 401 and self._token:
            raise DownloadError(
                f"{self.endpoint} rejected the access token (401: invalid or expired) while "
                f"downloading {repo}.{said}",
                f"Create a new token and {LOGIN[0].lower()}{LOGIN[1:]}",
            )
        if status == 401:
            raise DownloadError(f"{repo} needs a Hugging Face access token (401).{said}", LOGIN)
        if status == 403:
            raise DownloadError(f"Access to {repo} was denied (403).{said}",
                                "Check that your token has read access to this repo.")  # fmt: skip
        if status == 404:
            rev = ref.revision
            what = {
                "RepoNotFound": f"The repo {repo} was not found",
                "RevisionNotFound": f"The revision {rev!r} of {repo} was not found",
            }.get(code, f"{ref.path} was not found in {repo} at {rev!r}")
            raise DownloadError(
                f"{what} (404 Not Found).{said}",
                "Check the name, or refresh the file list: it may have been renamed or removed.",
            )
        raise DownloadError(f"The Hub answered HTTP {status} for {ref.path} of {repo}.{said}",
                            "Retry later; if it persists, report it.")  # fmt: skip

    # -- bytes -----------------------------------------------------------------------------

    def download(self, ctl: Control, ref: FileRef, partial: Path, size: int,
                 expected: Digest | None) -> None:  # fmt: skip
        """Bring `partial` to `size` bytes (resuming from what it holds) and verify it.

        On return the partial is whole, verified and synced; the caller moves it into
        place. A checksum mismatch throws the data away and tries once more from scratch
        (the bad bytes may be an old partial's or a glitch on the way); a second
        mismatch deletes the partial and raises DownloadError.
        """
        with _Part(partial, ctl, expected, size) as part:
            if part.offset > size:
                part.reset()
            if part.hasher is not None and part.offset:
                ctl.note(f"checking the {human_bytes(part.offset)} already downloaded",
                         state="verifying")  # fmt: skip
                part.hash_existing()
                ctl.note("", state="running")
            fresh_start_used = False
            failures = 0
            while True:
                if part.offset < size:
                    before = part.offset
                    try:
                        self._get(ctl, ref, part, size)
                        if part.offset < size:
                            raise Retry("the connection closed before the end of the file")
                    except Retry as retry:
                        failures = 1 if part.offset > before else failures + 1
                        self.backoff(ctl, ref, retry, failures)
                        continue
                got = part.hasher.hexdigest() if part.hasher is not None else None
                if expected is not None and got != expected.hexdigest:
                    part.reset()
                    if not fresh_start_used:
                        fresh_start_used = True
                        ctl.note(f"checksum mismatch for {ref.path}; downloading it again "
                                 "from scratch")  # fmt: skip
                        continue
                    part.close()
                    partial.unlink(missing_ok=True)
                    raise DownloadError(
                        f"Checksum mismatch for {ref.path} of {ref.repo_id}, twice: expected "
                        f"{expected.kind} {expected.hexdigest[:12]}…, got {(got or '')[:12]}…. "
                        "The damaged data was deleted.",
                        "The server (or something between) sends other bytes than the Hub "
                        "lists; retry later: the file will be downloaded again from scratch.",
                    )
                os.fsync(part.fd.fileno())
                return

    def _get(self, ctl: Control, ref: FileRef, part: _Part, size: int) -> None:
        """One GET from `part.offset`, appending what arrives (also when it breaks off)."""
        ctl.check()
        headers = self._headers()
        if part.offset:
            headers["Range"] = f"bytes={part.offset}-"
        try:
            with self._client.stream("GET", self.url(ref), headers=headers,
                                     follow_redirects=True) as resp:  # fmt: skip
                ctl.response = resp
                try:
                    self.check_status(resp, ref)
                    if resp.status_code == 416:  # our partial is as long as the file, or longer
                        if part.offset != size:
                            part.reset()
                            raise Retry("the partial file did not match the server's size")
                        return
                    if part.offset and resp.status_code != 206:  # the server ignored Range
                        part.reset()
                    elif resp.status_code == 206:
                        got = resp.headers.get("Content-Range", "").removeprefix("bytes ")
                        if not got.startswith(f"{part.offset}-"):
                            part.reset()
                            raise Retry(f"the server sent another range than asked ({got})")
                    for data in resp.iter_raw():
                        part.buffer(data, size, ref.path)
                        ctl.net_bytes += len(data)
                        if len(part.buf) >= CHUNK:
                            part.flush()
                            ctl.on_progress(False)
                        if ctl.stop.is_set():
                            break
                finally:
                    ctl.response = None
                    part.flush()
        except httpx.TransportError as exc:
            if ctl.stop.is_set():
                raise Stopped from None
            raise Retry(_describe(exc)) from None
        ctl.check()


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Part:
    """A partial file open for appending, with the sha256 of what it holds so far."""

    def __init__(self, path: Path, ctl: Control, digest: Digest | None, size: int) -> None:
        self.ctl = ctl
        self.digest = digest
        self.size = size
        self.fd = open(path, "a+b", buffering=0)  # noqa: SIM115 - closed by __exit__
        self.offset = os.fstat(self.fd.fileno()).st_size
        self.hasher: Any = digest.hasher(size) if digest is not None else None
        self.buf = bytearray()
        ctl.file_done = self.offset

    def __enter__(self) -> _Part:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.fd.close()

    def reset(self) -> None:
        """Throw the partial data away and start from byte 0."""
        self.buf.clear()
        self.fd.truncate(0)
        self.offset = self.ctl.file_done = 0
        self.hasher = self.digest.hasher(self.size) if self.digest is not None else None

    def hash_existing(self) -> None:
        self.fd.seek(0)
        buf = bytearray(8 * CHUNK)
        view = memoryview(buf)
        read = 0
        while read < self.offset:
            self.ctl.check()
            n = self.fd.readinto(view[: min(len(buf), self.offset - read)])
            if not n:
                break
            self.hasher.update(view[:n])
            read += n
            self.ctl.file_done = read
            self.ctl.on_progress(False)
        self.offset = read

    def buffer(self, data: bytes, size: int, path: str) -> None:
        if self.offset + len(self.buf) + len(data) > size:
            raise DownloadError(
                f"The server sent more bytes for {path} than its size ({size}).",
                "Retry later; the Hub's file list may have changed meanwhile.",
            )
        self.buf += data

    def flush(self) -> None:
        if not self.buf:
            return
        view = memoryview(self.buf)
        while view:  # a raw write may take less than it was given
            view = view[self.fd.write(view) :]
        view.release()
        if self.hasher is not None:
            self.hasher.update(self.buf)
        self.offset += len(self.buf)
        self.ctl.file_done = self.offset
        self.buf.clear()
