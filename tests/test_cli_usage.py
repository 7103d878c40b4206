"""`genai-tui usage [--json]` and `genai-tui chat -m PROVIDER/MODEL`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_faults import REPLY, FaultServer

from genai_tui.cli import main
from genai_tui.engine.core.store import Store


def fill(db: Path) -> None:
    store = Store(db)
    conv = store.create_conversation().id
    store.add_message(conv, "assistant", "a", model="smol", prompt_tokens=10, completion_tokens=20,
                      tokens_per_s=30.0, ttft_s=0.25)  # fmt: skip
    store.add_message(conv, "assistant", "b", model="gpt-x", provider="openai", prompt_tokens=1000,
                      completion_tokens=500, tokens_per_s=90.0, ttft_s=0.5, cost=0.0125)  # fmt: skip
    store.close()


def test_usage_json_is_one_object_with_models_days_and_totals(tmp_path, capsys):
    data = tmp_path / "data"
    fill(data / "genai-tui.sqlite3")
    assert main(["--data-dir", str(data), "usage", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["tokens"] == 1530 and report["totals"]["cost"] == pytest.approx(0.0125)
    models = {(m["provider"], m["model"]): m for m in report["models"]}
    assert models[("openai", "gpt-x")]["mean_tps"] == 90.0
    assert models[("", "smol")]["cost"] is None
    assert len(report["by_day"]) == 1 and report["by_day"][0]["replies"] == 2


def test_usage_table_names_local_and_remote_models(tmp_path, capsys):
    data = tmp_path / "data"
    fill(data / "genai-tui.sqlite3")
    assert main(["--data-dir", str(data), "usage"]) == 0
    out = capsys.readouterr().out
    assert "openai/gpt-x" in out and "$0.0125" in out and "smol" in out
    assert "Total: 2 replies, 1,530 tokens" in out


def test_usage_on_an_empty_database_says_so(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "data"), "usage"]) == 0
    assert "No replies recorded" in capsys.readouterr().out


def test_chat_reaches_a_remote_model_as_provider_slash_model(tmp_path, capsys):
    with FaultServer() as server:
        (tmp_path / "config.toml").write_text(
            f'[[providers]]\nname = "faulty"\nbase_url = "{server.url}"\n'
        )
        rc = main(["--data-dir", str(tmp_path / "data"), "chat", "-m", "faulty/fault-model",
                   "--json", "Hi"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["text"] == REPLY and out["provider"] == "faulty"
    assert out["model"] == "fault-model" and out["completion_tokens"] == 6


def test_chat_with_an_unreachable_provider_fails_with_the_reason(tmp_path, capsys, no_such_host):
    (tmp_path / "config.toml").write_text(
        '[[providers]]\nname = "dead"\nbase_url = "http://nonexistent.invalid/v1"\n'
    )
    rc = main(["--data-dir", str(tmp_path / "data"), "chat", "-m", "dead/m", "Hi"])
    err = capsys.readouterr().err
    assert rc == 1 and "Cannot resolve the host name 'nonexistent.invalid'" in err


def test_chat_from_a_stream_that_stops_early_fails_instead_of_claiming_a_reply(tmp_path, capsys):
    with FaultServer() as server:
        server.default = "truncated"
        (tmp_path / "config.toml").write_text(
            f'[[providers]]\nname = "faulty"\nbase_url = "{server.url}"\n'
        )
        rc = main(["--data-dir", str(tmp_path / "data"), "chat", "-m", "faulty/fault-model",
                   "--json", "Hi"])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 1 and '"finish_reason"' not in captured.out
    assert captured.err.count("\n") == 1 and "ended before the reply was complete" in captured.err
