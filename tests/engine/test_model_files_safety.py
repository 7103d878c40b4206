"""Downloads on a shared box: hostile file names from the Hub, the token in a long error
message, symlinks planted where partial downloads are written. Real HTTP (the loopback
Hub in tests/hub_server.py, or a small server here), real files."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from genai_tui.engine.core.events import DownloadFailed
from genai_tui.engine.core.store import Store
from genai_tui.engine.models.downloads import DownloadQueue, JobFile
from genai_tui.engine.models.hf_cache import LocalDirLayout, safe_relpath
from genai_tui.engine.models.hub import HubClient

CONTROL = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
WEIGHTS = random.Random(7).randbytes(300_000)


@pytest.fixture
async def make_queue(store: Store, cache: Path):
    queues: list[DownloadQueue] = []

    async def make(endpoint: str, token: str | None = None, **kw) -> DownloadQueue:
        q = DownloadQueue(store, cache_dir=cache, endpoint=endpoint, token=token,
                          backoff_s=0.01, **kw)  # fmt: skip
        queues.append(q)
        await q.start()
        return q

    yield make
    for q in queues:
        await q.aclose()


async def failed_event(sub) -> DownloadFailed:
    async with asyncio.timeout(5):
        async for event in sub:
            if isinstance(event, DownloadFailed):
                return event
    raise AssertionError("the event stream ended")


def no_control(text: str) -> bool:
    return not any(c in text for c in CONTROL)


# -- file names with control characters, listed by the Hub ----------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "evil\x1b]52;c;cm0gLXJmIH4K\x07.gguf",  # OSC 52: writes the clipboard
        "sub/\x1b[2J\x1b[Hclean.safetensors",  # CSI: clears the screen
        "red\x9b31m.bin",  # a one-byte C1 CSI
        "bell\x07.txt",
        "del\x7f.txt",
        "two\nlines.txt",
    ],
)
async def test_names_with_control_characters_are_refused(
    hub_server, make_queue, store: Store, cache: Path, tmp_path: Path, name: str
) -> None:
    hub_server.add_repo("acme/hostile", {"config.json": b"{}", name: WEIGHTS})
    detail = await asyncio.to_thread(HubClient(hub_server.url, token="").detail, "acme/hostile")
    assert name in {f.path for f in detail.files}  # the Hub really lists it
    hub_server.reset_counters()

    q = await make_queue(hub_server.url)
    sub = q.events()
    job = await q.wait(q.add("acme/hostile", detail.files))
    assert job.state == "failed"
    assert "Refused the file name" in job.error and "control characters" in job.error
    assert "Nothing was written" in job.error and "download the other files" in job.error
    assert repr(name) in job.error and no_control(job.error)
    failed = await failed_event(sub)
    assert no_control(failed.message) and "control characters" in failed.message
    assert no_control(store.download(job.id).error or "")
    assert not cache.exists()
    assert hub_server.requests == []  # not even a HEAD

    # A plain folder is no different.
    job = await q.wait(q.add("acme/hostile", detail.files, local_dir=tmp_path / "plain"))
    assert job.state == "failed" and "control characters" in job.error
    assert not (tmp_path / "plain").exists()


async def test_a_job_saved_before_the_check_fails_when_it_runs(
    hub_server, make_queue, store: Store, cache: Path
) -> None:
    """A queued job from an older version (its names never checked) is refused by the
    worker before anything is fetched."""
    name = "old\x1b[31m.bin"
    hub_server.add_repo("acme/hostile", {name: WEIGHTS})
    store.add_download("acme/hostile", "main", [JobFile(name, len(WEIGHTS)).to_json()], None,
                       total_bytes=len(WEIGHTS), state="queued", error="")  # fmt: skip
    q = await make_queue(hub_server.url)
    (job,) = q.jobs()
    job = await q.wait(job.id)
    assert job.state == "failed" and "control characters" in job.error
    assert no_control(job.error) and not cache.exists()
    assert hub_server.requests == []


# -- the token in the Hub's error message -----------------------------------------------------


TOKEN = "hf_SECRETsecretSECRETsecret0123456789"


class EchoingHub(BaseHTTPRequestHandler):
    """Answers every file request 403 with an X-Error-Message that quotes the request's
    token at `offset` (with C1 bytes in it: the only control characters an HTTP header
    carries through)."""

    protocol_version = "HTTP/1.1"
    offset = 190

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        said = "\x9b2J" + "x" * (self.offset - 3) + token + " was refused" + " ." * 200
        self.send_response(403)
        self.send_header("X-Error-Message", said)  # latin-1: \x9b goes out as one byte
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD  # noqa: N815


@pytest.fixture
def echoing_hub():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoingHub)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("offset", [150, 185, 190, 197, 199, 200, 230])
async def test_token_cut_by_the_shortening_never_leaks(
    echoing_hub: str, make_queue, store: Store, offset: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EchoingHub, "offset", offset)
    q = await make_queue(echoing_hub, token=TOKEN)
    sub = q.events()
    job = await q.wait(q.add("acme/private", [JobFile("model.safetensors", 10)]))
    assert job.state == "failed" and "denied (403)" in job.error
    assert "The Hub said" in job.error
    if offset < 190:
        assert "***" in job.error
    failed = await failed_event(sub)
    for shown in (job.error, failed.message, store.download(job.id).error or ""):
        assert TOKEN[:3] not in shown and "SECRET" not in shown and "0123" not in shown
        assert no_control(shown)


# -- symlinks planted at a partial download's name ---------------------------------------------


def lfs_partial(cache: Path, repo, ranged: bool = False) -> Path:
    """The partial of the repo's weights: hf's (and our older) contiguous name, or the
    one parallel ranges write."""
    f = repo.files["model.safetensors"]
    suffix = ".ranged.incomplete" if ranged else ".incomplete"
    return cache / "models--acme--shared" / "blobs" / f"{f.sha256}{suffix}"


@pytest.fixture
def shared_repo(hub_server):
    return hub_server.add_repo("acme/shared", {"model.safetensors": WEIGHTS})


def files_of(repo) -> list[JobFile]:
    return [JobFile(f.path, f.size, f.sha256) for f in repo.files.values()]


@pytest.mark.parametrize("ranged", [False, True])
@pytest.mark.parametrize("dangling", [False, True])
async def test_a_symlinked_partial_is_never_written_through(
    hub_server, shared_repo, make_queue, cache: Path, tmp_path: Path, dangling: bool,
    ranged: bool,
) -> None:  # fmt: skip
    victim = tmp_path / "victim" / "authorized_keys"
    victim.parent.mkdir()
    if not dangling:
        victim.write_bytes(b"ssh-ed25519 AAAA precious\n")
    partial = lfs_partial(cache, shared_repo, ranged)
    partial.parent.mkdir(parents=True)
    partial.symlink_to(victim)

    q = await make_queue(hub_server.url)
    job = await q.wait(q.add("acme/shared", files_of(shared_repo)))
    assert job.state == "failed"
    assert "Refused to write the partial download" in job.error
    assert "symbolic link" in job.error and str(victim) in job.error
    assert "Nothing was written through it" in job.error and "rm " in job.error
    if dangling:
        assert not victim.exists()  # not even created
    else:
        assert victim.read_bytes() == b"ssh-ed25519 AAAA precious\n"
    assert partial.is_symlink()  # left for the user to look at
    assert hub_server.bytes_sent["acme/shared/model.safetensors"] == 0

    # Once the link is gone the download goes through.
    partial.unlink()
    job = await q.wait(q.add("acme/shared", files_of(shared_repo)))
    assert job.state == "done", job.error
    assert Path(job.paths[0]).read_bytes() == WEIGHTS


async def test_a_fifo_at_the_partial_name_is_refused(
    hub_server, shared_repo, make_queue, cache: Path
) -> None:
    partial = lfs_partial(cache, shared_repo)
    partial.parent.mkdir(parents=True)
    os.mkfifo(partial)
    q = await make_queue(hub_server.url)
    job = await asyncio.wait_for(q.wait(q.add("acme/shared", files_of(shared_repo))), 10)
    assert job.state == "failed" and "not a regular file" in job.error


async def test_symlinked_partial_in_a_plain_folder_is_refused(
    hub_server, shared_repo, make_queue, tmp_path: Path
) -> None:
    target, victim = tmp_path / "plain", tmp_path / "victim.txt"
    victim.write_text("keep")
    q = await make_queue(hub_server.url)
    f = shared_repo.files["model.safetensors"]  # its partial's name, as the layout makes it
    partial = LocalDirLayout(target).partial(safe_relpath(f.path), f.sha256)
    partial.parent.mkdir(parents=True)
    partial.symlink_to(victim)
    job = await q.wait(q.add("acme/shared", files_of(shared_repo), local_dir=target))
    assert job.state == "failed" and "symbolic link" in job.error
    assert victim.read_text() == "keep" and not (target / "model.safetensors").exists()


async def test_symlinks_posing_as_another_tools_partial_are_not_adopted(
    hub_server, shared_repo, make_queue, cache: Path, tmp_path: Path
) -> None:
    """huggingface_hub names its partials <etag>.<8 hex>.incomplete; a symlink by that name
    (dangling, or to someone's file) is neither adopted nor followed."""
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"x" * 1000)
    blobs = lfs_partial(cache, shared_repo).parent
    blobs.mkdir(parents=True)
    sha = shared_repo.files["model.safetensors"].sha256
    (blobs / f"{sha}.0123abcd.incomplete").symlink_to(victim)
    (blobs / f"{sha}.89abcdef.incomplete").symlink_to(tmp_path / "nowhere")
    q = await make_queue(hub_server.url)
    job = await q.wait(q.add("acme/shared", files_of(shared_repo)))
    assert job.state == "done", job.error
    assert Path(job.paths[0]).read_bytes() == WEIGHTS
    assert victim.read_bytes() == b"x" * 1000 and not (tmp_path / "nowhere").exists()


async def test_a_symlinked_lock_file_is_refused(
    hub_server, shared_repo, make_queue, cache: Path, tmp_path: Path
) -> None:
    sha = shared_repo.files["model.safetensors"].sha256
    lock = cache / ".locks" / "models--acme--shared" / f"{sha}.lock"
    lock.parent.mkdir(parents=True)
    lock.symlink_to(tmp_path / "created-by-us")
    q = await make_queue(hub_server.url)
    job = await q.wait(q.add("acme/shared", files_of(shared_repo)))
    assert job.state == "failed" and "lock file" in job.error and "symbolic link" in job.error
    assert not (tmp_path / "created-by-us").exists()
