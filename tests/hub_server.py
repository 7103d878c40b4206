"""A real loopback Hugging Face Hub-compatible HTTP server for tests.

Serves repos registered from Python through the endpoints huggingface_hub 2.x
calls: model search (`/api/models`, paged with a `Link` header), model info
(`/api/models/{repo}[/revision/{rev}]`), the file tree
(`/api/models/{repo}/tree/{rev}[/{path}]`) and `HEAD`/`GET /{repo}/resolve/{rev}/{path}`
with `X-Repo-Commit`, `ETag` and `Range`. LFS files are answered with a 302 to
`/cdn/...` on the same server, as the real Hub redirects to its CDN.

Faults can be switched on per test and per file (see `fail`, `drop_after`,
`corrupt`), and counters (`bytes_sent`, `requests`) let tests check what was
transferred.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")
DEFAULT_DATE = "2024-01-01T00:00:00.000Z"
# Files readable in a gated repo without access (as on the real Hub).
UNGATED_FILES = ("README.md", ".gitattributes")
CHUNK = 64 * 1024


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@dataclass
class RepoFile:
    """One file; its hashes are computed once."""

    path: str
    data: bytes
    size: int = field(init=False)
    git_oid: str = field(init=False)  # git blob sha1: the ETag of non-LFS files
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.data)
        self.git_oid = _sha1(b"blob %d\0" % self.size + self.data)
        self.sha256 = hashlib.sha256(self.data).hexdigest()

    @property
    def is_lfs(self) -> bool:
        return self.size >= 1024 or self.path.endswith(LFS_SUFFIXES)

    @property
    def etag(self) -> str:
        return self.sha256 if self.is_lfs else self.git_oid

    def tree_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.git_oid, "size": self.size, "path": self.path}
        if self.is_lfs:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": 134}
        return entry


@dataclass
class Repo:
    repo_id: str
    files: dict[str, RepoFile]
    info: dict[str, Any]
    gated: bool | str = False
    private: bool = False
    access: set[str] = field(default_factory=set)  # tokens allowed into a gated/private repo

    @property
    def sha(self) -> str:
        digest = hashlib.sha1(self.repo_id.encode())
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].git_oid.encode())
        return digest.hexdigest()


class Request(NamedTuple):
    method: str
    path: str  # unquoted URL path, no query
    range: str | None


@dataclass
class _Fault:
    status: int
    times: int | None  # None: every time
    retry_after: float | None = None
    head: bool = False


class FakeHub:
    """The server. Start with `start()` (or the `hub_server` fixture); `url` is its endpoint."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.tokens: set[str] = set()  # tokens the server accepts as valid users
        self.page_size = 50  # /api/models page size cap (the client's `limit` may lower it)
        self.tree_page_size = 1000
        self.bytes_sent: Counter[str] = Counter()  # "repo_id/path" -> body bytes written
        self.requests: list[Request] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._drops: dict[str, list[int | None]] = {}  # key -> [after_bytes, times]
        self._corrupt: set[str] = set()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.url = ""

    # -- registering repos ---------------------------------------------------

    def add_repo(
        self, repo_id: str, files: dict[str, bytes] | None = None, *, kind: str | None = None,
        tags: list[str] | tuple[str, ...] = (), pipeline_tag: str | None = None,
        library: str | None = None, downloads: int = 0, likes: int = 0, trending: float = 0,
        gated: bool | str = False, private: bool = False, access: tuple[str, ...] = (),
        license: str | None = None, author: str | None = None,
        last_modified: str = DEFAULT_DATE, card: str | None = None,
    ) -> Repo:
        """Register a repo. `kind` ("gguf"/"diffusers") is guessed from the files when not given.

        `gated` is False, "auto" or "manual"; `access` lists tokens that may read a gated or
        private repo (they are also added to the accepted `tokens`). `card` becomes README.md.
        """
        files = dict(files or {})
        if card is not None:
            files["README.md"] = card.encode()
        if kind is None:
            kind = ("gguf" if any(n.endswith(".gguf") for n in files)
                    else "diffusers" if "model_index.json" in files else None)  # fmt: skip
        if kind == "diffusers":
            library = library or "diffusers"
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
        repo = Repo(repo_id, {n: RepoFile(n, d) for n, d in files.items()}, info, gated, private,
                    set(access))  # fmt: skip
        self.tokens |= set(access)
        with self._lock:
            self.repos[repo_id] = repo
        return repo

    # -- fault switches --------------------------------------------------------

    def fail(self, target: str, status: int = 500, *, times: int | None = 1,
             retry_after: float | None = None, head: bool = False) -> None:  # fmt: skip
        """Answer `status` to the next `times` GETs (None: all) of `target`.

        `target` is "repo_id/path" for a file (resolve and CDN GETs; HEAD too when `head`),
        or a URL path starting with "/" matched as a prefix (e.g. "/api/models").
        `retry_after` adds a `Retry-After` header (use with 429 or 503).
        """
        with self._lock:
            self._faults.setdefault(target, []).append(_Fault(status, times, retry_after, head))

    def drop_after(self, target: str, nbytes: int, *, times: int | None = 1) -> None:
        """Close the connection after `nbytes` body bytes of "repo_id/path" (None times: always)."""
        with self._lock:
            self._drops[target] = [nbytes, times]

    def corrupt(self, target: str, on: bool = True) -> None:
        """Serve "repo_id/path" with bytes flipped (same length, same advertised ETag/sha256)."""
        with self._lock:
            (self._corrupt.add if on else self._corrupt.discard)(target)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._drops.clear()
            self._corrupt.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_sent.clear()
            self.requests.clear()

    def requests_for(self, target: str) -> list[Request]:
        """Logged requests whose path ends with "/path" of `target` ("repo_id/path")."""
        repo_id, _, path = self._split_target(target)
        return [r for r in self.requests if repo_id in r.path and r.path.endswith("/" + path)]

    def _split_target(self, target: str) -> tuple[str, str, str]:
        for repo_id in sorted(self.repos, key=len, reverse=True):
            if target.startswith(repo_id + "/"):
                return repo_id, "/", target[len(repo_id) + 1 :]
        return target.partition("/")

    def _take_fault(self, keys: list[str], method: str) -> _Fault | None:
        with self._lock:
            for key, faults in self._faults.items():
                if not any(k == key or (key.startswith("/") and k.startswith(key)) for k in keys):
                    continue
                for fault in faults:
                    if method == "HEAD" and not fault.head:
                        continue
                    if fault.times is not None:
                        if fault.times <= 0:
                            continue
                        fault.times -= 1
                    return fault
        return None

    def _take_drop(self, key: str) -> int | None:
        with self._lock:
            drop = self._drops.get(key)
            if drop is None or (drop[1] is not None and drop[1] <= 0):
                return None
            if drop[1] is not None:
                drop[1] -= 1
            return drop[0]

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakeHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-hub", daemon=True).start()
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

    # -- helpers for the handler -----------------------------------------------

    def find_repo(self, rest: str) -> tuple[Repo | None, str, str]:
        """Split "org/name/more..." into (repo, repo_id, "more...") using the registered ids."""
        parts = rest.split("/")
        for n in (2, 1):
            repo_id = "/".join(parts[:n])
            if repo_id in self.repos:
                return self.repos[repo_id], repo_id, "/".join(parts[n:])
        return None, "/".join(parts[:2]), "/".join(parts[2:])

    def model_json(self, repo: Repo, expand: list[str] | None, *, full: bool, blobs: bool = False) -> dict:
        data: dict[str, Any] = {"_id": repo.sha[:24], "id": repo.repo_id, "modelId": repo.repo_id,
                                "private": repo.private}  # fmt: skip
        everything = {**repo.info, "sha": repo.sha, "gated": repo.gated, "disabled": False}
        siblings = []
        for f in sorted(repo.files.values(), key=lambda f: f.path):
            sib: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                sib.update(size=f.size, blobId=f.git_oid)
                if f.is_lfs:
                    sib["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(sib)
        everything["siblings"] = siblings
        everything["usedStorage"] = sum(f.size for f in repo.files.values())
        if expand:
            data = {"_id": data["_id"], "id": repo.repo_id}
            data.update({k: everything.get(k) for k in expand})
        elif full:
            data.update(everything)
        else:  # the short form /api/models gives by default
            for k in ("likes", "trendingScore", "downloads", "tags", "pipeline_tag",
                      "library_name", "createdAt"):  # fmt: skip
                data[k] = everything[k]
        return data


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # -- plumbing ----------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(200, json.dumps(data).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None,
               headers: dict[str, str] | None = None) -> None:  # fmt: skip
        hdrs = {"X-Error-Message": message, **(headers or {})}
        if code:
            hdrs["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), hdrs)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:].strip() if auth.startswith("Bearer ") else None

    def _auth_ok(self, repo: Repo, path: str | None) -> bool:
        """Check access; answer the error and return False when denied."""
        token = self._token()
        if token is not None and token not in self.hub.tokens:
            self._error(401, "Invalid credentials in Authorization header")
            return False
        if repo.private and token not in repo.access:
            self._error(401, "Repository not found", "RepoNotFound")
            return False
        if repo.gated and path is not None and path not in UNGATED_FILES and token not in repo.access:
            if token is None:
                msg = f"Access to model {repo.repo_id} is restricted. You must be authenticated to access it."
                self._error(401, msg, "GatedRepo")
            else:
                msg = f"Access to model {repo.repo_id} is restricted and you are not in the authorized list."
                self._error(403, msg, "GatedRepo")
            return False
        return True

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = parse_qs(split.query)
        self.hub.requests.append(Request(self.command, path, self.headers.get("Range")))
        fault = self.hub._take_fault([path], self.command)
        if fault is not None:
            return self._fault(fault)
        try:
            if path == "/api/models":
                return self._list_models(query)
            if path.startswith("/api/models/"):
                return self._model_api(path[len("/api/models/") :], query)
            if path.startswith("/cdn/"):
                return self._resolve(path[len("/cdn/") :], cdn=True)
            if "/resolve/" in path:
                return self._resolve(path.lstrip("/"), cdn=False)
            self._error(404, "Not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _fault(self, fault: _Fault) -> None:
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        self._error(fault.status, f"Injected fault {fault.status}", headers=headers)

    # -- API -------------------------------------------------------------------------

    def _list_models(self, query: dict[str, list[str]]) -> None:
        q = {k: v[-1] for k, v in query.items()}
        token = self._token()
        repos = [r for r in self.hub.repos.values() if not r.private or token in r.access]
        if search := q.get("search", "").lower():
            repos = [r for r in repos if search in r.repo_id.lower()]
        for tag in query.get("filter", []):
            repos = [r for r in repos if tag in r.info["tags"] or tag == r.info["library_name"]]
        if author := q.get("author"):
            repos = [r for r in repos if r.info["author"] == author]
        if pipeline := q.get("pipeline_tag"):
            repos = [r for r in repos if r.info["pipeline_tag"] == pipeline]
        sort = q.get("sort")
        if sort:
            key = "id" if sort == "id" else sort
            reverse = q.get("direction", "-1") != "1"
            repos.sort(key=lambda r: (r.repo_id if key == "id" else r.info.get(key) or 0), reverse=reverse)
        limit = int(q.get("limit", 0)) or self.hub.page_size
        size = min(limit, self.hub.page_size)
        start = int(q.get("cursor", 0))
        page = repos[start : start + size]
        headers = {}
        if start + size < len(repos):
            params = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs]
            params.append(("cursor", str(start + size)))
            headers["Link"] = f'<{self.hub.url}/api/models?{urlencode(params)}>; rel="next"'
        expand = query.get("expand") or None
        full = q.get("full", "").lower() in ("1", "true")
        self._json([self.hub.model_json(r, expand, full=full) for r in page], headers)

    def _model_api(self, rest: str, query: dict[str, list[str]]) -> None:
        repo, repo_id, more = self.hub.find_repo(rest)
        if repo is None:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        if not self._auth_ok(repo, None):
            return
        if m := re.fullmatch(r"tree/([^/]+)(?:/(.*))?", more):
            if not self._revision_ok(repo, m.group(1)):
                return
            return self._tree(repo, m.group(2) or "", query)
        if more and not (m := re.fullmatch(r"revision/(.+)", more)):
            return self._error(404, "Not found")
        if more and not self._revision_ok(repo, m.group(1)):  # type: ignore[union-attr]
            return
        blobs = query.get("blobs", [""])[-1].lower() in ("1", "true")
        self._json(self.hub.model_json(repo, query.get("expand") or None, full=True, blobs=blobs))

    def _revision_ok(self, repo: Repo, rev: str) -> bool:
        if unquote(rev) in ("main", repo.sha):
            return True
        self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound", {"X-Repo-Commit": repo.sha})
        return False

    def _tree(self, repo: Repo, folder: str, query: dict[str, list[str]]) -> None:
        recursive = query.get("recursive", [""])[-1].lower() in ("1", "true")
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        entries: dict[str, dict] = {}
        for f in repo.files.values():
            if not f.path.startswith(prefix):
                continue
            parts = f.path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # folders along the way
                if depth > 1 and not recursive:
                    break
                sub = prefix + "/".join(parts[:depth])
                entries[sub] = {"type": "directory", "oid": _sha1(sub.encode()), "size": 0, "path": sub}
            if len(parts) == 1 or recursive:
                entries[f.path] = f.tree_entry()
        if prefix and not entries:
            return self._error(404, f"{folder} does not exist on main", "EntryNotFound")
        items = [entries[k] for k in sorted(entries)]
        start = int(query.get("cursor", ["0"])[-1])
        size = self.hub.tree_page_size
        headers = {}
        if start + size < len(items):
            params = urlencode({"recursive": str(recursive), "cursor": start + size})
            url = f"{self.hub.url}/api/models/{repo.repo_id}/tree/main/{quote(folder)}"
            headers["Link"] = f'<{url.rstrip("/")}?{params}>; rel="next"'
        self._json(items[start : start + size], headers)

    # -- files -----------------------------------------------------------------------

    def _resolve(self, rest: str, *, cdn: bool) -> None:
        repo, repo_id, more = self.hub.find_repo(rest)
        if cdn:
            rev, _, file_path = "main", "", more
        else:
            m = re.fullmatch(r"resolve/([^/]+)/(.+)", more)
            if repo is None or m is None:
                return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
            rev, file_path = m.group(1), m.group(2)
        if repo is None:
            return self._error(404, "Not found")
        key = f"{repo_id}/{file_path}"
        fault = self.hub._take_fault([key], self.command)
        if fault is not None:
            return self._fault(fault)
        if not cdn and not self._auth_ok(repo, file_path):
            return  # the CDN URL is "signed": no auth there, as on the real Hub
        if not cdn and not self._revision_ok(repo, rev):
            return
        f = repo.files.get(file_path)
        if f is None:
            return self._error(404, f"Entry not found: {file_path}", "EntryNotFound", {"X-Repo-Commit": repo.sha})
        common = {"X-Repo-Commit": repo.sha, "ETag": f'"{f.etag}"'}
        if f.is_lfs and not cdn:
            location = f"{self.hub.url}/cdn/{repo_id}/{quote(file_path)}"
            headers = {**common, "Location": location, "X-Linked-Etag": f'"{f.sha256}"',
                       "X-Linked-Size": str(f.size)}  # fmt: skip
            return self._send(302, b"", headers, "text/plain")
        self._serve_file(key, f, common)

    def _serve_file(self, key: str, f: RepoFile, headers: dict[str, str]) -> None:
        start, end = 0, f.size - 1
        status = 200
        if rng := self.headers.get("Range"):
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m and m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), f.size - 1) if m.group(2) else f.size - 1
            elif m and m.group(2):
                start = max(f.size - int(m.group(2)), 0)
            if start >= f.size and f.size > 0:
                return self._error(416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{f.size}"})
            status = 206
        length = end - start + 1
        self.send_response(status)
        for k, v in {**headers, "Content-Type": "application/octet-stream", "Content-Length": str(length),
                     "Accept-Ranges": "bytes",
                     "Content-Disposition": f'attachment; filename="{f.path.rsplit("/", 1)[-1]}"'}.items():  # fmt: skip
            self.send_header(k, v)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        data = f.data
        if key in self.hub._corrupt:
            data = bytes(b ^ 0xFF for b in data)
        body = memoryview(data)[start : end + 1]
        drop = self.hub._take_drop(key)
        limit = len(body) if drop is None else min(drop, len(body))
        sent = 0
        while sent < limit:
            chunk = body[sent : min(sent + CHUNK, limit)]
            self.wfile.write(chunk)
            sent += len(chunk)
            with self.hub._lock:
                self.hub.bytes_sent[key] += len(chunk)
        if drop is not None and limit < len(body):
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
