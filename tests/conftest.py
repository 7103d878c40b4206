"""Shared fixtures: a real small GGUF chat model, isolated settings and data dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genai_tui.config import Settings, load_settings



@pytest.fixture(scope="session")
def smollm_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF (98 MB, ChatML template), from the
    `demo` extra that scripts/test.sh installs (no download at test time)."""
    from genai_tui.engine.models.inventory import demo_model_path

    path = demo_model_path()
    if path is None:
        pytest.fail("The demo model is not installed: run `bash scripts/test.sh` (it installs "
                    "the test and demo extras), or `pip install -e '.[test,demo]'`.")  # fmt: skip
    return path


@pytest.fixture
def no_such_host(monkeypatch: pytest.MonkeyPatch) -> str:
    """A host name that does not resolve, without asking a DNS server (whose answer, or
    silence, differs between machines): name resolution of it fails at once."""
    import socket

    host = "nonexistent.invalid"
    real = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):  # noqa: ANN001, ANN202
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return host


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config, data, or Hugging Face cache."""
    for name in list(os.environ):
        if name.startswith("GENAI_TUI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    # LM Studio and Ollama stores are found under HOME: a developer's real ones
    # must not leak into tests.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    monkeypatch.setenv("GENAI_TUI_CONFIG", str(tmp_path / "config.toml"))


@pytest.fixture
def make_settings(tmp_path: Path):
    """Build Settings on a fresh data dir; keyword arguments act as CLI flags."""

    def make(**overrides) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("models_dir", tmp_path / "models")
        return load_settings(tmp_path / "config.toml", **overrides)

    return make


@pytest.fixture
def settings(make_settings) -> Settings:
    """Greedy, short replies: deterministic and quick on 2 CPU cores."""
    return make_settings(
        generation={"temperature": 0.0, "max_tokens": 48, "context_length": 2048, "seed": 1}
    )


@pytest.fixture(scope="session")
def smollm_file(smollm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file of its own holding the SmolLM2 GGUF (a hard link, or a copy), beside the
    test folders: a models dir can hard-link it without it being the demo model's file."""
    import shutil

    target = tmp_path_factory.mktemp("smollm") / smollm_path.name
    try:
        os.link(smollm_path, target)
    except OSError:
        shutil.copyfile(smollm_path, target)
    return target


@pytest.fixture
def models_dir(settings: Settings, smollm_file: Path) -> Path:
    """The models dir with the real SmolLM2 GGUF in it, as a file of the models dir (not a
    link to the demo package's file, which the scanner would list under "demo")."""
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    os.link(smollm_file, folder / smollm_file.name)
    return folder


@pytest.fixture
def hub_server(monkeypatch: pytest.MonkeyPatch):
    """A real loopback Hub-compatible server (tests/hub_server.py); `.url` is its endpoint.

    Register repos with `hub_server.add_repo(...)`; pass `endpoint=hub_server.url` to
    huggingface_hub calls (HF_ENDPOINT is read at import time). Xet is turned off so
    downloads stay plain HTTP.
    """
    from hub_server import FakeHub

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_XET", True)
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="session")
def llama_server(smollm_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """llama-cpp-python's own OpenAI-compatible server on a loopback port, serving SmolLM2
    as model "smollm2"; yields its base URL (ending in /v1). One CPU thread: the suite
    runs on 2 cores."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm_path),
           "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
           "--verbose", "False"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}):\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer in 60 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Stable Diffusion pipeline (random weights, ~5 MB) saved as a diffusers folder.

    Built once per session by tests/tiny_sd.py; load it with `local_files_only=True`.
    Its images are noise, but the same seed gives the same pixels.
    """
    from tiny_sd import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "tiny-sd")


@pytest.fixture
def gen(tmp_path: Path, tiny_sd_dir: Path, capsys: pytest.CaptureFixture[str]):
    """`genai-tui gen ARGS` with the tiny SD pipeline in a fresh models dir, as
    (exit code, stdout, stderr)."""
    from genai_tui.cli import main

    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny-sd").symlink_to(tiny_sd_dir)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(tmp_path / "data"), "--models-dir", str(models),
                     "gen", *args])  # fmt: skip
        out, err = capsys.readouterr()
        return code, out, err

    return run
