"""The end-to-end layer: the installed app in tmux, with real small models on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.tmux import Terminal, available


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def app_dirs(tmp_path: Path, smollm_path: Path) -> dict[str, Path]:
    """A fresh home, data dir and models dir with the real SmolLM2 GGUF in it."""
    dirs = {name: tmp_path / name for name in ("home", "data", "models")}
    for folder in dirs.values():
        folder.mkdir()
    (dirs["models"] / smollm_path.name).symlink_to(smollm_path)
    return dirs


@pytest.fixture
def studio_dirs(app_dirs: dict[str, Path], tmp_path: Path, tiny_sd_dir: Path) -> dict[str, Path]:
    """The tiny SD pipeline in the models dir and small, quick image settings."""
    (app_dirs["models"] / "tiny-sd").symlink_to(tiny_sd_dir)
    (tmp_path / "config.toml").write_text(
        '[image]\nrenderer = "halfcell"\nthreads = 1\nwidth = 64\nheight = 64\n'
        "steps = 3\nvariations = 1\n"
    )
    return app_dirs


@pytest.fixture
def terminal(app_dirs: dict[str, Path], tmp_path: Path):
    """`terminal(size=(80, 24), *args)` starts the app; every one is closed after the test."""
    if not available():
        pytest.skip("tmux or the installed genai-tui command is missing")
    started: list[Terminal] = []

    def start(*args: str, size: tuple[int, int] = (80, 24)) -> Terminal:
        term = Terminal(app_dirs["home"], size)
        env = {"GENAI_TUI_CONFIG": str(tmp_path / "config.toml"),
               "HF_HUB_CACHE": str(tmp_path / "hf-cache")}  # fmt: skip
        started.append(term)
        return term.start("--data-dir", str(app_dirs["data"]), "--models-dir",
                          str(app_dirs["models"]), *args, env=env)  # fmt: skip

    yield start
    for term in started:
        term.close()
