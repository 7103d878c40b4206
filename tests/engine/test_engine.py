"""Engine: chat with the real SmolLM2 GGUF, saved to the store; stop, regenerate, edit, trim,
and bad model files that leave the engine working."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from genai_tui.config import Settings, load_settings
from genai_tui.engine.core.errors import (
    ContextOverflowError,
    GenaiError,
    ModelNotFoundError,
    ModelTooLargeError,
    NotGGUFError,
    TruncatedModelError,
    UnsupportedArchitectureError,
)
from genai_tui.engine.core.events import (
    ChatDone,
    ChatEvent,
    ContextTrimmed,
    ModelLoaded,
    ModelLoading,
    ThinkingDelta,
    TokenDelta,
)
from genai_tui.engine.engine import DEFAULT_TITLE, Engine, title_from

MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"  # its name in the models dir


def module_settings(folder: Path, **generation) -> Settings:
    """Settings for a module-scoped engine, unaffected by the developer's environment."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("GENAI_TUI_"):
                mp.delenv(name)
        gen = {"temperature": 0.0, "max_tokens": 24, "context_length": 2048, "seed": 1}
        return load_settings(
            folder / "config.toml",
            data_dir=folder / "data",
            models_dir=folder / "models",
            generation=gen | generation,
        )


def make_engine(folder: Path, smollm_file: Path, **generation) -> Engine:
    settings = module_settings(folder, **generation)
    settings.models_path.mkdir(parents=True, exist_ok=True)
    os.link(smollm_file, settings.models_path / MODEL_NAME)  # a file of the models dir
    return Engine(settings)


@pytest.fixture(scope="module")
def engine(smollm_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """One engine with SmolLM2 loaded (2048-token context, greedy, 24-token replies)."""
    eng = make_engine(tmp_path_factory.mktemp("engine"), smollm_file)
    asyncio.run(eng.load_model(MODEL_NAME))
    yield eng
    asyncio.run(eng.aclose())


@pytest.fixture(scope="module")
def small_engine(smollm_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2 with a 256-token context: long conversations must be trimmed."""
    eng = make_engine(tmp_path_factory.mktemp("small"), smollm_file, context_length=256)
    yield eng
    asyncio.run(eng.aclose())


async def run(events: AsyncIterator[ChatEvent]) -> list[ChatEvent]:
    return [event async for event in events]


def answer(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TokenDelta))


def done(events: list[ChatEvent]) -> ChatDone:
    assert isinstance(events[-1], ChatDone), events[-1]
    assert sum(isinstance(e, ChatDone) for e in events) == 1
    return events[-1]


# -- a first reply ---------------------------------------------------------------------


async def test_first_chat_loads_the_model_from_the_models_dir(
    settings: Settings, models_dir: Path
) -> None:
    engine = Engine(settings)
    try:
        conv = engine.new_conversation()
        assert conv.title == DEFAULT_TITLE and conv.model == ""
        events = await run(engine.chat(conv.id, "Hello there!"))
        assert isinstance(events[0], ModelLoading) and events[0].name == MODEL_NAME
        assert isinstance(events[1], ModelLoaded) and events[1].context_size == 2048
        assert all(isinstance(e, TokenDelta) for e in events[2:-1])
        assert done(events).text == answer(events) != ""
        conv = engine.store.conversation(conv.id)
        assert conv.model == MODEL_NAME  # remembered for next time
        assert conv.title == "Hello there!"
    finally:
        await engine.aclose()


async def test_reply_streams_and_is_saved_with_stats(engine: Engine) -> None:
    conv = engine.new_conversation()
    events = await run(engine.chat(conv.id, "What is the capital of France?"))
    deltas = [e for e in events if isinstance(e, TokenDelta)]
    assert len(deltas) > 3  # streamed piece by piece, not in one lump
    final = done(events)
    stats = final.stats
    assert final.text == answer(events)
    assert stats.finish_reason in ("stop", "length") and not stats.stopped
    assert stats.prompt_tokens > 10 and 0 < stats.completion_tokens <= 24
    assert stats.ttft_s is not None and stats.ttft_s > 0
    assert stats.tokens_per_s is not None and stats.tokens_per_s > 1
    assert stats.context_size == 2048
    assert stats.context_used == stats.prompt_tokens + stats.completion_tokens

    user, reply = engine.store.messages(conv.id)
    assert (user.role, user.content) == ("user", "What is the capital of France?")
    assert reply.role == "assistant" and reply.id == final.message_id
    assert reply.content == final.text
    assert reply.model == MODEL_NAME
    assert (reply.prompt_tokens, reply.completion_tokens) == (
        stats.prompt_tokens,
        stats.completion_tokens,
    )
    assert reply.ttft_s == pytest.approx(stats.ttft_s)
    assert reply.tokens_per_s == pytest.approx(stats.tokens_per_s)
    assert reply.finish_reason == stats.finish_reason and reply.stopped is False
    assert not engine.generating


async def test_the_model_starts_on_the_prompt_while_the_event_loop_is_busy(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat screen draws the user's message while the reply's first step runs
    (bridge.Started). That step hands the prompt to the model's thread without waiting
    for the event loop again, so the model reads the prompt while the loop draws."""
    from genai_tui.engine.chat.local import LocalChatModel
    from genai_tui.engine.core.bridge import Started

    reading = threading.Event()
    real = LocalChatModel._generate

    def generate(self: LocalChatModel, *args: object) -> object:
        reading.set()
        return real(self, *args)

    monkeypatch.setattr(LocalChatModel, "_generate", generate)
    conv = engine.new_conversation()
    events = Started(engine.chat(conv.id, "Say hi."))
    await asyncio.sleep(0)  # the screen's first await: the reply's first step runs
    assert reading.wait(10), "the model waited for the event loop before starting"
    assert answer(await run(events))  # the loop blocked meanwhile, as a long frame does


async def test_greedy_replies_are_deterministic(engine: Engine) -> None:
    # Same cache state before each run (see test_llm_local.test_greedy_is_deterministic).
    warmup = engine.new_conversation()
    engine.store.update_conversation(warmup.id, params={"max_tokens": 2})
    texts = []
    for _ in range(2):
        await run(engine.regenerate(warmup.id) if texts else engine.chat(warmup.id, "Hello"))
        conv = engine.new_conversation()
        texts.append(done(await run(engine.chat(conv.id, "Name three colors."))).text)
    assert texts[0] == texts[1] != ""


async def test_history_is_sent_with_each_turn(engine: Engine) -> None:
    conv = engine.new_conversation()
    first = done(await run(engine.chat(conv.id, "My name is Ada."))).stats
    second = done(await run(engine.chat(conv.id, "What is my name?"))).stats
    assert second.prompt_tokens > first.prompt_tokens + first.completion_tokens
    assert [m.role for m in engine.store.messages(conv.id)] == [
        "user", "assistant", "user", "assistant",
    ]  # fmt: skip
    assert engine.store.conversation(conv.id).title == "My name is Ada."  # first message


async def test_system_prompt_reaches_the_model(engine: Engine) -> None:
    plain = engine.new_conversation(system_prompt="")
    briefed = engine.new_conversation(system_prompt="Always answer in French. " * 20)
    a = done(await run(engine.chat(plain.id, "Hi"))).stats
    b = done(await run(engine.chat(briefed.id, "Hi"))).stats
    assert b.prompt_tokens > a.prompt_tokens + 60
    # the system prompt belongs to the conversation, not its messages
    assert [m.role for m in engine.store.messages(briefed.id)] == ["user", "assistant"]


async def test_new_conversation_takes_the_configured_system_prompt(engine: Engine) -> None:
    engine.settings.system_prompt = "You are a pirate."
    try:
        assert engine.new_conversation().system_prompt == "You are a pirate."
        assert engine.new_conversation(system_prompt="").system_prompt == ""
    finally:
        engine.settings.system_prompt = ""


async def test_conversation_params_override_settings(engine: Engine) -> None:
    conv = engine.new_conversation()
    engine.store.update_conversation(conv.id, params={"max_tokens": 3})
    stats = done(await run(engine.chat(conv.id, "Tell me a long story."))).stats
    assert stats.finish_reason == "length" and stats.completion_tokens == 3


# -- stop, abandon, regenerate, edit ----------------------------------------------------------


async def test_stop_mid_stream(engine: Engine) -> None:
    conv = engine.new_conversation()
    engine.store.update_conversation(conv.id, params={"max_tokens": 200})
    before, after = [], []
    final = None
    async for event in engine.chat(conv.id, "Write a long story about a dragon."):
        if isinstance(event, TokenDelta):
            (after if len(before) >= 3 else before).append(event.text)
            if len(before) == 3 and not after:
                engine.stop()
        elif isinstance(event, ChatDone):
            final = event
    assert final is not None
    assert len(after) <= 1  # stops within one token
    assert final.text == "".join(before + after)  # the partial reply is kept
    assert final.stats.stopped and final.stats.finish_reason == "cancelled"
    assert final.stats.completion_tokens < 10
    saved = engine.store.messages(conv.id)[-1]
    assert saved.role == "assistant" and saved.content == final.text
    assert saved.stopped is True and saved.finish_reason == "cancelled"

    # the model is still usable, and the stop does not leak into the next reply
    engine.store.update_conversation(conv.id, params={})
    again = done(await run(engine.chat(conv.id, "Thanks. Say bye.")))
    assert not again.stats.stopped and again.text


async def test_abandoned_reply_keeps_the_partial_text(engine: Engine) -> None:
    """The UI cancels its worker (e.g. the app quits): what came so far is saved."""
    conv = engine.new_conversation()
    engine.store.update_conversation(conv.id, params={"max_tokens": 200})
    agen = engine.chat(conv.id, "Count from one to one hundred in words.")
    seen = []
    async for event in agen:
        if isinstance(event, TokenDelta):
            seen.append(event.text)
            if len(seen) == 3:
                break
    await agen.aclose()
    assert not engine.generating
    saved = engine.store.messages(conv.id)[-1]
    assert saved.role == "assistant" and saved.stopped
    assert saved.content == "".join(seen)
    engine.store.update_conversation(conv.id, params={})
    assert done(await run(engine.chat(conv.id, "Go on."))).text


async def test_one_reply_at_a_time(engine: Engine) -> None:
    conv = engine.new_conversation()
    other = engine.new_conversation()
    agen = engine.chat(conv.id, "Tell me about whales.")
    first = await agen.__anext__()
    assert engine.generating and isinstance(first, TokenDelta | ModelLoading)
    for attempt in (
        engine.chat(conv.id, "interrupting"),
        engine.chat(other.id, "elsewhere"),
        engine.regenerate(conv.id),
        engine.edit_last(conv.id, "changed my mind"),
    ):
        with pytest.raises(GenaiError, match="already being generated"):
            await attempt.__anext__()
    rest = [first] + [e async for e in agen]
    assert done(rest).text
    # nothing was added or deleted by the refused calls
    assert [(m.role, m.content[:12]) for m in engine.store.messages(conv.id)] == [
        ("user", "Tell me abou"),
        ("assistant", done(rest).text[:12]),
    ]
    assert engine.store.messages(other.id) == []


async def test_regenerate_shows_a_new_reply_and_keeps_the_old_one(engine: Engine) -> None:
    conv = engine.new_conversation()
    await run(engine.chat(conv.id, "Give me a fruit."))
    _, old = engine.store.messages(conv.id)
    events = await run(engine.regenerate(conv.id))
    new = done(events)
    messages = engine.store.messages(conv.id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].id == new.message_id
    assert messages[1].created_at > old.created_at  # a new row (SQLite may reuse the id)
    assert messages[1].content == new.text
    assert old.id in {m.id for m in engine.store.message_tree(conv.id)}  # a branch, a step away


async def test_regenerate_after_a_stopped_reply(engine: Engine) -> None:
    conv = engine.new_conversation()
    engine.store.update_conversation(conv.id, params={"max_tokens": 4})
    await run(engine.chat(conv.id, "Say something."))
    engine.store.update_conversation(conv.id, params={"max_tokens": 8})
    await run(engine.regenerate(conv.id))
    messages = engine.store.messages(conv.id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].completion_tokens and messages[1].completion_tokens > 4


async def test_regenerate_with_nothing_to_answer(engine: Engine) -> None:
    conv = engine.new_conversation()
    with pytest.raises(GenaiError, match="no message to answer"):
        await run(engine.regenerate(conv.id))


async def test_edit_last_replaces_the_last_question(engine: Engine) -> None:
    conv = engine.new_conversation()
    await run(engine.chat(conv.id, "First question?"))
    await run(engine.chat(conv.id, "Secnod qestion wiht typos?"))
    assert engine.last_user_message(conv.id) == "Secnod qestion wiht typos?"
    final = done(await run(engine.edit_last(conv.id, "Second question?")))
    messages = engine.store.messages(conv.id)
    assert [(m.role, m.content) for m in messages[:3]] == [
        ("user", "First question?"),
        ("assistant", messages[1].content),
        ("user", "Second question?"),
    ]
    assert len(messages) == 4 and messages[3].id == final.message_id
    assert engine.last_user_message(conv.id) == "Second question?"


# -- context -----------------------------------------------------------------------------


def fill(engine: Engine, conv_id: int, turns: int) -> None:
    for i in range(turns):
        engine.store.add_message(conv_id, "user", f"Question {i}: " + "tell me more " * 10)
        engine.store.add_message(conv_id, "assistant", f"Answer {i}: " + "here is more " * 10)


async def test_long_conversation_is_trimmed_not_deleted(small_engine: Engine) -> None:
    conv = small_engine.new_conversation(system_prompt="You are terse.")
    fill(small_engine, conv.id, 6)
    events = await run(small_engine.chat(conv.id, "Hi"))
    trims = [e for e in events if isinstance(e, ContextTrimmed)]
    assert len(trims) == 1
    trim = trims[0]
    assert trim.context_size == 256
    assert trim.dropped_messages >= 2 and trim.dropped_messages % 2 == 0
    assert trim.prompt_tokens <= 256 - 24
    first_token = next(i for i, e in enumerate(events) if isinstance(e, TokenDelta))
    assert events.index(trim) < first_token  # announced before the reply
    final = done(events)
    assert final.stats.prompt_tokens == trim.prompt_tokens
    assert final.text and final.stats.context_used <= 256
    # the stored conversation is whole: trimming only shortens what the model sees
    assert len(small_engine.store.messages(conv.id)) == 6 * 2 + 2


async def test_system_prompt_survives_trimming(small_engine: Engine) -> None:
    system = "You are a helpful assistant who answers in one sentence. " * 3
    conv = small_engine.new_conversation(system_prompt=system)
    fill(small_engine, conv.id, 6)
    events = await run(small_engine.chat(conv.id, "Hi"))
    trim = next(e for e in events if isinstance(e, ContextTrimmed))
    assert small_engine.model is not None
    history = [{"role": m.role, "content": m.content} for m in small_engine.store.messages(conv.id)]
    sent = history[trim.dropped_messages : -1]  # without the new reply
    # the prompt the model got was exactly: the system prompt + the newest turns
    with_system = [{"role": "system", "content": system}, *sent]
    assert trim.prompt_tokens == (await small_engine.model.count_prompt(with_system))[0]
    assert trim.prompt_tokens != (await small_engine.model.count_prompt(sent))[0]
    assert sent[0]["role"] == "user" and sent[-1] == {"role": "user", "content": "Hi"}


async def test_message_bigger_than_the_context(small_engine: Engine) -> None:
    conv = small_engine.new_conversation()
    with pytest.raises(ContextOverflowError) as err:
        await run(small_engine.chat(conv.id, "word " * 400))
    assert "256" in str(err.value)
    assert not small_engine.generating
    # what the user typed is kept, and the conversation goes on
    assert small_engine.store.messages(conv.id)[0].content.startswith("word word")
    events = await run(small_engine.chat(conv.id, "Sorry, just say hi."))
    assert any(isinstance(e, ContextTrimmed) for e in events)
    assert done(events).text


# -- models ------------------------------------------------------------------------------


async def test_load_model_twice_is_a_no_op(engine: Engine) -> None:
    model = engine.model
    assert (await engine.load_model(MODEL_NAME)) is engine.last_loaded
    assert engine.model is model


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("missing", ModelNotFoundError),
        ("not_gguf", NotGGUFError),
        ("truncated_header", TruncatedModelError),
        ("truncated_data", TruncatedModelError),
    ],
)
async def test_bad_file_keeps_the_loaded_model(
    engine: Engine, request: pytest.FixtureRequest, tmp_path: Path, bad: str, error: type
) -> None:
    path = tmp_path / "missing.gguf" if bad == "missing" else request.getfixturevalue(bad)
    await engine.load_model(MODEL_NAME)
    loaded = engine.model
    with pytest.raises(error) as err:
        await engine.load_model(str(path))
    assert str(path.name) in str(err.value)
    assert engine.model is loaded and loaded is not None and loaded.loaded
    conv = engine.new_conversation(MODEL_NAME)
    events = await run(engine.chat(conv.id, "Hi"))
    assert not any(isinstance(e, ModelLoading) for e in events)
    assert done(events).text


async def test_unsupported_architecture_then_the_good_model(
    engine: Engine, unknown_arch: Path
) -> None:
    await engine.load_model(MODEL_NAME)
    with pytest.raises(UnsupportedArchitectureError) as err:
        await engine.load_model(str(unknown_arch))
    assert "future-model.gguf" in str(err.value) and "'notarealarch'" in str(err.value)
    assert engine.model is None  # the old model made room for the new one
    conv = engine.new_conversation(MODEL_NAME)
    events = await run(engine.chat(conv.id, "Hi"))
    assert isinstance(events[0], ModelLoading) and events[0].name == MODEL_NAME
    assert done(events).text


async def test_too_large_for_memory_then_a_smaller_context(
    tmp_path: Path, smollm_file: Path
) -> None:
    import llama_cpp
    import psutil

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("the host-memory check applies to CPU builds")
    huge = psutil.virtual_memory().available // (30 * 3 * 128 * 2) * 2
    engine = make_engine(tmp_path, smollm_file, context_length=huge)
    try:
        conv = engine.new_conversation()
        with pytest.raises(ModelTooLargeError) as err:
            await run(engine.chat(conv.id, "Hi"))
        assert "GiB" in str(err.value) and MODEL_NAME in str(err.value)
        assert not engine.generating and engine.model is None
        engine.settings.generation.context_length = 512  # the fix the hint suggests
        assert done(await run(engine.regenerate(conv.id))).text
        assert engine.model is not None and engine.model.context_size == 512
    finally:
        await engine.aclose()


async def test_default_model_choice(settings: Settings, models_dir: Path, write_gguf) -> None:
    write_gguf("zz-other.gguf").rename(models_dir / "zz-other.gguf")
    engine = Engine(settings)
    try:
        names = [m.name for m in engine.chat_models()]
        assert names[:2] == [MODEL_NAME, "zz-other.gguf"]
        first = engine.default_model()
        assert first is not None and first.name == MODEL_NAME  # the first one found
        engine.new_conversation("zz-other.gguf")  # the newest conversation's model wins
        assert engine.default_model().name == "zz-other.gguf"  # type: ignore[union-attr]
        engine.settings.default_model = MODEL_NAME  # the configured default wins over both
        assert engine.default_model().name == MODEL_NAME  # type: ignore[union-attr]
        engine.settings.default_model = "no-such-model"  # unusable: fall back
        assert engine.default_model().name == "zz-other.gguf"  # type: ignore[union-attr]
    finally:
        await engine.aclose()


async def test_export(engine: Engine) -> None:
    conv = engine.new_conversation(system_prompt="Be kind.")
    final = done(await run(engine.chat(conv.id, "Say hello.")))
    md, js = engine.export(conv.id)
    text = md.read_text()
    assert text.startswith("# Say hello.")
    assert "## System\n\nBe kind." in text and "## User\n\nSay hello." in text
    assert final.text in text
    data = json.loads(js.read_text())
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["content"] == final.text
    assert md.parent == engine.settings.exports_dir


def test_title_from() -> None:
    assert title_from("\n\n  Fix my code  \nplease") == "Fix my code"
    assert title_from("   ") == DEFAULT_TITLE
    long = title_from("x" * 100)
    assert len(long) == 60 and long.endswith("…")


def test_no_thinking_events_from_a_plain_model(engine: Engine) -> None:
    # SmolLM2 does not think; guard that the splitter does not invent reasoning
    async def go() -> list[ChatEvent]:
        conv = engine.new_conversation()
        return await run(engine.chat(conv.id, "What is 2+2?"))

    events = asyncio.run(go())
    assert not any(isinstance(e, ThinkingDelta) for e in events)
    assert done(events).thinking == ""


# -- conversation operations (what the screens call instead of the store) ------------------


async def test_conversation_operations_on_the_facade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = Engine(module_settings(tmp_path))
    try:
        cats = eng.new_conversation("local.gguf", "Be brief.")
        dogs = eng.new_conversation()
        eng.store.add_message(cats.id, "user", "tell me about cats")
        eng.store.add_message(cats.id, "assistant", "Cats purr.", completion_tokens=3,
                              prompt_tokens=5, model="local.gguf")  # fmt: skip
        eng.store.add_message(dogs.id, "user", "and dogs?")

        assert eng.rename(cats.id, "Feline facts").title == "Feline facts"
        assert eng.move_to_project(cats.id, "pets").project == "pets"
        assert eng.projects() == ["pets"]
        assert eng.move_to_project(cats.id, "").project is None
        assert eng.set_system_prompt(cats.id, "Be kind.").system_prompt == "Be kind."
        remote = eng.set_model(cats.id, "gpt-x", "openai")
        assert (remote.provider, remote.model) == ("openai", "gpt-x")
        local = eng.set_model(cats.id, "local.gguf")
        assert (local.provider, local.model) == ("", "local.gguf")

        assert [c.id for c in eng.conversations("purr")] == [cats.id]  # message text too
        assert {c.id for c in eng.conversations()} == {cats.id, dogs.id}
        assert eng.conversation(cats.id).title == "Feline facts"
        assert [m.role for m in eng.messages(cats.id)] == ["user", "assistant"]
        assert eng.last_user_message(cats.id) == "tell me about cats"

        eng.save_system_prompt("pirate", "Arr.")
        eng.save_system_prompt("terse", "Short answers.")
        assert [p.name for p in eng.system_prompts()] == ["pirate", "terse"]
        eng.delete_system_prompt("pirate")
        assert [p.name for p in eng.system_prompts()] == ["terse"]

        eng.delete_conversation(dogs.id)
        assert [c.id for c in eng.conversations()] == [cats.id]

        # Usage is read on a worker thread, not on the event loop.
        from genai_tui.engine.chat import usage as usage_module

        threads: list[str] = []
        real = usage_module.usage_overview

        def overview(*args):
            threads.append(threading.current_thread().name)
            return real(*args)

        monkeypatch.setattr(usage_module, "usage_overview", overview)
        report = await eng.usage(days=7)
        assert threads and threads[0] != threading.main_thread().name
        assert (report.totals.replies, report.totals.tokens) == (1, 8)
        assert [(r.model, r.replies) for r in report.models] == [("local.gguf", 1)]
        assert len(report.per_day) == 7
    finally:
        await eng.aclose()
