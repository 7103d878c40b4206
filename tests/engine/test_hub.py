"""Hub search and model details through the real huggingface_hub client and a loopback Hub."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from genai_tui.engine.core.errors import HubAuthError, HubNotFoundError, HubUnavailableError
from genai_tui.engine.models.hub import HubClient
from genai_tui.engine.models.hub_files import (
    HubFile,
    QuantGroup,
    card_summary,
    estimate_diffusers_need,
    estimate_gguf_need,
    fit,
    group_gguf,
)
from genai_tui.engine.models.names import quant_in_name

GIB = 1024**3
CARD = """---
license: apache-2.0
tags: [gguf]
---
<!-- header -->
# Tiny Llama **GGUF**

![logo](https://example.com/logo.png)

This repo holds **GGUF** builds of [Tiny Llama](https://example.com/tiny), a `small` chat model
for tests.

| Quant | Size |
|---|---|
| Q4_K_M | 2 KB |

Made with llama.cpp.
"""


@pytest.fixture(autouse=True)
def _no_user_token(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The developer's HF token never leaks into these tests."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))


@pytest.fixture
def hub(hub_server):
    def at(month: int) -> str:
        return f"2024-{month:02d}-01T00:00:00.000Z"

    hub_server.add_repo(
        "bartowski/Llama-3-8B-GGUF",
        {"l-Q4_K_M.gguf": b"g" * 3000},
        downloads=900,
        likes=10,
        trending=5,
        last_modified=at(5),
        license="llama3",
    )
    hub_server.add_repo(
        "TheBloke/Mistral-7B-GGUF",
        {"m.Q8_0.gguf": b"g" * 4000},
        downloads=500,
        likes=50,
        trending=9,
        last_modified=at(3),
    )
    hub_server.add_repo(
        "stabilityai/sd-turbo",
        {"model_index.json": b"{}"},
        downloads=700,
        likes=30,
        trending=1,
        last_modified=at(8),
        gated="auto",
    )
    hub_server.add_repo(
        "google/bert-base",
        {"config.json": b"{}"},
        library="transformers",
        downloads=100,
        likes=5,
        last_modified=at(1),
    )
    return hub_server


def client(hub_server, token: str | None = None) -> HubClient:
    return HubClient(endpoint=hub_server.url, token=token)


# -- search -------------------------------------------------------------------------------


def test_search_sorts_and_fills_the_fields(hub) -> None:
    page = client(hub).search()
    assert [m.repo_id for m in page.items][:3] == [
        "bartowski/Llama-3-8B-GGUF",
        "stabilityai/sd-turbo",
        "TheBloke/Mistral-7B-GGUF",
    ]
    assert not page.has_more and page.page == 0
    llama = page.items[0]
    assert (llama.author, llama.downloads, llama.likes) == ("bartowski", 900, 10)
    assert llama.last_modified == datetime(2024, 5, 1, tzinfo=UTC)
    assert llama.license == "llama3" and llama.gated is False and "gguf" in llama.tags
    assert page.items[1].gated == "auto" and page.items[1].library == "diffusers"
    by = {
        s: [m.repo_id for m in client(hub).search(sort=s).items][0]
        for s in ("likes", "trending", "updated")
    }
    assert by == {
        "likes": "TheBloke/Mistral-7B-GGUF",
        "trending": "TheBloke/Mistral-7B-GGUF",
        "updated": "stabilityai/sd-turbo",
    }


def test_search_filters_by_kind_text_and_author(hub) -> None:
    c = client(hub)
    assert {m.repo_id for m in c.search(kind="gguf").items} == {
        "bartowski/Llama-3-8B-GGUF",
        "TheBloke/Mistral-7B-GGUF",
    }
    assert [m.repo_id for m in c.search(kind="diffusers").items] == ["stabilityai/sd-turbo"]
    assert [m.repo_id for m in c.search("mistral").items] == ["TheBloke/Mistral-7B-GGUF"]
    assert [m.repo_id for m in c.search(author="google").items] == ["google/bert-base"]
    assert c.search("no-such-thing").items == []


def test_search_pages_follow_the_link_header(hub) -> None:
    for i in range(9):
        hub.add_repo(f"filler/model-{i}", {"a.gguf": b"x"}, downloads=50 - i)
    hub.page_size = 4  # the server splits every listing into pages of 4
    c = client(hub)
    seen = []
    page_no = 0
    while True:
        page = c.search(kind="gguf", page=page_no, page_size=3)
        assert len(page.items) <= 3
        seen += [m.repo_id for m in page.items]
        if not page.has_more:
            break
        page_no += 1
    assert page_no == 3 and len(seen) == 11 == len(set(seen))
    assert any("cursor=" in r.path or r.path == "/api/models" for r in hub.requests)
    assert sum(r.path == "/api/models" for r in hub.requests) > 4  # followed next links


# -- detail ---------------------------------------------------------------------------------


def test_detail_groups_quantizations_and_summarises_the_card(hub_server) -> None:
    files = {
        "tiny-Q4_K_M.gguf": b"a" * 2000,
        "tiny.IQ4_XS.gguf": b"b" * 1500,
        "Q8_0/tiny-Q8_0-00001-of-00002.gguf": b"c" * 3000,
        "Q8_0/tiny-Q8_0-00002-of-00002.gguf": b"d" * 1000,
        "BF16/tiny-00001-of-00002.gguf": b"e" * 5000,
        "BF16/tiny-00002-of-00002.gguf": b"f" * 5000,
        "mmproj-tiny-f16.gguf": b"m" * 1200,
        "config.json": b"{}",
    }
    hub_server.add_repo("org/Tiny-GGUF", files, card=CARD, likes=3)
    d = client(hub_server).detail("org/Tiny-GGUF")
    assert d.model.repo_id == "org/Tiny-GGUF" and d.model.likes == 3
    assert d.sha is not None and len(d.sha) == 40
    # Each choice brings the repo's vision projector (its last file, counted in its size).
    assert [(g.quant, g.size, len(g.files)) for g in d.gguf] == [
        ("IQ4_XS", 1500 + 1200, 2),
        ("Q4_K_M", 2000 + 1200, 2),
        ("Q8_0", 4000 + 1200, 3),
        ("BF16", 10000 + 1200, 3),
    ]
    assert [f.path for f in d.gguf[2].files] == [
        "Q8_0/tiny-Q8_0-00001-of-00002.gguf",
        "Q8_0/tiny-Q8_0-00002-of-00002.gguf",
        "mmproj-tiny-f16.gguf",
    ]
    assert {g.projector.path for g in d.gguf if g.projector} == {"mmproj-tiny-f16.gguf"}
    sizes = {f.path: (f.size, f.sha256) for f in d.files}
    assert sizes["tiny-Q4_K_M.gguf"] == (2000, hashlib.sha256(b"a" * 2000).hexdigest())
    assert sizes["config.json"] == (2, None)
    assert d.diffusers is None
    assert d.summary == (
        "This repo holds GGUF builds of Tiny Llama, a small chat model for tests.\n\n"
        "Made with llama.cpp."
    )


def test_diffusers_layout_variants_and_fetched_size(hub_server) -> None:
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "safety_checker": [None, None],
    }
    files = {
        "model_index.json": json.dumps(index).encode(),
        "README.md": b"A tiny pipeline.",
        "v1-5.safetensors": b"x" * 9000,  # a root single-file checkpoint: not fetched
        "unet/config.json": b"{}",
        "unet/diffusion_pytorch_model.safetensors": b"u" * 4000,
        "unet/diffusion_pytorch_model.fp16.safetensors": b"u" * 2000,
        "unet/diffusion_pytorch_model.bin": b"u" * 4100,
        "vae/config.json": b"{}",
        "vae/diffusion_pytorch_model.safetensors": b"v" * 3000,
        "vae/diffusion_pytorch_model.fp16.safetensors": b"v" * 1500,
        "text_encoder/config.json": b"{}",
        "text_encoder/model.safetensors": b"t" * 2500,  # no fp16 file: default is used
        "text_encoder/flax_model.msgpack": b"t" * 2500,
        "tokenizer/vocab.json": b"{}",
        "tokenizer/merges.txt": b"#",
        "scheduler/scheduler_config.json": b"{}",
    }
    hub_server.add_repo("org/tiny-sd", files)
    d = client(hub_server).detail("org/tiny-sd")
    layout = d.diffusers
    assert layout is not None and d.gguf == ()
    assert [c.name for c in layout.components] == [
        "unet",
        "vae",
        "text_encoder",
        "tokenizer",
        "scheduler",
    ]
    assert layout.variants == ("", "fp16")
    fp16 = {f.path for f in layout.fetch_files("fp16")}
    assert fp16 == {
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    }
    small = len(files["model_index.json"]) + 2 * 5 + 1  # configs, vocab, merges
    assert layout.fetch_size("fp16") == 2000 + 1500 + 2500 + small
    assert layout.fetch_size("") == 4000 + 3000 + 2500 + small
    bins = {f.path for f in layout.fetch_files("", prefer_safetensors=False)}
    assert "unet/diffusion_pytorch_model.bin" in bins
    assert "unet/diffusion_pytorch_model.safetensors" not in bins
    assert layout.file_dtype("fp16") == "fp16" and layout.file_dtype("") == "fp32"
    assert d.summary == "A tiny pipeline."


# -- GGUF header over HTTP Range, and fit -----------------------------------------------------


def test_reads_a_gguf_header_over_range(hub_server, write_gguf) -> None:
    tokens = [f"token-{i:05d}" for i in range(30_000)]  # ~600 KB of header
    path = write_gguf(
        "tiny-Q4_K_M.gguf",
        metadata={
            "llama.attention.head_count_kv": 1,
            "general.file_type": 15,
            "tokenizer.ggml.tokens": tokens,
        },
        tensors={"token_embd.weight": np.zeros((1024, 1024), dtype=np.float32)},  # 4 MiB
    )
    data = path.read_bytes()
    hub_server.add_repo("org/tiny-GGUF", {path.name: data})
    info = client(hub_server).read_gguf_header("org/tiny-GGUF", path.name)
    assert info is not None
    assert (info.architecture, info.context_length, info.block_count) == ("llama", 64, 1)
    assert info.quantization == "Q4_K_M" and info.file_size == len(data)
    # 1 layer x 1 KV head x (4 + 4 dims) x 2 bytes
    assert info.kv_bytes_per_token() == 16
    sent = hub_server.bytes_sent[f"org/tiny-GGUF/{path.name}"]
    assert 600_000 < sent < len(data) // 3  # grew past 256 KiB, never fetched the weights
    ranges = [r.range for r in hub_server.requests if r.path.startswith("/cdn/")]
    assert ranges[0] == "bytes=0-262143" and ranges[1].startswith("bytes=262144-")

    group = QuantGroup("Q4_K_M", (HubFile(path.name, len(data), None),), len(data))
    need = estimate_gguf_need(group, info, 4096)
    assert need == len(data) + 256 * 1024**2 + len(data) // 20 + 16 * 4096
    assert estimate_gguf_need(group, None, 4096) == need - 16 * 4096
    assert estimate_gguf_need(group, info, 0) == need - 16 * 4096 + 16 * 64  # model's own context


def test_not_a_gguf_gives_none(hub_server) -> None:
    hub_server.add_repo("org/x", {"fake.gguf": b"<html>" + b"x" * 5000})
    assert client(hub_server).read_gguf_header("org/x", "fake.gguf") is None


def test_fit_verdicts() -> None:
    gpu = fit(6 * GIB, vram_free=8 * GIB, ram_free=16 * GIB)
    assert gpu.verdict == "fits" and "6.0 GB" in gpu.text and "8.0 GB" in gpu.text
    partly = fit(12 * GIB, vram_free=8 * GIB, ram_free=16 * GIB)
    assert partly.verdict == "partly offloaded" and "16.0 GB" in partly.text
    assert fit(30 * GIB, vram_free=8 * GIB, ram_free=16 * GIB).verdict == "does not fit"
    assert fit(6 * GIB, vram_free=None, ram_free=16 * GIB).verdict == "fits"
    cpu = fit(20 * GIB, vram_free=None, ram_free=16 * GIB)
    assert cpu.verdict == "does not fit" and cpu.need_bytes == 20 * GIB and cpu.vram_free is None
    assert estimate_diffusers_need(4 * GIB, "fp16", "fp32") == 2 * GIB + 512 * 1024**2
    assert estimate_diffusers_need(4 * GIB, "fp16", "fp16") == 4 * GIB + 4 * GIB // 5


# -- errors -----------------------------------------------------------------------------------


@pytest.fixture
def gated(hub_server):
    hub_server.add_repo(
        "meta/gated-GGUF",
        {"w-Q4_0.gguf": b"PK" + b"\0" * 2000},
        gated="manual",
        access=("hf_granted_secret",),
    )
    hub_server.add_repo("me/private", {"a.txt": b"a"}, private=True, access=("hf_granted_secret",))
    hub_server.tokens.add("hf_valid_but_not_granted_secret")
    return hub_server


def _text(exc: pytest.ExceptionInfo) -> str:
    return f"{exc.value} {exc.value!r} {exc.value.hint}"


def test_gated_401_without_token_says_log_in(gated) -> None:
    with pytest.raises(HubAuthError) as exc:
        client(gated).read_gguf_header("meta/gated-GGUF", "w-Q4_0.gguf")
    assert "401" in exc.value.message and "HF_TOKEN" in exc.value.hint
    assert "hf auth login" in exc.value.hint


def test_gated_403_says_accept_the_license_and_hides_the_token(gated) -> None:
    with pytest.raises(HubAuthError) as exc:
        client(gated, "hf_valid_but_not_granted_secret").read_gguf_header(
            "meta/gated-GGUF", "w-Q4_0.gguf"
        )
    assert "403" in exc.value.message
    assert exc.value.hint.startswith("Accept the license on the model page")
    assert f"{gated.url}/meta/gated-GGUF" in exc.value.hint
    assert "secret" not in _text(exc)


def test_invalid_token_is_rejected_without_showing_it(gated) -> None:
    with pytest.raises(HubAuthError) as exc:
        client(gated, "hf_wrong_secret").detail("meta/gated-GGUF")
    assert "rejected the token" in exc.value.message and "secret" not in _text(exc)


def test_granted_token_from_hf_token_env(gated, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_granted_secret")
    c = client(gated)
    assert c.read_gguf_header("meta/gated-GGUF", "w-Q4_0.gguf") is None  # read, but not a GGUF
    assert c.detail("me/private").model.repo_id == "me/private"


def test_private_and_missing_repos_are_not_found(gated) -> None:
    with pytest.raises(HubNotFoundError) as exc:
        client(gated).detail("me/private")
    assert "token" in exc.value.hint
    with pytest.raises(HubNotFoundError) as exc:
        client(gated).detail("nobody/nothing")
    assert "nobody/nothing was not found" in exc.value.message


def test_unreachable_endpoint_is_named_at_once() -> None:
    c = HubClient(endpoint="http://127.0.0.1:9")
    with pytest.raises(HubUnavailableError) as exc:
        c.detail("org/x")
    assert "http://127.0.0.1:9" in exc.value.message
    started = time.monotonic()
    with pytest.raises(HubUnavailableError):
        c.search("llama")  # no ~23 s of huggingface_hub retries before saying so
    assert time.monotonic() - started < 5


# -- pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "quant"),
    [
        ("Llama-3-8B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("model.q5_k_s.gguf", "Q5_K_S"),
        ("Qwen2.5-7B-IQ4_XS.gguf", "IQ4_XS"),
        ("m-IQ2_XXS.gguf", "IQ2_XXS"),
        ("x-UD-Q4_K_XL.gguf", "Q4_K_XL"),
        ("phi-3-fp16.gguf", "F16"),
        ("a.BF16.gguf", "BF16"),
        ("Q8_0/m-00001-of-00003.gguf", "Q8_0"),
        ("mistral-7b.Q4_0.gguf", "Q4_0"),
        ("Qwen3-4B.gguf", None),
    ],
)
def test_quant_of(path: str, quant: str | None) -> None:
    assert quant_in_name(path) == quant


def test_unnamed_gguf_groups_by_stem() -> None:
    files = [
        HubFile("model-00001-of-00002.gguf", 5, None),
        HubFile("model-00002-of-00002.gguf", 5, None),
    ]
    assert [(g.quant, g.size) for g in group_gguf(files)] == [("model", 10)]


def test_card_summary_is_plain_and_short() -> None:
    card = "---\nlicense: mit\n---\n\n# Title\n\n" + "word " * 300 + "\x1b[31m"
    summary = card_summary(card)
    assert len(summary) <= 600 and summary.endswith("…") and "\x1b" not in summary
    assert card_summary("") == ""


def test_a_stalled_header_read_ends_with_a_message_not_a_hang(
    hub_server, write_gguf, monkeypatch
) -> None:
    """The server sends its headers, then nothing: the read times out and says so."""
    import threading
    import time

    from genai_tui.engine.models import hub

    path = write_gguf("stall-Q4_0.gguf", metadata={"llama.attention.head_count_kv": 1})
    hub_server.add_repo("org/stall-GGUF", {path.name: path.read_bytes()})
    release = threading.Event()
    take_drop = hub_server._take_drop

    def stall(key: str):
        if key.endswith(path.name):
            release.wait(30)
        return take_drop(key)

    monkeypatch.setattr(hub_server, "_take_drop", stall)
    monkeypatch.setattr(hub, "HTTP_TIMEOUT_S", 0.5)
    from huggingface_hub.utils import get_session

    monkeypatch.setattr(get_session(), "timeout", get_session().timeout)  # restored after
    started = time.monotonic()
    try:
        with pytest.raises(HubUnavailableError) as err:
            client(hub_server).read_gguf_header("org/stall-GGUF", path.name)
    finally:
        release.set()
    assert time.monotonic() - started < 10
    assert "stopped answering" in str(err.value) and "try again" in err.value.hint


def test_a_hostile_model_card_is_summarised_in_linear_time() -> None:
    """Unclosed comments, fences, links and emphasis by the thousand: the summary is still
    made at once (the old patterns backtracked: 64 KB took about 5 s)."""
    import time

    hostile = "Intro text.\n\n" + "<!-- [x **y `z ~~~ " * 60_000  # about 1.2 MB
    started = time.perf_counter()
    summary = card_summary(hostile)
    assert time.perf_counter() - started < 2.0
    assert summary == "Intro text."
    assert card_summary("---\nlicense: mit\n---\nHello **world** and `code`.") == (
        "Hello world and code."
    )
    assert card_summary("---\nlicense: mit\n---") == ""
