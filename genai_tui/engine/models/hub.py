"""Hugging Face Hub search and model details, through huggingface_hub (what they mean:
hub_files).

Synchronous and blocking: the engine calls these with `asyncio.to_thread`.
huggingface_hub is imported inside the methods, so start-up does not pay for it.
GGUF files are grouped by quantization (split files count as one choice),
diffusers repos are described by component and variant, and a GGUF header can
be read over HTTP Range without downloading the weights.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from genai_tui.engine.core.errors import (
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubUnavailableError,
    NotGGUFError,
    TruncatedModelError,
)
from genai_tui.engine.models.gguf_info import GGUFInfo, parse_gguf_header
from genai_tui.engine.models.hub_files import (
    MIB,
    HubFile,
    HubModel,
    ModelDetail,
    SearchPage,
    card_summary,
    diffusers_layout,
    group_gguf,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from huggingface_hub import HfApi

HTTP_TIMEOUT_S = 20.0  # connect, and silence while reading, for every Hub request
HTTP_DEADLINE_S = 120.0  # one ranged read, start to end

Kind = Literal["gguf", "diffusers", "all"]
Sort = Literal["downloads", "likes", "trending", "updated"]
_SORTS: dict[str, Literal["downloads", "likes", "trending_score", "last_modified"]] = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trending_score",
    "updated": "last_modified",
}
_EXPAND = [
    "author",
    "downloads",
    "likes",
    "lastModified",
    "gated",
    "pipeline_tag",
    "library_name",
    "tags",
]


# -- the client ------------------------------------------------------------------------


class HubClient:
    """Search and inspect models on the Hub (or the `endpoint` given, e.g. a mirror).

    The token is the one passed, else $HF_TOKEN, else the file `hf auth login` writes.
    It is sent to the endpoint only and never appears in a message.
    """

    def __init__(self, endpoint: str | None = None, token: str | None = None) -> None:
        self._endpoint = endpoint
        self._token = token
        self._api: HfApi | None = None
        self._reachable = False

    @property
    def endpoint(self) -> str:
        if self._endpoint:
            return self._endpoint.rstrip("/")
        from huggingface_hub import constants

        return os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT

    @property
    def token(self) -> str | None:
        if self._token is None:
            from huggingface_hub import get_token

            self._token = get_token() or ""
        return self._token or None

    @property
    def api(self) -> HfApi:
        if self._api is None:
            from huggingface_hub import HfApi

            bounded_session()  # HfApi's calls go through the shared client
            self._api = HfApi(endpoint=self.endpoint, token=self.token or False)
        return self._api

    # -- search and detail -------------------------------------------------------------

    def search(
        self,
        query: str = "",
        kind: Kind = "all",
        sort: Sort = "downloads",
        author: str | None = None,
        page: int = 0,
        page_size: int = 20,
    ) -> SearchPage:
        """One page of models matching `query`, most downloaded (or liked, ...) first."""
        start = page * page_size
        with self._errors("Searching models"):
            self._probe()
            models = self.api.list_models(
                search=query or None,
                filter=None if kind == "all" else kind,
                author=author or None,
                sort=_SORTS[sort],
                limit=start + page_size + 1,
                expand=_EXPAND,  # type: ignore[arg-type]  # a list of the Literal names
            )
            items = [_model(m) for m in islice(models, start, start + page_size + 1)]
        return SearchPage(items[:page_size], page, len(items) > page_size)

    def detail(self, repo_id: str, revision: str = "main", *, card: bool = True) -> ModelDetail:
        """The model, its files with sizes, GGUF quant choices or diffusers layout, card summary.

        `card=False` skips fetching README.md (the summary is then empty).
        """
        with self._errors(f"Reading {repo_id}", repo_id):
            info = self.api.model_info(repo_id, revision=revision, files_metadata=True)
        files = tuple(
            HubFile(s.rfilename, s.size or 0, s.lfs.sha256 if s.lfs else None)
            for s in info.siblings or []
        )
        names = {f.path for f in files}
        sha = info.sha or revision
        summary = ""
        if card and "README.md" in names:
            text = self._fetch_text(repo_id, "README.md", sha, 64 * 1024)
            summary = card_summary(text) if text else ""
        layout = None
        if "model_index.json" in names:
            raw = self._fetch_text(repo_id, "model_index.json", sha, 256 * 1024)
            layout = diffusers_layout(files, _component_names(raw))
        return ModelDetail(_model(info), info.sha, summary, files, group_gguf(files), layout)

    def read_gguf_header(
        self, repo_id: str, filename: str, revision: str = "main", max_bytes: int = 8 * MIB
    ) -> GGUFInfo | None:
        """Parse a remote GGUF's header from its first bytes (HTTP Range, growing as needed).

        None when the file is not GGUF or its header is larger than `max_bytes`.
        """
        data = b""
        want = 256 * 1024
        total: int | None = None
        while True:
            chunk, total = self._get_range(repo_id, filename, revision, len(data), want - 1)
            data += chunk
            try:
                return parse_gguf_header(data, total or len(data), PurePosixPath(filename).name)
            except NotGGUFError:
                return None
            except TruncatedModelError:
                if (
                    len(chunk) == 0
                    or (total is not None and len(data) >= total)
                    or want >= max_bytes
                ):
                    return None
            want = min(want * 4, max_bytes)

    # -- HTTP helpers --------------------------------------------------------------------

    def _probe(self) -> None:
        """One quick request without retries until the endpoint has answered once.

        list_models retries connection errors for ~23 s; this makes "offline" show at once.
        """
        if self._reachable:
            return
        bounded_session().head(f"{self.endpoint}/api/models", timeout=10)
        self._reachable = True

    def _get_range(
        self, repo_id: str, filename: str, revision: str, start: int, end: int
    ) -> tuple[bytes, int | None]:
        """Bytes start..end of a file and the file's full size (from Content-Range)."""
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=self.endpoint)
        headers = build_hf_headers(token=self.token or False)
        headers["Range"] = f"bytes={start}-{end}"
        doing = f"Reading {filename} from {repo_id}"
        with self._errors(doing, repo_id), bounded_session().stream(
            "GET", url, headers=headers, follow_redirects=True
        ) as r:
            if r.status_code == 416:
                return b"", start
            if r.status_code >= 400:
                r.read()  # an error page is small; hf_raise_for_status reads it
                hf_raise_for_status(r)
            # A server that ignores Range sends the whole file: read only what is needed.
            need = end + 1 if r.status_code == 200 else end - start + 1
            body = read_at_most(r.iter_bytes(), need, time.monotonic() + HTTP_DEADLINE_S, doing)
        m = re.search(r"/(\d+)\s*$", r.headers.get("Content-Range", ""))
        if r.status_code == 200:
            size = r.headers.get("Content-Length")
            return body[start : end + 1], int(size) if size and size.isdigit() else None
        return body, int(m.group(1)) if m else None

    def _fetch_text(self, repo_id: str, filename: str, revision: str, limit: int) -> str:
        """The first `limit` bytes of a small text file; "" if it cannot be read."""
        try:
            data, _ = self._get_range(repo_id, filename, revision, 0, limit - 1)
        except HubError:
            return ""
        return data.decode("utf-8", errors="replace")

    @contextmanager
    def _errors(self, doing: str, repo_id: str | None = None) -> Iterator[None]:
        """Turn huggingface_hub / HTTP failures into HubError values with a next step."""
        import httpx2
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            HfHubHTTPError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        where = self.endpoint
        login = "Set HF_TOKEN (or hf_token in the settings) or run `hf auth login`."
        try:
            yield
        except GatedRepoError as exc:
            status = exc.response.status_code if exc.response is not None else 401
            page = f"{where}/{repo_id}"
            if status == 403:
                raise HubAuthError(
                    f"{repo_id} is gated: this token has not been granted access (403).",
                    f"Accept the license on the model page ({page}), then try again.",
                ) from None
            raise HubAuthError(
                f"{repo_id} is gated: you must be logged in to download it (401).",
                f"{login} Then accept the license on the model page ({page}).",
            ) from None
        except RevisionNotFoundError:
            raise HubNotFoundError(
                f"{doing}: that revision of {repo_id} does not exist.",
                "Check the branch, tag or commit name.",
            ) from None
        except EntryNotFoundError:
            raise HubNotFoundError(
                f"{doing}: the file does not exist in {repo_id}.",
                "Refresh the file list and pick another file.",
            ) from None
        except RepositoryNotFoundError as exc:
            private = exc.response is not None and exc.response.status_code == 401
            hint = "Check the name (owner/model)."
            if private:
                hint += " If it is private, it needs a token with access: " + login
            raise HubNotFoundError(f"{repo_id} was not found on {where}.", hint) from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 401 and self.token:
                raise HubAuthError(
                    f"{doing}: {where} rejected the token (401: invalid or expired).",
                    f"Create a new token at {where}/settings/tokens, then {login[0].lower()}"
                    f"{login[1:]}",
                ) from None
            if status == 401:
                raise HubAuthError(f"{doing}: {where} asks for a token (401).", login) from None
            if status == 403:
                raise HubAuthError(
                    f"{doing}: access denied (403).",
                    "Check that your token has read access to this repo.",
                ) from None
            if status == 429:
                wait = exc.response.headers.get("Retry-After") if exc.response is not None else None
                raise HubUnavailableError(
                    f"{doing}: {where} is rate limiting requests (429).",
                    f"Try again in {wait or 'a few'} seconds.",
                ) from None
            raise HubUnavailableError(
                f"{doing}: {where} answered HTTP {status}.",
                "The Hub may be having trouble; try again shortly.",
            ) from None
        except httpx2.TimeoutException as exc:
            self._reachable = False
            raise HubUnavailableError(
                f"{doing}: {where} stopped answering ({type(exc).__name__} after "
                f"{HTTP_TIMEOUT_S:g} s).",
                "The network or the server is stalled; try again, or check HF_ENDPOINT.",
            ) from None
        except (httpx2.TransportError, OfflineModeIsEnabled, OSError) as exc:
            self._reachable = False
            raise HubUnavailableError(
                f"{doing}: cannot reach {where} ({type(exc).__name__}).",
                "Check the network, or HF_ENDPOINT if you use a mirror; HF_HUB_OFFLINE=1 "
                "turns Hub access off.",
            ) from None


def bounded_session() -> Any:
    """huggingface_hub's shared HTTP client, with timeouts: out of the box it has none, so a
    silent server would hang a search or a header read (and every call through HfApi)."""
    import httpx2
    from huggingface_hub.utils import get_session

    session = get_session()
    if session.timeout.read is None or session.timeout.read > HTTP_TIMEOUT_S:
        session.timeout = httpx2.Timeout(HTTP_TIMEOUT_S)
    return session


def read_at_most(chunks: Iterable[bytes], limit: int, deadline: float, doing: str) -> bytes:
    """Up to `limit` bytes of a body (the rest is not read), within `deadline`."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) >= limit:
            break
        if time.monotonic() > deadline:
            raise HubUnavailableError(f"{doing}: the transfer is too slow (over "
                                      f"{HTTP_DEADLINE_S:g} s).", "Try again later.")  # fmt: skip
    return bytes(body[:limit])


def _model(info: Any) -> HubModel:
    tags = tuple(info.tags or ())
    license_ = getattr(info.card_data, "license", None) if info.card_data else None
    if not license_:
        license_ = next(
            (t.removeprefix("license:") for t in tags if t.startswith("license:")), None
        )
    return HubModel(
        repo_id=info.id,
        author=info.author or (info.id.split("/")[0] if "/" in info.id else None),
        downloads=info.downloads or 0,
        likes=info.likes or 0,
        last_modified=info.last_modified,
        gated=info.gated or False,
        license=license_ if isinstance(license_, str) else None,
        pipeline_tag=info.pipeline_tag,
        library=info.library_name,
        tags=tags,
    )


def _component_names(raw: str) -> list[str] | None:
    """Components listed in model_index.json (keys whose value names a library and class)."""
    try:
        index = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(index, dict):
        return None
    return [
        k
        for k, v in index.items()
        if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and v[0]
    ]
