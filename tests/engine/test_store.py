"""The SQLite store: schema, conversations, search, projects, prompts, and surviving a kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from genai_tui.engine.core.errors import StoreError
from genai_tui.engine.core.store import MIGRATIONS, Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "genai-tui.sqlite3"


@pytest.fixture
def store(db_path: Path):
    s = Store(db_path)
    yield s
    s.close()


def test_new_database_is_at_the_latest_schema_in_wal_mode(store: Store, db_path: Path) -> None:
    assert db_path.exists()  # the data folder is created
    assert store.schema_version == len(MIGRATIONS)
    other = sqlite3.connect(db_path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    other.close()
    assert {"conversations", "messages", "projects", "system_prompts"} <= tables


def test_migrations_run_once_and_data_survives_reopening(db_path: Path) -> None:
    first = Store(db_path)
    conv = first.create_conversation("kept", "m", "sys")
    first.add_message(conv.id, "user", "hello")
    first.close()
    # A second open must not re-run CREATE TABLE (it would fail) nor lose anything.
    again = Store(db_path)
    assert again.schema_version == len(MIGRATIONS)
    assert [m.content for m in again.messages(conv.id)] == ["hello"]
    assert again.conversation(conv.id).system_prompt == "sys"
    again.close()


def test_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer genai-tui"):
        Store(db_path)


def test_damaged_database_is_a_store_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as err:
        Store(db_path)
    assert str(db_path) in str(err.value)
    assert "move it aside" in err.value.hint


def test_conversation_crud(store: Store) -> None:
    conv = store.create_conversation("First", "smol.gguf", "Be brief.", {"temperature": 0.1})
    assert (conv.title, conv.model, conv.system_prompt) == ("First", "smol.gguf", "Be brief.")
    assert conv.params == {"temperature": 0.1}
    assert conv.project is None

    updated = store.update_conversation(
        conv.id, title="Renamed", model="other.gguf", system_prompt="", params={"top_k": 5}
    )
    assert updated.title == "Renamed"
    assert updated.model == "other.gguf"
    assert updated.system_prompt == ""
    assert updated.params == {"top_k": 5}
    assert updated.updated_at >= conv.updated_at
    with pytest.raises(ValueError):
        store.update_conversation(conv.id, created_at=0)

    store.add_message(conv.id, "user", "hi")
    store.delete_conversation(conv.id)
    with pytest.raises(StoreError, match="does not exist"):
        store.conversation(conv.id)
    assert store.messages(conv.id) == []  # messages go with it


def test_messages_keep_order_and_stats(store: Store) -> None:
    conv = store.create_conversation()
    user = store.add_message(conv.id, "user", "What is 2+2?")
    reply = store.add_message(
        conv.id, "assistant", "4", thinking="easy", model="m", prompt_tokens=12,
        completion_tokens=1, ttft_s=0.1, tokens_per_s=30.0, duration_s=0.2,
        finish_reason="stop", stopped=0,
    )  # fmt: skip
    messages = store.messages(conv.id)
    assert [m.id for m in messages] == [user.id, reply.id]
    got = messages[1]
    assert (got.role, got.content, got.thinking) == ("assistant", "4", "easy")
    assert got.prompt_tokens == 12
    assert got.finish_reason == "stop" and got.stopped is False

    store.update_message(user.id, "What is 3+3?")
    assert store.message(user.id).content == "What is 3+3?"
    store.delete_messages([reply.id])
    assert [m.content for m in store.messages(conv.id)] == ["What is 3+3?"]


def test_bad_role_is_rejected(store: Store) -> None:
    conv = store.create_conversation()
    with pytest.raises(sqlite3.IntegrityError):
        store.add_message(conv.id, "tool", "x")
    assert store.messages(conv.id) == []  # the failed write left nothing behind


def test_newest_conversation_first(store: Store) -> None:
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    c = store.create_conversation("c")
    assert [x.title for x in store.conversations()] == ["c", "b", "a"]
    time.sleep(0.01)
    store.add_message(a.id, "user", "bump")  # a new message moves it to the top
    assert [x.id for x in store.conversations()] == [a.id, c.id, b.id]


def test_search_titles_and_message_text(store: Store) -> None:
    pasta = store.create_conversation("Dinner ideas")
    store.add_message(pasta.id, "user", "How long do I boil spaghetti?")
    rust = store.create_conversation("Rust lifetimes")
    store.add_message(rust.id, "assistant", "The borrow checker says no.")
    store.create_conversation("Empty")

    assert [c.id for c in store.conversations(search="dinner")] == [pasta.id]  # title, any case
    assert [c.id for c in store.conversations(search="SPAGHETTI")] == [pasta.id]  # message text
    assert [c.id for c in store.conversations(search="borrow checker")] == [rust.id]
    assert store.conversations(search="nothing like this") == []
    assert len(store.conversations(search="")) == 3


def test_search_is_literal(store: Store) -> None:
    percent = store.create_conversation("Growth of 50% a year")
    snake = store.create_conversation("snake_case names")
    store.create_conversation("50 apples")
    store.create_conversation("snakeXcase")
    assert [c.id for c in store.conversations(search="50%")] == [percent.id]
    assert [c.id for c in store.conversations(search="snake_case")] == [snake.id]
    assert [c.id for c in store.conversations(search="_")] == [snake.id]


def test_projects(store: Store) -> None:
    work = store.create_conversation("standup notes")
    home = store.create_conversation("recipes")
    loose = store.create_conversation("misc")
    assert store.update_conversation(work.id, project="Work").project == "Work"
    store.update_conversation(home.id, project="Home")
    assert store.project_id("Work") == store.project_id("Work")  # created once
    assert store.projects() == ["Home", "Work"]
    assert [c.id for c in store.conversations(project="Work")] == [work.id]
    assert [c.id for c in store.conversations(search="re", project="Home")] == [home.id]
    assert store.update_conversation(work.id, project=None).project is None
    assert store.conversations(project="Work") == []
    assert loose.id in [c.id for c in store.conversations()]


def test_system_prompt_library(store: Store) -> None:
    store.save_system_prompt("pirate", "Talk like a pirate.")
    store.save_system_prompt("brief", "Answer in one sentence.")
    saved = store.save_system_prompt("pirate", "Talk like a polite pirate.")  # same name: update
    assert saved.content == "Talk like a polite pirate."
    assert [(p.name, p.content) for p in store.system_prompts()] == [
        ("brief", "Answer in one sentence."),
        ("pirate", "Talk like a polite pirate."),
    ]
    store.delete_system_prompt("brief")
    assert [p.name for p in store.system_prompts()] == ["pirate"]


def test_two_connections_see_each_others_writes(db_path: Path) -> None:
    """The TUI and a CLI run may have the same database open."""
    one, two = Store(db_path), Store(db_path)
    conv = one.create_conversation("shared")
    two.add_message(conv.id, "user", "from two")
    assert [m.content for m in one.messages(conv.id)] == ["from two"]
    one.close()
    two.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from genai_tui.config import load_settings
    from genai_tui.engine.engine import Engine

    async def main():
        data, model, conv_id = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        settings = load_settings(
            data / "none.toml", data_dir=data,
            generation={"temperature": 0, "max_tokens": 400, "context_length": 1024},
        )
        engine = Engine(settings)
        await engine.load_model(model)
        engine.store.update_conversation(conv_id, params={"max_tokens": 6})
        async for event in engine.chat(conv_id, "Say hello."):
            pass
        print("FIRST REPLY SAVED", flush=True)
        engine.store.update_conversation(conv_id, params={"max_tokens": 400})
        async for event in engine.chat(conv_id, "Write a long story about a dragon."):
            if type(event).__name__ == "TokenDelta":
                print("TOKEN", flush=True)

    asyncio.run(main())
    """
)


def test_killed_mid_reply_keeps_earlier_messages(
    tmp_path: Path, smollm_path: Path, db_path: Path
) -> None:
    store = Store(db_path)
    conv = store.create_conversation("survivor", str(smollm_path))
    store.add_message(conv.id, "user", "Earlier question")
    store.add_message(conv.id, "assistant", "Earlier answer", completion_tokens=2)
    store.close()

    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path.parent), str(smollm_path), str(conv.id)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            lines = []
            while lines.count("TOKEN") < 5:
                line = proc.stdout.readline()
                if not line:
                    pytest.fail(f"child ended early: {lines} {proc.stderr.read()}")
                lines.append(line.strip())
            assert lines[0] == "FIRST REPLY SAVED"
            os.kill(proc.pid, signal.SIGKILL)  # mid-stream, no chance to clean up
        finally:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    reopened = Store(db_path)
    messages = reopened.messages(conv.id)
    assert [(m.role, m.content) for m in messages[:2]] == [
        ("user", "Earlier question"),
        ("assistant", "Earlier answer"),
    ]
    # the child's completed reply was committed before the kill
    assert [m.role for m in messages[2:4]] == ["user", "assistant"]
    assert messages[2].content == "Say hello."
    assert messages[3].content and messages[3].completion_tokens
    # the question being answered was saved; the reply in flight was not
    assert messages[4].role == "user" and messages[4].content.startswith("Write a long story")
    assert len(messages) == 5
    # and the database is writable again (no lock left behind)
    reopened.add_message(conv.id, "assistant", "recovered")
    assert reopened.messages(conv.id)[-1].content == "recovered"
    reopened.close()


def test_instances_opening_a_new_database_at_once_both_work(tmp_path: Path) -> None:
    """Two app instances started together on one data dir: one migrates, the other waits
    for it and goes on (before, the second read the version outside the migration's
    transaction and was told the file may be damaged). Separate processes, as in life."""
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from genai_tui.engine.core.store import Store
        store = Store(Path(sys.argv[1]))
        store.create_conversation("from " + sys.argv[2])
        print(store.schema_version)
        """
    )
    for round_ in range(4):
        db = tmp_path / f"race-{round_}" / "genai-tui.sqlite3"
        procs = [subprocess.Popen([sys.executable, "-c", script, str(db), str(i)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(4)]  # fmt: skip
        results = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
        assert {out.strip() for out, _ in results} == {str(len(MIGRATIONS))}
        store = Store(db)
        assert len(store.conversations()) == 4
        store.close()
