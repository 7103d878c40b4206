"""The fake Hub's fault switches and counters do what the download tests rely on."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

REPO = "org/model"
BIG = os.urandom(200_000)


@pytest.fixture
def hub(hub_server):
    hub_server.add_repo(REPO, {"model.gguf": BIG, "config.json": b'{"a": 1}'})
    return hub_server


def _get(hub, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{hub.url}{path}", headers=headers, follow_redirects=True)


def test_lfs_file_redirects_to_cdn_with_linked_headers(hub) -> None:
    head = httpx.head(f"{hub.url}/{REPO}/resolve/main/model.gguf")
    assert head.status_code == 302
    assert head.headers["Location"].startswith(f"{hub.url}/cdn/")
    assert head.headers["X-Linked-Etag"] == f'"{hashlib.sha256(BIG).hexdigest()}"'
    assert head.headers["X-Linked-Size"] == str(len(BIG))
    assert len(head.headers["X-Repo-Commit"]) == 40
    body = _get(hub, f"/{REPO}/resolve/main/model.gguf")
    assert body.content == BIG
    small = _get(hub, f"/{REPO}/resolve/main/config.json")
    assert small.content == b'{"a": 1}' and small.history == []


def test_range_gives_206_and_counts_only_those_bytes(hub) -> None:
    r = _get(hub, f"/{REPO}/resolve/main/model.gguf", Range="bytes=150000-")
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 150000-{len(BIG) - 1}/{len(BIG)}"
    assert r.content == BIG[150000:]
    assert hub.bytes_sent[f"{REPO}/model.gguf"] == len(BIG) - 150000
    assert hub.requests[-1].range == "bytes=150000-"
    bounded = _get(hub, f"/{REPO}/resolve/main/model.gguf", Range="bytes=0-99")
    assert bounded.status_code == 206 and bounded.content == BIG[:100]
    past_end = _get(hub, f"/{REPO}/resolve/main/model.gguf", Range=f"bytes={len(BIG)}-")
    assert past_end.status_code == 416


def test_dropped_connection_once_then_whole(hub) -> None:
    hub.drop_after(f"{REPO}/model.gguf", 70_000)
    with pytest.raises(httpx.RemoteProtocolError):
        _get(hub, f"/{REPO}/resolve/main/model.gguf")
    assert hub.bytes_sent[f"{REPO}/model.gguf"] == 70_000
    assert _get(hub, f"/{REPO}/resolve/main/model.gguf").content == BIG


def test_dropped_connection_every_time(hub) -> None:
    hub.drop_after(f"{REPO}/model.gguf", 1000, times=None)
    for _ in range(3):
        with pytest.raises(httpx.RemoteProtocolError):
            _get(hub, f"/{REPO}/resolve/main/model.gguf")


def test_500_n_times(hub) -> None:
    hub.fail(f"{REPO}/config.json", 500, times=2)
    codes = [_get(hub, f"/{REPO}/resolve/main/config.json").status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_429_with_retry_after(hub) -> None:
    hub.fail(f"{REPO}/model.gguf", 429, retry_after=2)
    r = _get(hub, f"/{REPO}/resolve/main/model.gguf")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert _get(hub, f"/{REPO}/resolve/main/model.gguf").status_code == 200


def test_api_path_fault(hub) -> None:
    hub.fail("/api/models", 503)
    assert _get(hub, "/api/models").status_code == 503
    assert _get(hub, "/api/models").status_code == 200


def test_corrupted_payload_same_length_same_etag(hub) -> None:
    hub.corrupt(f"{REPO}/model.gguf")
    r = _get(hub, f"/{REPO}/resolve/main/model.gguf")
    assert len(r.content) == len(BIG) and r.content != BIG
    assert r.headers["ETag"] == f'"{hashlib.sha256(BIG).hexdigest()}"'


def test_traversal_name_is_listed(hub_server) -> None:
    hub_server.add_repo("org/evil", {"../escape.txt": b"x", "ok.txt": b"y"})
    tree = _get(hub_server, "/api/models/org/evil/tree/main?recursive=true").json()
    assert "../escape.txt" in [e["path"] for e in tree]


def test_gated_and_private_need_an_accepted_token(hub_server) -> None:
    hub_server.add_repo("org/gated", {"w.bin": b"w", "README.md": b"card"}, gated="manual",
                        access=("hf_good",))  # fmt: skip
    hub_server.add_repo("org/private", {"a.txt": b"a"}, private=True, access=("hf_good",))
    hub_server.tokens.add("hf_other")
    url = "/org/gated/resolve/main/w.bin"
    assert _get(hub_server, url).status_code == 401
    assert _get(hub_server, url).headers["X-Error-Code"] == "GatedRepo"
    assert _get(hub_server, url, Authorization="Bearer hf_other").status_code == 403
    assert _get(hub_server, url, Authorization="Bearer hf_wrong").status_code == 401
    assert _get(hub_server, url, Authorization="Bearer hf_good").content == b"w"
    assert _get(hub_server, "/org/gated/resolve/main/README.md").content == b"card"
    assert _get(hub_server, "/api/models/org/private").status_code == 401
    assert (
        _get(hub_server, "/api/models/org/private", Authorization="Bearer hf_good").json()["id"]
        == "org/private"
    )
    assert _get(hub_server, "/api/models/org/nope").status_code == 404
