"""The headless CLI: `genai-tui chat`, `models`, `--version`, `--help`, exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genai_tui import __version__
from genai_tui.cli import main

MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def models_dir(settings, smollm_path: Path) -> Path:
    """Here the models dir holds a link to the demo model's file: one model, listed once
    (under the store that holds its bytes)."""
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / smollm_path.name).symlink_to(smollm_path)
    return folder


@pytest.fixture
def base(tmp_path: Path, models_dir: Path) -> list[str]:
    """Flags that point the CLI at a fresh data dir and the models dir holding SmolLM2."""
    return [
        "--data-dir", str(tmp_path / "data"), "--models-dir", str(models_dir),
        "--temperature", "0", "--seed", "1", "--ctx", "1024",
    ]  # fmt: skip


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def cli(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genai_tui", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


# -- chat, in process --------------------------------------------------------------------------


def test_chat_prints_the_reply(base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_main([*base, "chat", "--max-tokens", "12", "What is 2+2?"], capsys)
    assert rc == 0
    assert out.strip() and out.endswith("\n")
    assert err == ""  # no llama.cpp chatter on the terminal


def test_chat_json_is_one_object_with_stats(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run_main([*base, "chat", "--json", "--max-tokens", "12", "What is 2+2?"], capsys)
    assert rc == 0
    data = json.loads(out)  # exactly one JSON document
    assert data["model"] == MODEL_NAME.removesuffix(".gguf") + " (demo)"  # a link to it
    assert data["text"].strip()
    assert data["finish_reason"] in ("stop", "length")
    assert 0 < data["completion_tokens"] <= 12
    assert data["prompt_tokens"] > 5
    assert data["ttft_s"] > 0 and data["tokens_per_s"] > 0 and data["duration_s"] > 0
    assert data["context_size"] == 1024
    assert data["thinking"] == ""
    # the streamed text and the JSON text are the same reply
    rc, plain, _ = run_main([*base, "chat", "--max-tokens", "12", "What is 2+2?"], capsys)
    assert plain == data["text"] + "\n"


def test_generation_flags_before_or_after_the_command(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run_main([*base, "--max-tokens", "3", "chat", "--json", "Tell a story"], capsys)
    assert json.loads(out)["completion_tokens"] == 3
    assert json.loads(out)["finish_reason"] == "length"
    _, out, _ = run_main(
        [*base, "--max-tokens", "3", "chat", "--max-tokens", "5", "--json", "Tell a story"], capsys
    )
    assert json.loads(out)["completion_tokens"] == 5  # the later flag wins


def test_system_prompt(base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    args = [*base, "chat", "--json", "--max-tokens", "4"]
    _, out, _ = run_main([*args, "Hi"], capsys)
    _, briefed, _ = run_main([*args, "--system", "Reply only in French. " * 20, "Hi"], capsys)
    assert json.loads(briefed)["prompt_tokens"] > json.loads(out)["prompt_tokens"] + 60


def test_model_by_listed_name_or_path(
    base: list[str], smollm_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for ref in (MODEL_NAME, str(smollm_path)):
        args = [*base, "chat", "-m", ref, "--json", "--max-tokens", "2", "Hi"]
        rc, out, err = run_main(args, capsys)
        assert rc == 0, err
        assert json.loads(out)["completion_tokens"] == 2


def test_unknown_model_name_is_an_error_not_a_substitute(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run_main([*base, "chat", "-m", "mistral-7b", "Hi"], capsys)
    assert rc == 1 and out == ""
    assert err.startswith("genai-tui: error: No model named 'mistral-7b'")


def test_missing_model_file(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run_main([*base, "chat", "-m", str(tmp_path / "gone.gguf"), "Hi"], capsys)
    assert rc == 1 and out == ""
    assert err.startswith("genai-tui: error: Model file not found")
    assert err.count("\n") == 1  # one line


def test_not_a_gguf_file(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "weights.bin"
    bogus.write_bytes(b"\x80\x02}q\x00 a pickle, not a GGUF")
    rc, out, err = run_main([*base, "chat", "-m", str(bogus), "Hi"], capsys)
    assert rc == 1 and out == ""
    assert "is not a GGUF file" in err and str(bogus) in err
    assert err.count("\n") == 1


def test_no_prompt_on_a_terminal(
    base: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    rc, out, err = run_main([*base, "chat"], capsys)
    assert rc == 2 and out == ""
    assert "no prompt" in err


def test_bad_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[generation]\ntemperature = 'warm'\n")
    rc, _, err = run_main(["--config", str(config), "models"], capsys)
    assert rc == 1
    assert err.startswith("genai-tui: error: Invalid settings: 'generation.temperature'")
    assert str(config) in err


def test_bad_flag_value(base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main([*base, "--temperature", "9", "models"], capsys)
    assert rc == 1 and "'generation.temperature' from the command line" in err


# -- models, version, help -------------------------------------------------------------------


def test_models_json(
    base: list[str], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run_main([*base, "models", "--json"], capsys)
    assert rc == 0
    rows = json.loads(out)
    # the demo package's copy is the same file: listed once
    assert len(rows) == 1
    (row,) = rows
    assert Path(row["path"]).resolve() == (models_dir / MODEL_NAME).resolve()
    assert row["size"] == (models_dir / MODEL_NAME).stat().st_size
    assert (row["kind"], row["quantization"], row["context_length"]) == ("gguf", "Q4_1", 8192)
    assert row["architecture"] == "llama" and row["error"] is None
    if row["source"] == "models dir":
        assert row["name"] == MODEL_NAME and row["path"] == str(models_dir / MODEL_NAME)
    else:  # the inventory lists a linked file under the store that holds its bytes
        assert row["source"] == "demo" and MODEL_NAME.removesuffix(".gguf") in row["name"]


def test_models_table(
    base: list[str], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run_main([*base, "models"], capsys)
    assert rc == 0
    header, line = out.splitlines()
    assert header.split() == ["NAME", "KIND", "QUANT", "CONTEXT", "SIZE", "SOURCE", "PATH"]
    assert line.startswith(MODEL_NAME.removesuffix(".gguf")) and "0.10 GB" in line
    assert " gguf " in line and " Q4_1 " in line and " 8192 " in line
    assert "models dir" in line or "  demo  " in line


def test_doctor(
    base: list[str], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run_main([*base, "doctor"], capsys)
    assert rc == 0
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    assert rows["genai-tui"] == __version__
    assert rows["models dir"] == str(models_dir)
    assert rows["config file"].endswith("(not present: defaults)")
    assert re.match(r"\d+\.\d+.*, GPU offload: ", rows["llama-cpp-python"])
    assert rows["chat models"] == "1"


def test_doctor_and_models_count_what_the_picker_offers(
    base: list[str], settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One scan: `doctor` counts the chat picker's models (the configured LM Studio folder
    too), `models` lists the projector as well, and the header decides, not the name."""
    from ggufs import write_gguf

    from genai_tui.engine.engine import Engine

    store = tmp_path / "lms" / "pub" / "Repo"
    store.mkdir(parents=True)
    write_gguf(store / "odd-name.gguf", architecture="qwen2")
    write_gguf(store / "Qwen2-7B-Instruct-Q4_K_M.gguf", architecture="clip")
    monkeypatch.setenv("GENAI_TUI_LMSTUDIO_DIR", str(tmp_path / "lms"))
    rc, out, _ = run_main([*base, "doctor"], capsys)
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    assert rc == 0 and rows["chat models"] == "2"
    rc, out, _ = run_main([*base, "models", "--json"], capsys)
    listed = {Path(r["path"]).name: r["source"] for r in json.loads(out)}
    assert listed["odd-name.gguf"] == listed["Qwen2-7B-Instruct-Q4_K_M.gguf"] == "LM Studio"
    assert len(listed) == 3
    settings.lmstudio_dir = tmp_path / "lms"
    engine = Engine(settings)
    try:
        picked = sorted(m.path.name for m in engine.chat_models())
    finally:
        engine.store.close()
    assert picked == sorted([MODEL_NAME, "odd-name.gguf"])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"genai-tui {__version__}\n"


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: genai-tui")
    for command in ("chat", "models", "doctor"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["chat", "--help"])
    assert "Reads the prompt from stdin" in capsys.readouterr().out.replace("\n", " ")


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- the real process: stdin, streaming, exit codes ------------------------------------------


def test_prompt_from_stdin_streams(base: list[str]) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "genai_tui", *base, "chat", "--max-tokens", "150"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(b"Write a long story about a dragon who bakes bread.\n")
        proc.stdin.close()
        try:
            first = proc.stdout.read1(64)  # type: ignore[attr-defined]
            # text arrives while the model is still writing: streamed, not printed at the end
            assert first and proc.poll() is None
            rest = proc.stdout.read()
            errors = proc.stderr.read()
            assert proc.wait(timeout=60) == 0
        finally:
            proc.kill()
            proc.wait()
    assert len((first + rest).decode().split()) > 20
    assert errors == b""


def test_empty_stdin_exits_2(base: list[str]) -> None:
    result = cli(*base, "chat", stdin="  \n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "genai-tui: error: the prompt is empty\n"


def test_missing_model_exit_code(base: list[str], tmp_path: Path) -> None:
    started = time.perf_counter()
    result = cli(*base, "chat", "-m", str(tmp_path / "nope.gguf"), "Hi")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("genai-tui: error: Model file not found")
    assert time.perf_counter() - started < 30
