"""`genai-tui imagine` and `genai-tui story`, headless, on real models: SmolLM2 plans
(llama.cpp with a JSON grammar) or a scripted OpenAI-compatible server writes the story;
the tiny diffusers pipeline draws."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from openai_faults import FaultServer

from genai_tui.cli import main
from genai_tui.engine.core.store import Store

IMAGE = '[image]\nthreads = 1\nwidth = 64\nheight = 64\nsteps = 2\nvariations = 1\n'


@pytest.fixture
def dirs(tmp_path: Path, tiny_sd_dir: Path, smollm_file: Path) -> dict[str, Path]:
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny-sd").symlink_to(tiny_sd_dir)
    os.link(smollm_file, models / smollm_file.name)
    return {"models": models, "data": tmp_path / "data", "config": tmp_path / "config.toml"}


def cli(dirs: dict[str, Path], capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(dirs["config"]), "--data-dir", str(dirs["data"]),
                 "--models-dir", str(dirs["models"]), "--temperature", "0", "--seed", "1",
                 *args])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


def test_imagine_with_smollm_prints_the_pictures_and_keeps_no_chat(dirs, capsys) -> None:
    dirs["config"].write_text(IMAGE)
    code, out, err = cli(dirs, capsys, "imagine", "a red apple on a table", "-n", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "images" and data["prompt"] and len(data["images"]) == 2
    assert all(Path(p["path"]).is_file() for p in data["images"])
    store = Store(dirs["data"] / "genai-tui.sqlite3")
    assert store.image_count() == 2  # in the gallery
    assert store.conversations() == []  # the one-off chat is not kept
    store.close()


def test_a_story_written_to_a_folder_as_markdown_with_its_pictures(dirs, capsys,
                                                                  tmp_path) -> None:  # fmt: skip
    story = {"title": "The Fox", "scenes": [
        {"text": "A fox wakes.", "prompt": "a fox in snow"},
        {"text": "It runs.", "prompt": "a fox running"}]}  # fmt: skip
    with FaultServer() as server:
        server.replies = [json.dumps(story)]
        dirs["config"].write_text(
            f'[[providers]]\nname = "script"\nbase_url = "{server.url}"\n\n{IMAGE}')
        out_dir = tmp_path / "out"
        code, out, err = cli(dirs, capsys, "-m", "script/fault-model", "story",
                             "a fox in winter", "--scenes", "2", "-o", str(out_dir))  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    md = Path(lines[-1])
    assert md.parent == out_dir and md.suffix == ".md" and len(lines) == 3  # 2 pictures + md
    links = re.findall(r"!\[Scene \d\]\(([^)]+)\)", md.read_text())
    assert len(links) == 2 and all((out_dir / link).is_file() for link in links)
