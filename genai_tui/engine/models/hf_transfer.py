"""Hub file transfers over HTTP (blocking: run on worker threads; HTTP in hf_http.py).

`Fetcher.resolve` asks the Hub what a file is (HEAD on /resolve, CDN redirects
not followed): the commit, the ETag (the sha256 of LFS files), the size, and
where its bytes are (the CDN link, kept for the GETs). `Fetcher.fetch` brings
one byte range of a partial file to disk with Range requests, retrying
connection errors, timeouts, 408/429/5xx with exponential back-off
(Retry-After honoured). What each HTTP answer means is in hf_status.py; the
partial file, its ranges and hash, and the stop flag are in hf_partial.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from genai_tui.engine.models.hf_cache import UnsafeNameError, check_commit, check_etag
from genai_tui.engine.models.hf_http import Answer, Connections, TransportError
from genai_tui.engine.models.hf_partial import CHUNK, Control, Partial, Stopped
from genai_tui.engine.models.hf_status import DownloadError, FileRef, Retry, check_status

MAX_RETRY_AFTER_S = 900.0
HEADERS = {"Accept-Encoding": "identity", "User-Agent": "genai-tui"}
EXPIRED = (401, 403, 404, 410)  # what a CDN link that no longer works answers


@dataclass(frozen=True, slots=True)
class Resolved:
    commit: str
    etag: str
    size: int
    location: str | None = None  # where the bytes are (a CDN link), if the Hub said


@dataclass(slots=True)
class Route:
    """Where one file's bytes come from: its /resolve URL, and the link it led to."""

    ref: FileRef
    url: str
    direct: str | None = None


# answer(ranged) -> may this request go on? (ranged: the server honoured Range)
OnAnswer = Callable[[bool], bool]


class Fetcher:
    """Connections to one Hub endpoint (one keep-alive per thread and origin), shared by
    the worker threads."""

    def __init__(self, endpoint: str, token: str | None, *, retries: int = 5,
                 backoff_s: float = 1.0, timeout_s: float = 30.0) -> None:  # fmt: skip
        self.endpoint = endpoint.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self._token = token
        self.conns = Connections(timeout_s)
        self._bufs = threading.local()

    def close(self) -> None:
        self.conns.close()

    def url(self, ref: FileRef) -> str:
        rev = quote(ref.revision, safe="")
        return f"{self.endpoint}/{ref.repo_id}/resolve/{rev}/{quote(ref.path)}"

    def route(self, ref: FileRef, location: str | None = None) -> Route:
        return Route(ref, self.url(ref), location)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _send(self, ctl: Control, method: str, url: str, headers: dict[str, str],
              follow: bool) -> Answer:  # fmt: skip
        try:
            return self.conns.request(method, url, {**HEADERS, **headers},
                                      origin_headers=self._auth(), follow=follow)  # fmt: skip
        except TransportError as exc:
            if ctl.stop.is_set():
                raise Stopped from None
            raise Retry(str(exc)) from None

    def check_status(self, ans: Answer, ref: FileRef) -> None:
        """Raise Retry for 408/429/5xx, DownloadError for other errors; 416 passes."""
        check_status(ans.status, ans.headers, ref, self.endpoint, self._token)

    # -- metadata ------------------------------------------------------------------------

    def resolve(self, ctl: Control, ref: FileRef, listed_size: int) -> Resolved:
        """The file's commit, ETag and size, from HEAD without following CDN redirects."""
        failures = 0
        while True:
            ctl.check()
            url = self.url(ref)
            try:
                for _ in range(5):
                    ans = self._send(ctl, "HEAD", url, {}, follow=False)
                    self.conns.finish(ans)
                    self.check_status(ans, ref)
                    location = ans.headers.get("Location")
                    if not (ans.is_redirect and location) or "X-Repo-Commit" in ans.headers:
                        break
                    target = urljoin(url, location)
                    if urlsplit(target).netloc != urlsplit(url).netloc:
                        break
                    url = target  # a renamed repo: follow redirects that stay on the Hub
                h = ans.headers
                commit = check_commit(h.get("X-Repo-Commit"), ref.repo_id)
                raw = h.get("X-Linked-Etag") or h.get("ETag")
                etag = check_etag(raw.removeprefix("W/").strip('"') if raw else None, ref.path)
                size_header = h.get("X-Linked-Size") or (
                    None if ans.is_redirect else h.get("Content-Length")
                )
                size = int(size_header) if size_header and size_header.isdigit() else listed_size
                link = urljoin(url, location) if ans.is_redirect and location else None
                return Resolved(commit, etag, size, link)
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

    # -- bytes -----------------------------------------------------------------------------

    def fetch(self, ctl: Control, route: Route, part: Partial, start: int, end: int,
              on_answer: OnAnswer) -> None:  # fmt: skip
        """Write bytes [start, end) of the file into `part`, resuming after breaks.

        What was written counts as done in `part` however this ends (Stopped,
        DownloadError after too many failures)."""
        rid = part.begin(start)
        failures = 0
        try:
            while part.pos(rid) < end:
                before = part.pos(rid)
                try:
                    end = self._get(ctl, route, part, rid, end, on_answer)
                    if part.pos(rid) < end:
                        raise Retry("the connection closed before the end of the file")
                except Retry as retry:
                    failures = 1 if part.pos(rid) > before else failures + 1
                    part.save()  # what arrived survives a kill during the back-off
                    self.backoff(ctl, route.ref, retry, failures)
        finally:
            part.end(rid)

    def _buffer(self) -> memoryview:
        view: memoryview | None = getattr(self._bufs, "view", None)
        if view is None:
            view = self._bufs.view = memoryview(bytearray(CHUNK))
        return view

    def _get(self, ctl: Control, route: Route, part: Partial, rid: int, end: int,
             on_answer: OnAnswer) -> int:  # fmt: skip
        """One GET from the range's position to `end`, writing what arrives (also when it
        breaks off); returns the range's end (the whole file if the server sent it all)."""
        ctl.check()
        pos, size, ref = part.pos(rid), part.size, route.ref
        headers = {}
        if pos or end < size:
            headers["Range"] = f"bytes={pos}-" if end == size else f"bytes={pos}-{end - 1}"
        url = route.direct or route.url
        ans = self._send(ctl, "GET", url, headers, follow=True)
        ctl.watch(ans.sock)
        try:
            if route.direct is not None and ans.status in EXPIRED:
                route.direct = None  # a signed link that expired: ask the Hub for a new one
                raise Retry(f"the download link answered HTTP {ans.status}")
            self.check_status(ans, ref)
            length = ans.headers.get("Content-Length")
            if ans.status == 416:
                raise Retry("the server did not have the bytes asked for (416)")
            if ans.status == 206:
                got = (ans.headers.get("Content-Range") or "").removeprefix("bytes ")
                if not got.startswith(f"{pos}-"):
                    raise Retry(f"the server sent another range than asked ({got})")
                on_answer(True)
            elif headers:  # the server ignored Range and sends the whole file
                if not on_answer(False):
                    raise Retry("the server ignored a Range request")
                part.restart(rid)
                pos, end = 0, size
            else:
                on_answer(False)
            if length is not None and length.isdigit() and int(length) != end - pos:
                if ans.status != 206 and int(length) > size:
                    raise DownloadError(
                        f"The server sent more bytes for {ref.path} than its size ({size}).",
                        "Retry later; the Hub's file list may have changed meanwhile.",
                    )
                raise Retry(f"the server sent {length} bytes where {end - pos} were expected")
            if ans.url != route.url:
                route.direct = ans.url  # later ranges go straight to the CDN
            view = self._buffer()
            while pos < end:
                n = ans.readinto(view[: min(CHUNK, end - pos)])
                if not n:
                    break
                part.write(rid, view[:n])
                pos += n
                ctl.add_bytes(n)
                ctl.on_progress(False)
                if ctl.stop.is_set():
                    break
        except TransportError as exc:
            if ctl.stop.is_set():
                raise Stopped from None
            raise Retry(str(exc)) from None
        finally:
            ctl.unwatch(ans.sock)
            self.conns.finish(ans)
        ctl.check()
        return end
