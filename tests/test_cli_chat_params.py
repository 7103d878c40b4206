"""`genai-tui chat --preset NAME`, `--json-mode`, `--min-p`, `--stop` with the real SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genai_tui.cli import main
from genai_tui.config import load_settings
from genai_tui.engine.engine import Engine


@pytest.fixture
def base(tmp_path: Path, models_dir: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--models-dir", str(models_dir),
            "--ctx", "1024"]  # fmt: skip


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_json_mode_reply_is_json(base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json([*base, "chat", "--json", "--json-mode", "--temperature", "0",
                     "--max-tokens", "160", "Describe a cat as JSON."], capsys)  # fmt: skip
    assert isinstance(json.loads(data["text"]), dict)
    assert data["sampling"]["json_mode"] is True


def test_builtin_preset_and_flags_that_win_over_it(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json([*base, "chat", "--json", "--preset", "deterministic", "--max-tokens", "8",
                     "Hi"], capsys)  # fmt: skip
    assert data["sampling"]["temperature"] == 0.0 and data["sampling"]["seed"] == 0
    data = run_json([*base, "chat", "--json", "--preset", "precise", "--temperature", "0.05",
                     "--min-p", "0.2", "--stop", "###", "--stop", "\n\n", "--max-tokens", "8",
                     "Hi"], capsys)  # fmt: skip
    assert data["sampling"]["temperature"] == 0.05  # the flag, not the preset's 0.2
    assert data["sampling"]["top_p"] == 0.9  # the preset's
    assert data["sampling"]["min_p"] == 0.2 and data["sampling"]["stop"] == ["###", "\n\n"]


def test_a_preset_saved_in_the_tui_database(
    base: list[str], tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(tmp_path / "config.toml", data_dir=tmp_path / "data",
                             models_dir=models_dir)  # fmt: skip
    engine = Engine(settings)
    engine.sampling.save_preset("short", {"max_tokens": 3, "temperature": 0.0})
    engine.store.close()
    data = run_json([*base, "chat", "--json", "--preset", "short", "Tell a story"], capsys)
    assert data["completion_tokens"] == 3 and data["finish_reason"] == "length"


def test_unknown_preset_and_bad_values_are_errors(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main([*base, "chat", "--preset", "nope", "Hi"])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    assert "There is no preset named 'nope'" in err and "precise" in err
    rc = main([*base, "chat", "--min-p", "3", "Hi"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "min-p: Input should be less than or equal to 1 (got 3.0)" in err
    rc = main([*base, "chat", "--stop", "a", "--stop", "b", "--stop", "c", "--stop", "d",
               "--stop", "e", "Hi"])  # fmt: skip
    _, err = capsys.readouterr()
    assert rc == 2 and "at most 4 items" in err
