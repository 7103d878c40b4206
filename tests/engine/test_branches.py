"""Branching chats with the real SmolLM2 GGUF: edit an earlier message, regenerate, step
between branches; what the model is sent, what survives a restart, what an old database
becomes, and what an export holds."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import ChatDone
from genai_tui.engine.core.store import MIGRATIONS, Store
from genai_tui.engine.engine import Engine

from .test_engine import MODEL_NAME, done, make_engine, run


@pytest.fixture(scope="module")
def engine(smollm_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2 loaded (2048-token context, greedy, 24-token replies), its store on disk."""
    eng = make_engine(tmp_path_factory.mktemp("branches"), smollm_file)
    asyncio.run(eng.load_model(MODEL_NAME))
    yield eng
    asyncio.run(eng.aclose())


def shown(store: Store, conv_id: int) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in store.messages(conv_id)]


async def sent_tokens(engine: Engine, conv_id: int, extra: str) -> int:
    """What the model's prompt costs for the shown path plus a new message `extra`."""
    assert engine.model is not None
    history = [{"role": m.role, "content": m.content} for m in engine.messages(conv_id)]
    tokens, _ = await engine.model.count_prompt(history + [{"role": "user", "content": extra}])
    return tokens


async def test_editing_an_earlier_message_branches_and_survives_a_restart(engine: Engine) -> None:
    conv = engine.new_conversation()
    await run(engine.chat(conv.id, "My cat is called Tom."))
    await run(engine.chat(conv.id, "What colour is the sky?"))
    first, old_reply, second, _ = engine.messages(conv.id)

    events = await run(engine.branches.edit(conv.id, first.id, "My dog is called Rex."))
    new_reply = done(events)
    assert shown(engine.store, conv.id) == [("user", "My dog is called Rex."),
                                            ("assistant", new_reply.text)]  # fmt: skip
    edited = engine.messages(conv.id)[0]
    assert edited.parent_id is None and edited.id != first.id
    positions = engine.branches.positions(conv.id)
    assert (positions[edited.id].index, positions[edited.id].count) == (2, 2)
    assert len(engine.store.message_tree(conv.id)) == 6  # nothing was deleted

    # A restart: another connection to the same database file sees both branches.
    reopened = Store(engine.settings.db_path)
    try:
        assert shown(reopened, conv.id)[0] == ("user", "My dog is called Rex.")
        assert engine.branches.step(conv.id, edited.id, -1) is not None
        assert [m.id for m in reopened.messages(conv.id)] == [first.id, old_reply.id, second.id,
                                                              engine.messages(conv.id)[-1].id]
        assert shown(reopened, conv.id)[2] == ("user", "What colour is the sky?")
    finally:
        reopened.close()
    # Stepping wraps round, and back on the edit its branch is as it was.
    engine.branches.step(conv.id, first.id, +1)
    assert shown(engine.store, conv.id)[0][1] == "My dog is called Rex."


async def test_stepping_changes_what_the_model_is_sent_next(engine: Engine) -> None:
    conv = engine.new_conversation()
    await run(engine.chat(conv.id, "Tell me about the moon."))
    first = engine.messages(conv.id)[0]
    await run(engine.branches.edit(conv.id, first.id, "Tell me about the sea, in detail, please."))
    on_edit = await sent_tokens(engine, conv.id, "And then?")

    assert engine.branches.step(conv.id, None, -1) is not None  # the last branch point
    assert engine.messages(conv.id)[0].content == "Tell me about the moon."
    expected = await sent_tokens(engine, conv.id, "And then?")
    assert expected != on_edit
    events = await run(engine.chat(conv.id, "And then?"))
    assert done(events).stats.prompt_tokens == expected  # the old branch's history, exactly
    path = engine.messages(conv.id)
    assert [m.content for m in path[::2]] == ["Tell me about the moon.", "And then?"]
    assert path[2].parent_id == path[1].id


async def test_regenerate_keeps_both_replies_and_the_chat_goes_on_from_the_shown_one(
    engine: Engine,
) -> None:
    conv = engine.new_conversation()
    await run(engine.chat(conv.id, "Name a fruit."))
    question, old = engine.messages(conv.id)
    engine.sampling.set(conv.id, {"temperature": 1.0, "seed": 7})
    new = done(await run(engine.regenerate(conv.id)))
    path = engine.messages(conv.id)
    assert [m.id for m in path] == [question.id, new.message_id]
    replies = [m for m in engine.store.message_tree(conv.id) if m.role == "assistant"]
    assert [m.id for m in replies] == [old.id, new.message_id]
    assert all(m.parent_id == question.id for m in replies)
    assert engine.branches.positions(conv.id)[new.message_id].index == 2

    assert engine.branches.step(conv.id, new.message_id, -1).id == old.id  # type: ignore[union-attr]
    assert shown(engine.store, conv.id) == [("user", "Name a fruit."), ("assistant", old.content)]
    await run(engine.chat(conv.id, "Another one?"))
    assert engine.messages(conv.id)[2].parent_id == old.id

    # A regenerate of an earlier reply: a third sibling there, the path ends at it.
    third = done(await run(engine.branches.regenerate(conv.id, old.id)))
    assert engine.messages(conv.id)[-1].id == third.message_id
    assert engine.branches.positions(conv.id)[third.message_id].count == 3
    with pytest.raises(GenaiError, match="Only replies"):
        await run(engine.branches.regenerate(conv.id, question.id))
    with pytest.raises(GenaiError, match="Only your own"):
        await run(engine.branches.edit(conv.id, old.id, "x"))


async def test_export_has_the_shown_path_only(engine: Engine, tmp_path: Path) -> None:
    conv = engine.new_conversation()
    await run(engine.chat(conv.id, "Say hello to Bob."))
    first = engine.messages(conv.id)[0]
    await run(engine.branches.edit(conv.id, first.id, "Say hello to Alice."))
    md, js = engine.export(conv.id, tmp_path)
    body = md.read_text().split("\n", 1)[1]  # below the title (the first message's)
    assert "Say hello to Alice." in body and "Bob" not in body
    data = json.loads(js.read_text())
    assert [m["content"] for m in data["messages"]][0] == "Say hello to Alice."
    assert len(data["messages"]) == 2


def test_an_old_database_migrates_with_its_chats_as_one_path(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:6]):
        db.executescript(script + f"; PRAGMA user_version = {number + 1};")
    db.execute("INSERT INTO conversations(id, title, created_at, updated_at)"
               " VALUES (1, 'Old chat', 1, 1)")  # fmt: skip
    for role, text in [("user", "one"), ("assistant", "two"), ("user", "three"),
                       ("assistant", "four")]:  # fmt: skip
        db.execute("INSERT INTO messages(conversation_id, role, content, created_at)"
                   " VALUES (1, ?, ?, 1)", (role, text))  # fmt: skip
    db.commit()
    db.close()

    store = Store(path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert shown(store, 1) == [("user", "one"), ("assistant", "two"), ("user", "three"),
                                   ("assistant", "four")]  # fmt: skip
        messages = store.messages(1)
        assert [m.parent_id for m in messages] == [None, *[m.id for m in messages[:-1]]]
        added = store.add_message(1, "user", "five")
        assert added.parent_id == messages[-1].id
        assert store.conversation(1).title == "Old chat"
    finally:
        store.close()


def test_steps_remember_each_branch_as_it_was_left(tmp_path: Path) -> None:
    """No model needed: the tree alone. A branch stepped away from and back to shows the
    reply that was shown in it, not the newest one."""
    store = Store(tmp_path / "t.db")
    conv = store.create_conversation().id
    q = store.add_message(conv, "user", "q")
    a1 = store.add_message(conv, "assistant", "a1")
    a2 = store.add_message(conv, "assistant", "a2", parent=q.id)
    store.choose_message(a1.id)  # back to the first reply
    q2 = store.add_message(conv, "user", "q2", parent=None)  # an edit of the first message
    assert shown(store, conv) == [("user", "q2")]
    store.choose_message(q.id)
    assert shown(store, conv) == [("user", "q"), ("assistant", "a1")]
    store.choose_message(q2.id)
    store.choose_message(q.id)
    assert [m.id for m in store.messages(conv)] == [q.id, a1.id]
    store.delete_messages([q.id])  # a branch goes with everything below it
    assert [m.id for m in store.message_tree(conv)] == [q2.id]
    assert a2.id not in {m.id for m in store.message_tree(conv)}
    store.close()


async def test_nothing_changes_while_a_reply_streams(engine: Engine) -> None:
    conv = engine.new_conversation()
    await run(engine.chat(conv.id, "Hi."))
    first = engine.messages(conv.id)[0]
    await run(engine.branches.edit(conv.id, first.id, "Hello."))
    stream = engine.chat(conv.id, "How are you?")
    event = await stream.__anext__()
    with pytest.raises(GenaiError, match="already being generated"):
        engine.branches.step(conv.id, None, -1)
    rest = [event] + [e async for e in stream]
    assert isinstance(rest[-1], ChatDone)
    assert engine.messages(conv.id)[0].content == "Hello."
