"""The download queue against the loopback Hub server: real HTTP, real bytes, real faults."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from genai_tui.engine.core.events import DownloadFailed, DownloadFinished, DownloadProgress
from genai_tui.engine.core.store import Store
from genai_tui.engine.models.downloads import CHUNK, DownloadQueue, JobFile
from genai_tui.engine.models.hf_cache import UnsafeNameError, safe_relpath

REPO = "acme/tiny-model"
MB = 1_000_000


def _bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


FILES = {
    "config.json": b'{"architectures": ["LlamaForCausalLM"], "hidden_size": 8}\n',
    "model.safetensors": _bytes(3 * MB, 1),
    "tokenizer/tokenizer.json": _bytes(300_000, 2),
}


def hub_files(repo) -> list[JobFile]:
    """What engine/hub.py lists for a repo: path, size, sha256 for LFS files."""
    return [JobFile(f.path, f.size, f.sha256 if f.is_lfs else None) for f in repo.files.values()]


@pytest.fixture
def repo(hub_server):
    return hub_server.add_repo(REPO, FILES)


@pytest.fixture
async def make_queue(store: Store, cache: Path, hub_server):
    queues: list[DownloadQueue] = []

    async def make(**kw) -> DownloadQueue:
        kw.setdefault("cache_dir", cache)
        kw.setdefault("endpoint", hub_server.url)
        kw.setdefault("token", None)
        kw.setdefault("backoff_s", 0.01)
        q = DownloadQueue(kw.pop("store", store), **kw)
        queues.append(q)
        await q.start()
        return q

    yield make
    for q in queues:
        if not q._closing:
            await q.aclose()


async def until(sub, pred: Callable[[object], bool], timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        async for event in sub:
            if pred(event):
                return event
    raise AssertionError("the event stream ended")


def retrying(event: object) -> bool:
    return isinstance(event, DownloadProgress) and "retrying" in event.note


def etag(f) -> str:
    return f.sha256 if f.is_lfs else f.git_oid


def blobs(cache: Path) -> list[str]:
    folder = cache / "models--acme--tiny-model" / "blobs"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- the happy path -----------------------------------------------------------------


async def test_multi_file_repo_lands_in_the_hf_cache(make_queue, repo, cache, hub_server) -> None:
    from huggingface_hub import hf_hub_download, scan_cache_dir

    q = await make_queue()
    sub = q.events()
    job_id = q.add(REPO, hub_files(repo))
    job = await q.wait(job_id)
    assert job.state == "done", job.error
    assert job.done == job.total == sum(len(d) for d in FILES.values())
    assert job.commit == repo.sha

    info = scan_cache_dir(cache)
    (cached,) = info.repos
    assert cached.repo_id == REPO and cached.size_on_disk == sum(len(d) for d in FILES.values())
    (revision,) = cached.revisions
    assert revision.commit_hash == repo.sha and revision.refs == frozenset({"main"})
    sizes = {f.file_path.relative_to(revision.snapshot_path).as_posix(): f.size_on_disk
             for f in revision.files}  # fmt: skip
    assert sizes == {name: len(data) for name, data in FILES.items()}
    assert info.warnings == []
    # LFS blobs are named by their sha256, small files by their git oid, as hf names them.
    assert set(blobs(cache)) == {etag(f) for f in repo.files.values()}

    for name, data in FILES.items():
        path = hf_hub_download(REPO, name, cache_dir=cache, local_files_only=True)
        assert Path(path).read_bytes() == data
        assert os.readlink(path).startswith("../")  # relative symlink into blobs/

    # Each byte crossed the wire once.
    assert dict(hub_server.bytes_sent) == {f"{REPO}/{n}": len(d) for n, d in FILES.items()}

    events = []
    async with asyncio.timeout(5):
        async for event in sub:
            events.append(event)
            if isinstance(event, DownloadFinished):
                break
    assert events[-1].paths == tuple(cache / "models--acme--tiny-model" / "snapshots" / repo.sha / n
                                     for n in FILES)  # fmt: skip
    states = [e.state for e in events if isinstance(e, DownloadProgress)]
    assert states[0] == "queued" and "running" in states and states[-1] == "done"


async def test_local_dir_gets_plain_files_that_hf_recognises(make_queue, repo, tmp_path) -> None:
    from huggingface_hub import hf_hub_download

    target = tmp_path / "models" / "tiny"
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo), local_dir=target))
    assert job.state == "done", job.error
    for name, data in FILES.items():
        assert (target / name).read_bytes() == data
        assert not (target / name).is_symlink()
        # huggingface_hub's own metadata says the file is current: it would not fetch it again.
        path = hf_hub_download(REPO, name, local_dir=target, local_files_only=True)
        assert Path(path) == target / name
    assert job.paths == tuple(target / n for n in FILES)
    assert not list(target.rglob("*.incomplete"))


async def test_a_second_job_for_the_same_files_transfers_nothing(
    make_queue, repo, hub_server
) -> None:
    q = await make_queue()
    assert (await q.wait(q.add(REPO, hub_files(repo)))).state == "done"
    hub_server.reset_counters()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done" and job.done == job.total
    assert sum(hub_server.bytes_sent.values()) == 0


async def test_several_subscribers_get_throttled_progress(make_queue, repo, hub_server) -> None:
    big = hub_server.add_repo("acme/big", {"weights.bin": _bytes(4 * MB, 3)})
    # Slow it down with drops so the transfer lasts several progress intervals.
    hub_server.drop_after("acme/big/weights.bin", MB // 2, times=6)
    q = await make_queue(backoff_s=0.1)
    status_line, progress_bar = q.events(), q.events()
    started = time.monotonic()
    job = await q.wait(q.add("acme/big", hub_files(big)))
    elapsed = time.monotonic() - started
    assert job.state == "done", job.error
    seen: list[list[object]] = []
    for sub in (status_line, progress_bar):
        got = []
        async with asyncio.timeout(5):
            async for event in sub:
                got.append(event)
                if isinstance(event, DownloadFinished):
                    break
        seen.append(got)
    assert seen[0] == seen[1]
    progress = [e for e in seen[0] if isinstance(e, DownloadProgress)]
    running = [e for e in progress if e.state == "running" and e.current_file and not e.note]
    assert len(running) >= 2
    assert [e.done for e in running] == sorted(e.done for e in running)
    assert all(e.total == 4 * MB and e.current_file == "weights.bin" for e in running)
    # ~5 per second, plus one per state change and per retry note.
    notes = [e for e in progress if e.note]
    assert len(running) <= elapsed * 5 + 4 + len(notes)
    await status_line.aclose()


async def test_listeners_hear_every_event_on_the_loop_and_can_leave(
    make_queue, repo, caplog
) -> None:
    q = await make_queue()
    loop_thread = threading.get_ident()
    heard: list[object] = []
    threads = set()

    def listener(event: object) -> None:
        heard.append(event)
        threads.add(threading.get_ident())

    def broken(event: object) -> None:
        raise RuntimeError("a bug in a listener")

    q.subscribe(broken)  # logged, and the others still hear everything
    unsubscribe = q.subscribe(listener)
    job_id = q.add(REPO, hub_files(repo))
    assert (await q.wait(job_id)).state == "done"
    assert threads == {loop_thread}
    assert [type(e).__name__ for e in heard[-2:]] == ["DownloadProgress", "DownloadFinished"]
    assert heard[0].state == "queued" and heard[-2].state == "done"
    assert {e.job_id for e in heard} == {job_id}
    assert "A download listener failed" in caplog.text
    unsubscribe()
    count = len(heard)
    await q.wait(q.add(REPO, hub_files(repo)))
    assert len(heard) == count


# -- never lose a byte -------------------------------------------------------------------


async def test_dropped_connection_resumes_and_only_missing_bytes_are_sent(
    make_queue, repo, hub_server, cache
) -> None:
    key = f"{REPO}/model.safetensors"
    hub_server.drop_after(key, 1_234_567, times=2)
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    size = len(FILES["model.safetensors"])
    assert size <= hub_server.bytes_sent[key] <= size + CHUNK
    cdn = [
        r for r in hub_server.requests_for(key) if r.method == "GET" and r.path.startswith("/cdn/")
    ]
    assert [r.range for r in cdn] == [None, "bytes=1234567-", "bytes=2469134-"]


async def test_restart_mid_download_resumes_from_the_partial(
    make_queue, repo, hub_server, cache, store
) -> None:
    key = f"{REPO}/model.safetensors"
    size = len(FILES["model.safetensors"])
    hub_server.drop_after(key, MB, times=1)
    q = await make_queue(backoff_s=30)  # sits in back-off after the drop: "the app quits"
    sub = q.events()
    job_id = q.add(REPO, hub_files(repo))
    await until(sub, retrying)
    await q.aclose()
    sha = repo.files["model.safetensors"].sha256
    partial = cache / "models--acme--tiny-model" / "blobs" / f"{sha}.ranged.incomplete"
    assert partial.stat().st_size == MB
    assert store.download(job_id).state == "queued"  # resumes at the next start
    assert sha not in blobs(cache)

    again = await make_queue()
    job = await again.wait(job_id)
    assert job.state == "done", job.error
    assert hub_server.bytes_sent[key] == size
    assert hashlib.sha256(Path(job.paths[1]).read_bytes()).hexdigest() == sha


async def test_killed_process_resumes_at_next_start(
    make_queue, repo, hub_server, cache, store
) -> None:
    """SIGKILL mid-download: the job was 'running' in the store; the next start resumes it."""
    key = f"{REPO}/model.safetensors"
    hub_server.drop_after(key, MB, times=1)
    files = [(f.path, f.size, f.sha256) for f in hub_files(repo)]
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from genai_tui.engine.models.downloads import DownloadQueue, JobFile
        from genai_tui.engine.core.store import Store

        async def main():
            q = DownloadQueue(Store(Path({str(store.path)!r})), cache_dir=Path({str(cache)!r}),
                              endpoint={hub_server.url!r}, token=None, backoff_s=60)
            await q.start()
            sub = q.events()
            q.add({REPO!r}, [JobFile(*f) for f in {files!r}])
            async for e in sub:
                if "retrying" in getattr(e, "note", ""):
                    print("mid-download", flush=True)
                    await asyncio.sleep(60)

        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "mid-download"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (record,) = store.downloads()
    assert record.state == "running"
    q = await make_queue()
    job = await q.wait(record.id)
    assert job.state == "done", job.error
    assert hub_server.bytes_sent[key] == len(FILES["model.safetensors"])


async def test_partial_left_by_huggingface_hub_is_adopted(
    make_queue, repo, hub_server, cache
) -> None:
    sha = repo.files["model.safetensors"].sha256
    blobs_dir = cache / "models--acme--tiny-model" / "blobs"
    blobs_dir.mkdir(parents=True)
    (blobs_dir / f"{sha}.1a2b3c4d.incomplete").write_bytes(FILES["model.safetensors"][:MB])
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    assert (
        hub_server.bytes_sent[f"{REPO}/model.safetensors"] == len(FILES["model.safetensors"]) - MB
    )


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retried(make_queue, repo, hub_server, status) -> None:
    hub_server.fail(f"{REPO}/model.safetensors", status, times=2)
    hub_server.fail(f"{REPO}/config.json", status, times=1, head=True)
    q = await make_queue()
    sub = q.events()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    note = await until(sub, retrying, timeout=1)
    assert f"HTTP {status}" in note.note


async def test_429_waits_as_long_as_retry_after_says(make_queue, repo, hub_server) -> None:
    hub_server.fail(f"{REPO}/model.safetensors", 429, times=1, retry_after=0.6)
    q = await make_queue(backoff_s=0.01)
    started = time.monotonic()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    assert time.monotonic() - started >= 0.6


async def test_persistent_failure_gives_up_with_a_message(make_queue, repo, hub_server) -> None:
    hub_server.fail(f"{REPO}/model.safetensors", 503, times=None)
    q = await make_queue(retries=2)
    sub = q.events()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "failed"
    assert "failed 3 times in a row (HTTP 503)" in job.error and "resum" in job.error
    failed = await until(sub, lambda e: isinstance(e, DownloadFailed), timeout=1)
    assert failed.message == job.error


# -- refused: auth, corruption, unsafe names, disk space -----------------------------------


async def test_gated_repo_without_token_says_how_to_log_in(make_queue, hub_server, cache) -> None:
    gated = hub_server.add_repo("acme/gated", {"model.gguf": _bytes(5000, 4)}, gated="manual",
                                access=("hf_good",))  # fmt: skip
    q = await make_queue()
    job = await q.wait(q.add("acme/gated", hub_files(gated)))
    assert job.state == "failed"
    assert "401" in job.error and "hf auth login" in job.error and "HF_TOKEN" in job.error
    assert len([r for r in hub_server.requests if "gated" in r.path]) == 1  # not retried
    assert not (cache / "models--acme--gated").exists()


async def test_rejected_and_insufficient_tokens(make_queue, hub_server) -> None:
    gated = hub_server.add_repo("acme/gated", {"model.gguf": _bytes(5000, 4)}, gated="manual",
                                access=("hf_good",))  # fmt: skip
    hub_server.tokens.add("hf_nobody")
    bad = await make_queue(token="hf_SECRET_typo")
    job = await bad.wait(bad.add("acme/gated", hub_files(gated)))
    assert job.state == "failed" and "401" in job.error and "token" in job.error
    assert "hf_SECRET_typo" not in job.error
    other = await make_queue(token="hf_nobody")
    job = await other.wait(other.add("acme/gated", hub_files(gated)))
    assert job.state == "failed" and "403" in job.error and "license" in job.error
    good = await make_queue(token="hf_good")
    assert (await good.wait(good.add("acme/gated", hub_files(gated)))).state == "done"


async def test_missing_file_is_a_clear_404(make_queue, repo) -> None:
    q = await make_queue()
    job = await q.wait(q.add(REPO, [JobFile("nope.bin", 10)]))
    assert job.state == "failed" and "nope.bin" in job.error and "404" in job.error


async def test_corrupted_payload_is_never_presented_as_finished(
    make_queue, repo, hub_server, cache
) -> None:
    key = f"{REPO}/model.safetensors"
    hub_server.corrupt(key)
    q = await make_queue()
    sub = q.events()
    job_id = q.add(REPO, hub_files(repo))
    job = await q.wait(job_id)
    assert job.state == "failed"
    assert "Checksum mismatch" in job.error and "from scratch" in job.error
    sha = repo.files["model.safetensors"].sha256
    assert not any(b.startswith(sha) for b in blobs(cache))  # no blob, no partial kept
    snap = cache / "models--acme--tiny-model" / "snapshots" / repo.sha
    assert not (snap / "model.safetensors").exists()
    assert not (snap / "model.safetensors").is_symlink()
    size = len(FILES["model.safetensors"])
    assert hub_server.bytes_sent[key] == 2 * size  # one retry from scratch, then it gave up
    events = []
    async with asyncio.timeout(2):
        async for event in sub:
            events.append(event)
            if isinstance(event, DownloadFailed):
                break
    assert not any(isinstance(e, DownloadFinished) for e in events)

    hub_server.corrupt(key, on=False)  # the glitch is gone: resume fetches it whole
    q.resume(job_id)
    job = await q.wait(job_id)
    assert job.state == "done", job.error
    assert Path(job.paths[1]).read_bytes() == FILES["model.safetensors"]


async def test_small_files_are_checked_against_their_git_blob_id(
    make_queue, repo, hub_server, cache
) -> None:
    hub_server.corrupt(f"{REPO}/config.json")
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "failed" and "Checksum mismatch for config.json" in job.error
    assert "git" in job.error
    oid = repo.files["config.json"].git_oid
    # Its bad bytes are gone; the other files, fetched at the same time, may be in place,
    # each whole and verified.
    assert not any(b.startswith(oid) for b in blobs(cache))
    for f in repo.files.values():
        blob = cache / "models--acme--tiny-model" / "blobs" / etag(f)
        assert not blob.exists() or blob.read_bytes() == f.data


async def test_corrupt_partial_on_disk_is_detected_and_refetched(
    make_queue, repo, hub_server, cache
) -> None:
    sha = repo.files["model.safetensors"].sha256
    blobs_dir = cache / "models--acme--tiny-model" / "blobs"
    blobs_dir.mkdir(parents=True)
    (blobs_dir / f"{sha}.incomplete").write_bytes(b"\0" * MB)  # not what the file starts with
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    assert Path(job.paths[1]).read_bytes() == FILES["model.safetensors"]


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/evil", "a\\..\\evil", "./x", ""])
async def test_unsafe_names_are_refused_and_nothing_is_written(
    make_queue, hub_server, tmp_path, cache, name
) -> None:
    hub_server.add_repo("acme/evil", {name or "x": b"gotcha"})
    q = await make_queue()
    sub = q.events()
    job = await q.wait(q.add("acme/evil", [JobFile("ok.txt", 3), JobFile(name, 6)]))
    assert job.state == "failed" and "Refused" in job.error and "outside" in job.error
    failed = await until(sub, lambda e: isinstance(e, DownloadFailed), timeout=1)
    assert "Nothing was written" in failed.message
    assert not cache.exists() and not (tmp_path / "evil").exists()
    assert hub_server.requests == []


def test_safe_relpath() -> None:
    assert safe_relpath("unet/diffusion_pytorch_model.safetensors").parts == (
        "unet", "diffusion_pytorch_model.safetensors")  # fmt: skip
    for bad in ("..", "a/..", "a//b", "C:evil", "a\0b"):
        with pytest.raises(UnsafeNameError):
            safe_relpath(bad)


async def test_symlink_out_of_local_dir_is_refused(make_queue, hub_server, tmp_path) -> None:
    hub_server.add_repo("acme/sneaky", {"sub/x.txt": b"data"})
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "sub").symlink_to(outside)
    q = await make_queue()
    job = await q.wait(q.add("acme/sneaky", [JobFile("sub/x.txt", 4)], local_dir=target))
    assert job.state == "failed" and "outside" in job.error
    assert list(outside.iterdir()) == []


async def test_bad_repo_id_and_revision_are_refused(make_queue, hub_server) -> None:
    q = await make_queue()
    for repo_id, revision in (("../x", "main"), ("acme/x", "../../refs"), ("a/b/c", "main")):
        job = await q.wait(q.add(repo_id, [JobFile("f", 1)], revision=revision))
        assert job.state == "failed"
    assert hub_server.requests == []


async def test_disk_space_is_checked_before_anything_is_fetched(
    make_queue, repo, hub_server, cache
) -> None:
    huge = [JobFile("model.safetensors", 10**18, repo.files["model.safetensors"].sha256)]
    q = await make_queue()
    job = await q.wait(q.add(REPO, huge))
    assert job.state == "failed"
    assert "Not enough disk space" in job.error and str(cache) in job.error
    assert "1000000.0 TB" in job.error and "is free" in job.error
    assert hub_server.requests == []


# -- pause, resume, cancel -------------------------------------------------------------------


async def test_pause_keeps_the_partial_and_resume_continues(
    make_queue, repo, hub_server, cache
) -> None:
    key = f"{REPO}/model.safetensors"
    hub_server.drop_after(key, MB, times=1)
    q = await make_queue(backoff_s=30)
    sub = q.events()
    job_id = q.add(REPO, [f for f in hub_files(repo) if f.path != "tokenizer/tokenizer.json"])
    await until(sub, retrying)
    q.pause(job_id)
    job = await q.wait(job_id)
    assert job.state == "paused" and job.done == len(FILES["config.json"]) + MB
    sha = repo.files["model.safetensors"].sha256
    assert f"{sha}.ranged.incomplete" in blobs(cache)
    q.resume(job_id)
    job = await q.wait(job_id)
    assert job.state == "done", job.error
    assert hub_server.bytes_sent[key] == len(FILES["model.safetensors"])


async def test_cancel_removes_partials_but_not_finished_files(
    make_queue, repo, hub_server, cache
) -> None:
    hub_server.drop_after(f"{REPO}/model.safetensors", MB, times=1)
    q = await make_queue(backoff_s=30)
    sub = q.events()
    job_id = q.add(REPO, hub_files(repo))
    await until(sub, retrying)
    q.cancel(job_id)
    job = await q.wait(job_id)
    assert job.state == "cancelled"
    assert not any(".incomplete" in b for b in blobs(cache))
    assert etag(repo.files["config.json"]) in blobs(cache)  # the finished file stays valid


async def test_queued_jobs_wait_for_a_slot_and_can_be_paused_or_cancelled(
    make_queue, repo, hub_server
) -> None:
    other = hub_server.add_repo("acme/other", {"a.bin": _bytes(2000, 5)})
    third = hub_server.add_repo("acme/third", {"b.bin": _bytes(2000, 6)})
    hub_server.drop_after(f"{REPO}/model.safetensors", MB, times=1)
    q = await make_queue(concurrency=1, backoff_s=30)
    sub = q.events()
    first = q.add(REPO, hub_files(repo))
    second = q.add("acme/other", hub_files(other))
    last = q.add("acme/third", hub_files(third))
    await until(sub, retrying)
    assert [j.state for j in q.jobs()] == ["running", "queued", "queued"]
    q.pause(second)
    q.cancel(last)
    assert (await q.wait(second)).state == "paused"
    assert (await q.wait(last)).state == "cancelled"
    q.pause(first)
    assert (await q.wait(first)).state == "paused"
    q.resume(second)
    assert (await q.wait(second)).state == "done"
    assert not hub_server.requests_for("acme/third/b.bin")


async def test_jobs_are_persisted_when_added(make_queue, repo, store) -> None:
    q = await make_queue()
    job_id = q.add(REPO, hub_files(repo), revision="main")
    record = store.download(job_id)
    assert record.repo_id == REPO and record.revision == "main"
    assert [f["path"] for f in record.files] == list(FILES)
    assert record.total_bytes == sum(len(d) for d in FILES.values())
    await q.wait(job_id)
    record = store.download(job_id)
    assert (record.state, record.done_bytes, record.commit_hash) == ("done", record.total_bytes,
                                                                    repo.sha)  # fmt: skip
    assert all(f["etag"] for f in record.files)


async def test_pause_stops_a_stalled_transfer_at_once(
    make_queue, repo, hub_server, monkeypatch
) -> None:
    """A connection that stops sending mid-file must not hold a pause up until a timeout."""
    key = f"{REPO}/model.safetensors"
    release = threading.Event()
    take_drop = hub_server._take_drop  # called after the headers, before the body

    def stall(k: str):
        if k == key:
            release.wait(20)
        return take_drop(k)

    monkeypatch.setattr(hub_server, "_take_drop", stall)
    q = await make_queue(timeout_s=60)
    try:
        job_id = q.add(REPO, hub_files(repo))
        async with asyncio.timeout(10):
            while not any(r.method == "GET" for r in hub_server.requests_for(key)):
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the worker is now blocked reading the body
        started = time.monotonic()
        q.pause(job_id)
        job = await q.wait(job_id)
        assert job.state == "paused"
        # Within a chunk or two, not after the 60 s read timeout (room for a busy CI box).
        assert time.monotonic() - started < 10
    finally:
        release.set()
    monkeypatch.setattr(hub_server, "_take_drop", take_drop)
    q.resume(job_id)
    job = await q.wait(job_id)
    assert job.state == "done", job.error


async def test_from_settings_and_a_one_off_queue(
    make_settings, store, hub_server, tmp_path
) -> None:
    gated = hub_server.add_repo("acme/gated", {"model.gguf": _bytes(5000, 4)}, gated="manual",
                                access=("hf_settings_token",))  # fmt: skip
    settings = make_settings(download_concurrency=3, download_dir=tmp_path / "dl",
                             hf_token="hf_settings_token")  # fmt: skip
    q = DownloadQueue.from_settings(store, settings, endpoint=hub_server.url)
    assert q.concurrency == 3 and q.local_root == tmp_path / "dl"
    await q.start()
    job = await q.wait(q.add("acme/gated", hub_files(gated)))  # the settings' token was sent
    assert job.state == "done", job.error
    assert (tmp_path / "dl" / "acme/gated/model.gguf").read_bytes() == gated.files[
        "model.gguf"
    ].data
    await q.aclose()

    store.add_download("acme/other", "main", [{"path": "x", "size": 1}])  # another process's job
    one_off = DownloadQueue(store, cache_dir=tmp_path / "c", endpoint=hub_server.url, token=None)
    await one_off.start(resume=False)
    assert one_off.jobs() == []
    await one_off.aclose()


def test_schema_1_database_is_upgraded_with_the_downloads_table(tmp_path: Path) -> None:
    import sqlite3

    from genai_tui.engine.core.store import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # a database written before downloads existed
        db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        db.execute("INSERT INTO conversations(title, created_at, updated_at) VALUES ('kept', 0, 0)")
    store = Store(path)
    try:
        assert store.schema_version == len(MIGRATIONS) >= 2
        assert [c.title for c in store.conversations()] == ["kept"]
        rec = store.add_download("a/b", "main", [{"path": "x", "size": 1, "sha256": None}])
        store.update_download(rec.id, state="paused", done_bytes=1, error="")
        assert store.downloads(("paused",))[0].files == [{"path": "x", "size": 1, "sha256": None}]
        with pytest.raises(ValueError):
            store.update_download(rec.id, repo_id="c/d")
    finally:
        store.close()


# -- progress is consistent ------------------------------------------------------------------


async def test_progress_never_double_counts_nor_goes_back(make_queue, hub_server) -> None:
    """Each published progress, and each snapshot the loop takes at any moment, is one
    consistent state of its job: a finished file is counted once, `done` only grows.

    Two many-file jobs run at once while the loop reads their snapshots non-stop, with the
    threads taking turns as often as they can. The worker threads used to write the job's
    counters while the loop read them: a read torn around a file's end lost (or counted
    twice) that file's bytes. Now a job changes on the loop only, so while the loop is
    held up its snapshot cannot change at all."""
    q = await make_queue(concurrency=2)
    jobs = {}
    for name in ("a", "b"):
        shards = {f"shard-{i:02d}.bin": _bytes(100_000 + 997 * i, i) for i in range(60)}
        repo = hub_server.add_repo(f"acme/shards-{name}", shards)
        jobs[q.add(repo.repo_id, hub_files(repo))] = sum(len(d) for d in shards.values())
    sub = q.events()
    reads: dict[int, list[tuple[int, int, int, int]]] = {job_id: [] for job_id in jobs}
    problems: list[tuple[object, ...]] = []

    async def look_all_the_time() -> None:  # a screen redrawing whenever it likes
        held = time.monotonic()
        while True:
            states = set()
            for job_id, seen in reads.items():
                for _ in range(50):
                    j = q.job(job_id)
                    seen.append((j.done, j.total, j.file_done, j.file_total))
                states.add(j.state)
            if states <= {"done", "failed"}:
                return
            if time.monotonic() - held > 0.25:  # hold the loop up: the workers go on
                before = q.jobs()
                time.sleep(0.05)
                if (after := q.jobs()) != before:
                    problems.append(("changed off the loop", before, after))
                held = time.monotonic()
            await asyncio.sleep(0)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often: a torn read would show
    try:
        await asyncio.wait_for(look_all_the_time(), 60)
    finally:
        sys.setswitchinterval(switch)
    published: dict[int, list[tuple[int, int, int, int]]] = {job_id: [] for job_id in jobs}
    finished = 0
    async with asyncio.timeout(5):
        async for event in sub:
            if isinstance(event, DownloadProgress):
                e = event
                published[e.job_id].append((e.done, e.total, e.file_done, e.file_total))
            elif isinstance(event, DownloadFinished):
                finished += 1
                if finished == len(jobs):
                    break
    for job_id, total in jobs.items():
        assert q.job(job_id).state == "done", q.job(job_id).error
        for kind, series in (("published", published[job_id]), ("read", reads[job_id])):
            assert series[-1][0] == total
            problems += [(kind, s) for s in series if s[0] > s[1] or s[1] != total or s[2] > s[3]]
            steps = zip(series, series[1:], strict=False)
            problems += [(kind, a[0], b[0]) for a, b in steps if b[0] < a[0]]
    assert problems == []  # e.g. ("read", 2430307, 2309370): a whole file's bytes went missing


async def test_one_instance_per_data_dir_resumes_the_unfinished_jobs(
    make_queue, store, tmp_path, repo
) -> None:
    """Two apps on one data dir: the first resumes the jobs left unfinished, the second
    leaves them to it (both would write the same partial files)."""
    from genai_tui.engine.core.store import Store

    store.add_download(REPO, "main", [{"path": "model.safetensors", "size": 10}])
    first = await make_queue()
    assert [j.repo_id for j in first.jobs()] == [REPO]
    other = Store(store.path)  # the second app's own connection
    second = await make_queue(store=other)
    assert second.jobs() == []  # not resumed here
    await first.aclose()
    third = await make_queue(store=other)  # once the first is gone, the next one resumes
    assert [j.repo_id for j in third.jobs()] == [REPO]
