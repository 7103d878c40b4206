"""Parallel downloads against the loopback Hub: files at once, large files in byte ranges,
resumed byte-exact, verified, in the layout huggingface_hub reads."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from genai_tui.engine.core.events import DownloadProgress
from genai_tui.engine.models.downloads import DownloadQueue, JobFile

REPO = "acme/ranged"
KB = 1024
PIECE = 256 * KB


def _bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


BIG = _bytes(3 * 1024 * KB + 12345, 7)  # 12+ pieces of PIECE


def hub_files(repo) -> list[JobFile]:
    return [JobFile(f.path, f.size, f.sha256 if f.is_lfs else None) for f in repo.files.values()]


@pytest.fixture
def repo(hub_server):
    return hub_server.add_repo(REPO, {"model.safetensors": BIG, "config.json": b"{}\n"})


@pytest.fixture
async def make_queue(store, cache: Path, hub_server):
    queues: list[DownloadQueue] = []

    async def make(**kw) -> DownloadQueue:
        kw = {"cache_dir": cache, "endpoint": hub_server.url, "token": None, "backoff_s": 0.01,
              "piece_bytes": PIECE, **kw}  # fmt: skip
        q = DownloadQueue(store, **kw)
        queues.append(q)
        await q.start()
        return q

    yield make
    for q in queues:
        if not q._closing:
            await q.aclose()


def body_gets(hub_server, key: str) -> list[str | None]:
    return [r.range for r in hub_server.requests_for(key) if r.method == "GET"]


def blobs_dir(cache: Path) -> Path:
    return cache / "models--acme--ranged" / "blobs"


async def test_a_large_file_comes_in_parallel_ranges_byte_exact_and_hf_reads_it(
    make_queue, repo, hub_server, cache
) -> None:
    from huggingface_hub import hf_hub_download

    hub_server.chunk_delay_s = 0.002  # a link slow enough for the ranges to overlap
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    key = f"{REPO}/model.safetensors"
    ranges = body_gets(hub_server, key)
    assert len(ranges) >= 10 and all(r and r.startswith("bytes=") for r in ranges)
    assert hub_server.bytes_sent[key] == len(BIG)  # every byte once
    assert hub_server.most_sending > 1  # several at once
    assert Path(job.paths[0]).read_bytes() == BIG
    got = hf_hub_download(REPO, "model.safetensors", cache_dir=cache, local_files_only=True)
    assert Path(got).read_bytes() == BIG
    assert sorted(p.name for p in blobs_dir(cache).iterdir()) == sorted(
        f.sha256 if f.is_lfs else f.git_oid for f in repo.files.values()
    )  # no partial, no record left behind


async def test_a_server_without_range_support_still_works(
    make_queue, repo, hub_server, cache
) -> None:
    hub_server.ranges = False
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    key = f"{REPO}/model.safetensors"
    assert body_gets(hub_server, key) == [f"bytes=0-{PIECE - 1}"]  # answered 200: all of it
    assert hub_server.bytes_sent[key] == len(BIG)
    assert Path(job.paths[0]).read_bytes() == BIG


async def test_connections_are_bounded(make_queue, hub_server, cache) -> None:
    shards = {f"shard-{i:02d}.bin": _bytes(200 * KB + i, i) for i in range(24)}
    many = hub_server.add_repo("acme/many", shards)
    hub_server.chunk_delay_s = 0.002
    q = await make_queue(connections=3, piece_bytes=64 * KB)
    job = await q.wait(q.add("acme/many", hub_files(many)))
    assert job.state == "done", job.error
    assert 1 < hub_server.most_sending <= 3
    for path, name in zip(job.paths, [f.path for f in hub_files(many)], strict=True):
        assert Path(path).read_bytes() == shards[name]


async def test_an_interrupted_ranged_download_resumes_byte_exact(
    make_queue, repo, hub_server, cache, store
) -> None:
    key = f"{REPO}/model.safetensors"
    hub_server.drop_after(key, 100 * KB, times=1)  # one piece breaks off mid-way
    q = await make_queue(backoff_s=30)  # then waits in back-off: "the app quits"
    sub = q.events()
    job_id = q.add(REPO, hub_files(repo))
    async for event in sub:
        if isinstance(event, DownloadProgress) and "retrying" in event.note:
            break
    await q.aclose()
    sha = repo.files["model.safetensors"].sha256
    partial = blobs_dir(cache) / f"{sha}.ranged.incomplete"
    record = json.loads((blobs_dir(cache) / f"{sha}.ranged.incomplete.ranges").read_text())
    assert record["size"] == len(BIG)
    done = record["done"]
    data = partial.read_bytes()
    assert done and all(data[a:b] == BIG[a:b] for a, b in done)  # it claims only good bytes
    sent_before = hub_server.bytes_sent[key]
    assert sum(b - a for a, b in done) <= sent_before
    assert not (blobs_dir(cache) / f"{sha}.incomplete").exists()  # no file old hf appends to

    again = await make_queue()
    job = await again.wait(job_id)
    assert job.state == "done", job.error
    assert Path(job.paths[0]).read_bytes() == BIG
    resent = hub_server.bytes_sent[key] - sent_before
    assert resent == len(BIG) - sum(b - a for a, b in done)  # only the missing bytes
    assert not partial.exists()


async def test_a_contiguous_partial_is_resumed_when_the_server_ignores_range(
    make_queue, repo, hub_server, cache
) -> None:
    sha = repo.files["model.safetensors"].sha256
    blobs_dir(cache).mkdir(parents=True)
    (blobs_dir(cache) / f"{sha}.incomplete").write_bytes(BIG[:500 * KB])  # an older download's
    hub_server.ranges = False
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "done", job.error
    assert Path(job.paths[0]).read_bytes() == BIG
    assert hashlib.sha256(Path(job.paths[0]).read_bytes()).hexdigest() == sha


async def test_a_ranged_checksum_mismatch_fails_with_a_clear_message(
    make_queue, repo, hub_server, cache
) -> None:
    key = f"{REPO}/model.safetensors"
    hub_server.corrupt(key)
    q = await make_queue()
    job = await q.wait(q.add(REPO, hub_files(repo)))
    assert job.state == "failed"
    assert "Checksum mismatch for model.safetensors" in job.error and "twice" in job.error
    assert hub_server.bytes_sent[key] == 2 * len(BIG)  # once more from scratch, then it stops
    sha = repo.files["model.safetensors"].sha256
    assert not any(p.name.startswith(sha) for p in blobs_dir(cache).iterdir())
