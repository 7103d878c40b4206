"""Hub file transfers over HTTP (httpx, blocking: run on a worker thread).

`Fetcher.resolve` asks the Hub what a file is (HEAD on /resolve, CDN redirects
not followed): the commit, the ETag (the sha256 of LFS files) and the size.
`Fetcher.download` brings a partial file up to its full size with Range
requests, retrying connection errors, timeouts, 408/429/5xx with exponential
back-off (Retry-After honoured), and checks the hash it computed while
streaming. What each HTTP answer means is in hf_status.py; the partial file,
its hash and the stop flag (`Control`) are in hf_partial.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import httpx

from genai_tui.engine.core.text import human_bytes
from genai_tui.engine.models.hf_cache import UnsafeNameError, check_commit, check_etag
from genai_tui.engine.models.hf_partial import CHUNK, Control, Digest, PartialFile, Stopped
from genai_tui.engine.models.hf_status import (
    DownloadError,
    FileRef,
    Retry,
    check_status,
    describe,
)

MAX_RETRY_AFTER_S = 900.0


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
                retry = Retry(describe(exc))
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
        check_status(resp, ref, self.endpoint, self._token)

    # -- bytes -----------------------------------------------------------------------------

    def download(self, ctl: Control, ref: FileRef, partial: Path, size: int,
                 expected: Digest | None) -> None:  # fmt: skip
        """Bring `partial` to `size` bytes (resuming from what it holds) and verify it.

        On return the partial is whole, verified and synced; the caller moves it into
        place. A checksum mismatch throws the data away and tries once more from scratch
        (the bad bytes may be an old partial's or a glitch on the way); a second
        mismatch deletes the partial and raises DownloadError.
        """
        with PartialFile(partial, ctl, expected, size) as part:
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

    def _get(self, ctl: Control, ref: FileRef, part: PartialFile, size: int) -> None:
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
            raise Retry(describe(exc)) from None
        ctl.check()
