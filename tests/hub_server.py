"""A real loopback Hugging Face Hub-compatible HTTP server for tests.

Serves repos registered from Python through the endpoints huggingface_hub 2.x
calls: model search (`/api/models`, paged with a `Link` header), model info
(`/api/models/{repo}[/revision/{rev}]`), the file tree
(`/api/models/{repo}/tree/{rev}[/{path}]`) and `HEAD`/`GET /{repo}/resolve/{rev}/{path}`
with `X-Repo-Commit`, `ETag` and `Range`. LFS files are answered with a 302 to
`/cdn/...` on the same server, as the real Hub redirects to its CDN.

Faults are switched on per test and per file (`fail`, `drop_after`, `corrupt`),
and for the whole server (`ranges = False`: Range ignored, every GET a 200);
counters (`bytes_sent`, `requests`, `most_sending` bodies at once) let tests
check what was transferred.
A file is named by its key "repo_id/path" everywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")
DEFAULT_DATE = "2024-01-01T00:00:00.000Z"
UNGATED_FILES = ("README.md", ".gitattributes")  # readable in a gated repo, as on the Hub
SHORT_FIELDS = ("likes", "trendingScore", "downloads", "tags", "pipeline_tag", "library_name",
                "createdAt")  # fmt: skip
CHUNK = 64 * 1024
_FLIP = bytes(255 - i for i in range(256))  # bytes.translate table that flips every bit


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _true(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, [""])[-1].lower() in ("1", "true")


@dataclass
class RepoFile:
    """One file; its hashes are computed once."""

    path: str
    data: bytes
    size: int = field(init=False)
    git_oid: str = field(init=False)  # git blob sha1: the ETag of small files
    sha256: str = field(init=False)  # the ETag of LFS files

    def __post_init__(self) -> None:
        self.size = len(self.data)
        self.git_oid = _sha1(b"blob %d\0" % self.size + self.data)
        self.sha256 = hashlib.sha256(self.data).hexdigest()

    @property
    def is_lfs(self) -> bool:
        return self.size >= 1024 or self.path.endswith(LFS_SUFFIXES)

    def entry(self) -> dict[str, Any]:
        e: dict[str, Any] = {"type": "file", "oid": self.git_oid, "size": self.size,
                             "path": self.path}  # fmt: skip
        if self.is_lfs:
            e["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": 134}
        return e


@dataclass
class Repo:
    repo_id: str
    files: dict[str, RepoFile]
    info: dict[str, Any]
    gated: bool | str = False
    private: bool = False
    access: set[str] = field(default_factory=set)  # tokens let into a gated/private repo

    @property
    def sha(self) -> str:
        digest = hashlib.sha1(self.repo_id.encode())
        for name in sorted(self.files):
            digest.update(f"{name}\0{self.files[name].git_oid}".encode())
        return digest.hexdigest()


class Request(NamedTuple):
    method: str
    path: str  # unquoted URL path, without the query
    range: str | None  # the Range header
    file: str | None  # "repo_id/path" when a file was asked for (resolve or CDN)


@dataclass
class _Fault:
    status: int
    times: int | None  # None: every time
    retry_after: float | None
    head: bool
    message: str | None = None  # the X-Error-Message (latin-1: C1 controls pass, ESC not)


class FakeHub:
    """The server: `start()`/`stop()` or a `with` block; `url` is its endpoint."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.tokens: set[str] = set()  # tokens accepted as valid users
        self.page_size = 50  # /api/models page cap (a smaller `limit` lowers it)
        self.tree_page_size = 1000
        self.bytes_sent: Counter[str] = Counter()  # file key -> body bytes written
        self.requests: list[Request] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._drops: dict[str, list[int | None]] = {}  # key -> [after_bytes, times]
        self._corrupt: set[str] = set()
        self._lock = threading.Lock()
        self.ranges = True  # False: Range is ignored (200, the whole file), as some servers do
        self.chunk_delay_s = 0.0  # a pause after each CHUNK of a body: a slower link
        self.sending = 0  # file bodies being sent right now
        self.most_sending = 0  # the most at once since reset_counters
        self._httpd: ThreadingHTTPServer | None = None
        self.url = ""

    def add_repo(
        self, repo_id: str, files: dict[str, bytes] | None = None, *, kind: str | None = None,
        tags: list[str] | tuple[str, ...] = (), pipeline_tag: str | None = None,
        library: str | None = None, downloads: int = 0, likes: int = 0, trending: float = 0,
        gated: bool | str = False, private: bool = False, access: tuple[str, ...] = (),
        license: str | None = None, author: str | None = None,
        last_modified: str = DEFAULT_DATE, card: str | None = None,
    ) -> Repo:  # fmt: skip
        """Register a repo; `kind` ("gguf"/"diffusers") is guessed from the files if not given.

        `gated` is False, "auto" or "manual"; `access` lists tokens that may read a gated or
        private repo (they become accepted `tokens` too). `card` becomes README.md.
        Any file name is served as given, "../escape.txt" included.
        """
        files = dict(files or {})
        if card is not None:
            files["README.md"] = card.encode()
        if kind is None and any(n.endswith(".gguf") for n in files):
            kind = "gguf"
        elif kind is None and "model_index.json" in files:
            kind = "diffusers"
        library = library or ("diffusers" if kind == "diffusers" else None)
        all_tags = list(tags)
        for extra in (kind, library, pipeline_tag, f"license:{license}" if license else None):
            if extra and extra not in all_tags:
                all_tags.append(extra)
        info = {
            "author": author or (repo_id.split("/")[0] if "/" in repo_id else None),
            "downloads": downloads, "likes": likes, "trendingScore": trending,
            "lastModified": last_modified, "createdAt": last_modified,
            "library_name": library, "pipeline_tag": pipeline_tag, "tags": all_tags,
            "cardData": {"license": license, "tags": list(tags)} if license or tags else None,
        }  # fmt: skip
        repo = Repo(repo_id, {n: RepoFile(n, d) for n, d in files.items()}, info, gated,
                    private, set(access))  # fmt: skip
        with self._lock:
            self.tokens |= set(access)
            self.repos[repo_id] = repo
        return repo

    # -- fault switches and counters --------------------------------------------------------

    def fail(self, target: str, status: int = 500, *, times: int | None = 1,
             retry_after: float | None = None, head: bool = False,
             message: str | None = None) -> None:  # fmt: skip
        """Answer `status` to the next `times` GETs (None: all) of `target`.

        `target` is a file key "repo_id/path" (resolve and CDN GETs; HEADs too if `head`)
        or a URL path starting with "/" matched as a prefix (e.g. "/api/models").
        `retry_after` (seconds) adds a `Retry-After` header, for 429 or 503.
        """
        with self._lock:
            fault = _Fault(status, times, retry_after, head, message)
            self._faults.setdefault(target, []).append(fault)

    def drop_after(self, key: str, nbytes: int, *, times: int | None = 1) -> None:
        """Close the connection after `nbytes` body bytes of file `key` (times None: always)."""
        with self._lock:
            self._drops[key] = [nbytes, times]

    def corrupt(self, key: str, on: bool = True) -> None:
        """Serve file `key` with every byte flipped: same length, same advertised sha256."""
        with self._lock:
            (self._corrupt.add if on else self._corrupt.discard)(key)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._drops.clear()
            self._corrupt.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_sent.clear()
            self.requests.clear()
            self.most_sending = self.sending

    def requests_for(self, key: str) -> list[Request]:
        """The logged requests for file `key` (HEAD, resolve and CDN)."""
        return [r for r in self.requests if r.file == key]

    def _take_fault(self, keys: tuple[str, ...], method: str) -> _Fault | None:
        with self._lock:
            for target, faults in self._faults.items():
                hit = any(k == target or (target[0] == "/" and k.startswith(target)) for k in keys)
                for fault in faults if hit else ():
                    if (method == "HEAD" and not fault.head) or fault.times == 0:
                        continue
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _take_drop(self, key: str) -> int | None:
        with self._lock:
            drop = self._drops.get(key)
            if drop is None or drop[1] == 0:
                return None
            if drop[1] is not None:
                drop[1] -= 1
            return drop[0]

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def find_repo(self, rest: str) -> tuple[Repo | None, str, str]:
        """Split "org/name/more" into (repo, repo_id, "more") using the registered ids."""
        parts = rest.split("/")
        for n in (2, 1):
            if (repo_id := "/".join(parts[:n])) in self.repos:
                return self.repos[repo_id], repo_id, "/".join(parts[n:])
        return None, "/".join(parts[:2]), "/".join(parts[2:])

    def model_json(self, repo: Repo, expand: list[str] | None, full: bool, blobs: bool) -> dict:
        everything = {**repo.info, "sha": repo.sha, "gated": repo.gated, "disabled": False,
                      "usedStorage": sum(f.size for f in repo.files.values())}  # fmt: skip
        siblings = []
        for f in sorted(repo.files.values(), key=lambda f: f.path):
            sib: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                sib.update(size=f.size, blobId=f.git_oid)
                if f.is_lfs:
                    sib["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(sib)
        everything["siblings"] = siblings
        data: dict[str, Any] = {"_id": repo.sha[:24], "id": repo.repo_id}
        if expand:
            return data | {k: everything.get(k) for k in expand}
        data.update(modelId=repo.repo_id, private=repo.private)
        return data | (everything if full else {k: everything[k] for k in SHORT_FIELDS})


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stay quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(200, json.dumps(data).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None, **headers: str) -> None:
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        headers["X-Error-Message"] = message
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:].strip() if auth.startswith("Bearer ") else None

    def _denied(self, repo: Repo, path: str | None) -> bool:
        """Answer 401/403 and return True when the request may not read `repo` (or `path`)."""
        token = self._token()
        if token is not None and token not in self.hub.tokens:
            self._error(401, "Invalid credentials in Authorization header")
        elif repo.private and token not in repo.access:
            self._error(401, "Repository not found", "RepoNotFound")
        elif repo.gated and path and path not in UNGATED_FILES and token not in repo.access:
            status, why = (401, "You must be authenticated") if token is None else (
                403, "You are not in the authorized list")  # fmt: skip
            self._error(status, f"Access to model {repo.repo_id} is restricted. {why}.",
                        "GatedRepo")  # fmt: skip
        else:
            return False
        return True

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        split = urlsplit(self.path)
        path, query = unquote(split.path), parse_qs(split.query)
        try:
            if path == "/api/models":
                self._log(path)
                self._list_models(query)
            elif path.startswith("/api/models/"):
                self._log(path)
                self._model_api(path[len("/api/models/") :], query)
            elif path.startswith("/cdn/"):
                self._file(path, path[len("/cdn/") :], cdn=True)
            elif "/resolve/" in path:
                self._file(path, path[1:], cdn=False)
            else:
                self._log(path)
                self._error(404, "Not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _log(self, path: str, key: str | None = None) -> bool:
        """Log the request; answer an injected fault and return True if one applies."""
        self.hub.requests.append(Request(self.command, path, self.headers.get("Range"), key))
        fault = self.hub._take_fault((path, key) if key else (path,), self.command)
        if fault is not None:
            extra = (
                {"Retry_After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            )
            self._error(fault.status, fault.message or f"Injected fault {fault.status}", **extra)
        return fault is not None

    # -- API ------------------------------------------------------------------------------

    def _list_models(self, query: dict[str, list[str]]) -> None:
        q = {k: v[-1] for k, v in query.items()}
        token = self._token()
        repos = [r for r in self.hub.repos.values() if not r.private or token in r.access]
        search = q.get("search", "").lower()
        repos = [r for r in repos if search in r.repo_id.lower()]
        for tag in query.get("filter", []):
            repos = [r for r in repos if tag in r.info["tags"]]
        for name, key in (("author", "author"), ("pipeline_tag", "pipeline_tag")):
            if name in q:
                repos = [r for r in repos if r.info[key] == q[name]]
        if sort := q.get("sort"):
            repos.sort(key=lambda r: r.repo_id if sort == "id" else r.info.get(sort) or 0,
                       reverse=q.get("direction", "-1") != "1")  # fmt: skip
        size = min(int(q.get("limit", 0)) or self.hub.page_size, self.hub.page_size)
        start = int(q.get("cursor", 0))
        headers = {}
        if start + size < len(repos):
            params = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs]
            next_url = f"{self.hub.url}/api/models?{urlencode([*params, ('cursor', start + size)])}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        expand, full = query.get("expand"), _true(query, "full")
        self._json([self.hub.model_json(r, expand, full, False)
                    for r in repos[start : start + size]], headers)  # fmt: skip

    def _model_api(self, rest: str, query: dict[str, list[str]]) -> None:
        repo, repo_id, more = self.hub.find_repo(rest)
        if repo is None:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        if self._denied(repo, None):
            return
        if m := re.fullmatch(r"tree/([^/]+)(?:/(.*))?", more):
            if self._revision_ok(repo, m.group(1)):
                self._tree(repo, m.group(2) or "", query)
        elif m := re.fullmatch(r"revision/(.+)", more):
            if self._revision_ok(repo, m.group(1)):
                self._json(
                    self.hub.model_json(repo, query.get("expand"), True, _true(query, "blobs"))
                )
        elif not more:
            self._json(self.hub.model_json(repo, query.get("expand"), True, _true(query, "blobs")))
        else:
            self._error(404, "Not found")

    def _revision_ok(self, repo: Repo, rev: str) -> bool:
        if rev in ("main", repo.sha):
            return True
        self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound", X_Repo_Commit=repo.sha)
        return False

    def _tree(self, repo: Repo, folder: str, query: dict[str, list[str]]) -> None:
        recursive = _true(query, "recursive")
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        entries: dict[str, dict] = {}
        for f in repo.files.values():
            if not f.path.startswith(prefix):
                continue
            parts = f.path[len(prefix) :].split("/")
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                sub = prefix + "/".join(parts[:depth])
                entries[sub] = {"type": "directory", "oid": _sha1(sub.encode()), "size": 0,
                                "path": sub}  # fmt: skip
            if len(parts) == 1 or recursive:
                entries[f.path] = f.entry()
        if prefix and not entries:
            return self._error(404, f"{folder} does not exist on main", "EntryNotFound")
        items = [entries[k] for k in sorted(entries)]
        start, size = int(query.get("cursor", ["0"])[-1]), self.hub.tree_page_size
        headers = {}
        if start + size < len(items):
            url = f"{self.hub.url}/api/models/{repo.repo_id}/tree/main/{quote(folder)}".rstrip("/")
            params = urlencode({"recursive": str(recursive), "cursor": start + size})
            headers["Link"] = f'<{url}?{params}>; rel="next"'
        self._json(items[start : start + size], headers)

    # -- files ----------------------------------------------------------------------------

    def _file(self, path: str, rest: str, *, cdn: bool) -> None:
        repo, repo_id, more = self.hub.find_repo(rest)
        rev, file_path = ("main", more) if cdn else (more.split("/", 2) + ["", "", ""])[1:3]
        if self._log(path, f"{repo_id}/{file_path}"):
            return
        if repo is None or not (cdn or more.startswith("resolve/")):
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        # The CDN URL stands for a signed one: no auth there, as on the real Hub.
        if not cdn and (self._denied(repo, file_path) or not self._revision_ok(repo, rev)):
            return
        f = repo.files.get(file_path)
        if f is None:
            return self._error(404, f"Entry not found: {file_path}", "EntryNotFound",
                               X_Repo_Commit=repo.sha)  # fmt: skip
        etag = f'"{f.sha256 if f.is_lfs else f.git_oid}"'
        headers = {"X-Repo-Commit": repo.sha, "ETag": etag}
        if f.is_lfs and not cdn:
            headers.update({"Location": f"{self.hub.url}/cdn/{repo_id}/{quote(file_path)}",
                            "X-Linked-Etag": etag, "X-Linked-Size": str(f.size)})  # fmt: skip
            return self._send(302, b"", headers)
        self._serve(f"{repo_id}/{file_path}", f, headers)

    def _serve(self, key: str, f: RepoFile, headers: dict[str, str]) -> None:
        start, end, status = 0, f.size - 1, 200
        asked = self.headers.get("Range", "").strip() if self.hub.ranges else ""
        if m := re.fullmatch(r"bytes=(\d*)-(\d*)", asked):
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), end) if m.group(2) else end
            elif m.group(2):
                start = max(f.size - int(m.group(2)), 0)
            if start >= f.size > 0:
                return self._error(416, "Range Not Satisfiable", Content_Range=f"bytes */{f.size}")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
        self.send_response(status)
        headers |= {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes" if self.hub.ranges else "none",
            "Content-Length": str(end - start + 1),
            "Content-Disposition": f'attachment; filename="{f.path.split("/")[-1]}"',
        }
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        data = f.data.translate(_FLIP) if key in self.hub._corrupt else f.data
        body = memoryview(data)[start : end + 1]
        drop = self.hub._take_drop(key)
        limit = len(body) if drop is None else min(drop, len(body))
        with self.hub._lock:
            self.hub.sending += 1
            self.hub.most_sending = max(self.hub.most_sending, self.hub.sending)
        try:
            for pos in range(0, limit, CHUNK):
                chunk = body[pos : min(pos + CHUNK, limit)]
                self.wfile.write(chunk)
                with self.hub._lock:
                    self.hub.bytes_sent[key] += len(chunk)
                if self.hub.chunk_delay_s:
                    time.sleep(self.hub.chunk_delay_s)
        finally:
            with self.hub._lock:
                self.hub.sending -= 1
        if limit < len(body):  # the injected drop: cut the connection mid-body
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
