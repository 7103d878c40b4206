"""`genai-tui chat --file PATH [--trim]` with the real SmolLM2, and `--image PATH` to a real
loopback OpenAI-compatible server (and refused for a local model)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from openai_faults import REPLY, FaultServer

from genai_tui.cli import main

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)


@pytest.fixture
def base(tmp_path: Path, models_dir: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--models-dir", str(models_dir),
            "--ctx", "1024"]  # fmt: skip


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_a_file_goes_into_the_prompt(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Shopping\n\n- apples\n- bread\n- three kinds of cheese\n")
    ask = [*base, "chat", "--json", "--max-tokens", "8", "--temperature", "0"]
    plain = run_json([*ask, "What is on the list?"], capsys)
    data = run_json([*ask, "--file", str(path), "What is on the list?"], capsys)
    assert data["text"] and data["files"] == [
        {"name": "notes.md", "tokens": data["files"][0]["tokens"], "estimated": False,
         "trimmed": False}  # fmt: skip
    ]
    tokens = data["files"][0]["tokens"]
    assert tokens > 15
    # The prompt the model read held the file: its tokens (and the blank line after it).
    assert data["prompt_tokens"] - plain["prompt_tokens"] in range(tokens, tokens + 3)


def test_the_count_is_shown_before_the_reply(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("alpha beta gamma\n")
    rc = main([*base, "chat", "--max-tokens", "4", "--file", str(tmp_path / "a.txt"), "Hi"])
    out, err = capsys.readouterr()
    assert rc == 0 and out.strip()
    assert err.startswith("📎 a.txt · ") and err.rstrip().endswith(" tokens")


def test_a_file_too_large_is_refused_or_trimmed(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"{i:05d} GET /index.html 200\n" for i in range(2000)))
    ask = [*base, "chat", "--json", "--max-tokens", "4", "--file", str(path), "Summarise."]
    assert main(ask) == 2
    err = capsys.readouterr().err
    assert err.startswith("genai-tui: error: big.log takes ") and " tokens, but the context has " in err
    assert "(1,024 in all, 4 kept for the reply," in err and "Pass --trim to keep its head" in err
    data = run_json([*ask, "--trim"], capsys)
    assert data["files"][0]["trimmed"] is True and data["text"]
    assert data["prompt_tokens"] <= 1024 - 4


def test_binary_and_missing_files_are_refused(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.bin").write_bytes(bytes(range(256)))
    assert main([*base, "chat", "--file", str(tmp_path / "x.bin"), "Hi"]) == 2
    assert "x.bin is a binary file, not UTF-8 text" in capsys.readouterr().err
    assert main([*base, "chat", "--file", str(tmp_path / "none.txt"), "Hi"]) == 2
    assert "No file at" in capsys.readouterr().err


def test_an_image_goes_to_a_remote_model_as_a_data_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("The cat is called Tom.\n")
    with FaultServer() as server:
        (tmp_path / "config.toml").write_text(
            f'[[providers]]\nname = "vis"\nbase_url = "{server.url}"\n'
        )
        data = run_json(["--data-dir", str(tmp_path / "data"), "chat", "-m", "vis/fault-model",
                         "--json", "--image", str(tmp_path / "cat.png"), "--file",
                         str(tmp_path / "notes.txt"), "Who is this?"], capsys)  # fmt: skip
    assert data["text"] == REPLY and data["images"] == 1 and data["files"][0]["estimated"]
    (text, image) = server.chat_requests()[-1]["body"]["messages"][-1]["content"]
    assert text["type"] == "text" and text["text"].endswith("Tom.\n```\n\nWho is this?")
    assert text["text"].startswith("File: notes.txt\n")
    head, _, b64 = image["image_url"]["url"].partition(",")
    assert image["type"] == "image_url" and head == "data:image/png;base64"
    assert base64.b64decode(b64) == PNG


def test_a_local_model_without_a_projector_says_it_cannot_take_images(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    assert main([*base, "chat", "--image", str(tmp_path / "cat.png"), "What is this?"]) == 2
    err = capsys.readouterr().err
    assert "has no vision projector (mmproj); it takes text only." in err
    assert "genai-tui pull REPO --quant QUANT" in err and "-m PROVIDER/MODEL" in err
