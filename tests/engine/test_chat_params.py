"""Each chat's own generation settings and the named presets, with the real SmolLM2 model
and a real loopback OpenAI-compatible server: deterministic replies, stop strings, JSON
mode, the config file's messages for bad values, presets that survive a restart."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from openai_faults import FaultServer

from genai_tui.config import load_settings
from genai_tui.engine.chat.sampling import ParamsError, format_stops, parse_stops
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import ChatDone
from genai_tui.engine.engine import Engine

MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Name three colours of the rainbow."


@pytest.fixture(scope="module")
def engine(smollm_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2 loaded, with defaults that sample (temperature 0.9, a random seed): only a
    chat's own values make its replies repeatable."""
    folder = tmp_path_factory.mktemp("params")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("GENAI_TUI_"):
                mp.delenv(name)
        settings = load_settings(
            folder / "config.toml", data_dir=folder / "data", models_dir=folder / "models",
            generation={"temperature": 0.9, "seed": -1, "max_tokens": 32, "context_length": 2048},
        )  # fmt: skip
    settings.models_path.mkdir(parents=True)
    os.link(smollm_file, settings.models_path / MODEL_NAME)
    eng = Engine(settings)
    asyncio.run(eng.load_model(MODEL_NAME))
    yield eng
    asyncio.run(eng.aclose())


async def reply(engine: Engine, conv_id: int, prompt: str = PROMPT) -> ChatDone:
    events = [e async for e in engine.chat(conv_id, prompt)]
    return next(e for e in events if isinstance(e, ChatDone))


async def test_temperature_zero_and_a_seed_repeat_the_reply_and_a_stop_string_cuts_it(engine):
    first = engine.new_conversation()
    engine.sampling.set(first.id, {"temperature": 0, "seed": 7})
    second = engine.new_conversation()
    engine.sampling.set(second.id, {"temperature": "0", "seed": "7"})  # as the form types them
    a, b = await reply(engine, first.id), await reply(engine, second.id)
    assert a.text == b.text and len(a.text) > 20

    # A word from the middle of that reply: with it as a stop string the reply ends
    # just before it, and says it stopped there rather than at max tokens.
    words = a.text.split()
    cut = next(w for w in words[3:] if len(w) > 3)
    third = engine.new_conversation()
    engine.sampling.set(third.id, {"temperature": 0, "seed": 7, "stop": [cut]})
    c = await reply(engine, third.id)
    assert cut not in c.text
    assert c.text == a.text[: a.text.index(cut)].rstrip() or c.text == a.text[: a.text.index(cut)]
    assert c.stats.finish_reason == "stop" and a.stats.finish_reason == "length"
    assert engine.sampling.describe(third.id) == "temp 0 · seed 7 · stop 1"


async def test_json_mode_reply_parses_as_json(engine):
    conv = engine.new_conversation()
    engine.sampling.set(conv.id, {"json_mode": True, "temperature": 0, "max_tokens": 160})
    done = await reply(engine, conv.id, "Describe a cat as JSON with its name and age.")
    assert isinstance(json.loads(done.text), dict)
    assert engine.sampling.describe(conv.id) == "temp 0 · max 160 · json"


async def test_bad_values_are_refused_with_the_config_files_message(engine):
    conv = engine.new_conversation()
    engine.sampling.set(conv.id, {"temperature": 0.3})
    with pytest.raises(ParamsError) as err:
        engine.sampling.set(conv.id, {"temperature": 9, "top_k": "many"})
    # The config file's rule and wording (GenerationSettings: le=5)
    assert "temperature: Input should be less than or equal to 5 (got 9)" in err.value.message
    assert "top-k: Input should be a valid integer" in err.value.message
    assert err.value.keys == ("temperature", "top_k")
    assert "default" in err.value.hint
    with pytest.raises(ParamsError, match="at most 4 items"):
        engine.sampling.set(conv.id, {"stop": ["a", "b", "c", "d", "e"]})
    with pytest.raises(ParamsError, match="min-p: Input should be less than or equal to 1"):
        engine.sampling.set(conv.id, {"min_p": 2})
    # Nothing changed: the chat keeps its settings.
    assert engine.sampling.changes(conv.id) == {"temperature": 0.3}


async def test_only_differences_are_kept_and_clear_restores_the_defaults(engine):
    conv = engine.new_conversation()
    defaults = engine.sampling.defaults()
    engine.sampling.set(conv.id, defaults | {"top_p": 0.5})
    assert engine.conversation(conv.id).params == {"top_p": 0.5}
    engine.sampling.update(conv.id, {"stop": ["###"], "top_p": None})
    assert engine.sampling.changes(conv.id) == {"stop": ["###"]}
    assert engine.params_for(engine.conversation(conv.id)).stop == ("###",)
    engine.sampling.clear(conv.id)
    assert engine.sampling.changes(conv.id) == {} and engine.sampling.describe(conv.id) == ""
    assert engine.sampling.values(conv.id) == defaults


def test_presets_round_trip_through_the_store(make_settings):
    settings = make_settings()
    engine = Engine(settings)
    names = [p.name for p in engine.sampling.presets()]
    assert {"precise", "creative", "deterministic", "json"} <= set(names)
    conv = engine.new_conversation()
    engine.sampling.set(conv.id, {"temperature": 0.15, "stop": ["\n\n", "User:"], "seed": 3})
    engine.sampling.save_chat_as_preset(conv.id, "  terse  ")
    other = engine.new_conversation()
    engine.sampling.apply_preset(other.id, "precise")
    assert engine.sampling.values(other.id)["temperature"] == 0.2
    asyncio.run(engine.aclose())

    reopened = Engine(settings)  # the same database, opened again
    try:
        saved = reopened.sampling.preset("terse")
        assert not saved.builtin
        assert saved.params["stop"] == ["\n\n", "User:"] and saved.params["temperature"] == 0.15
        assert reopened.sampling.changes(other.id)["temperature"] == 0.2  # the chat kept it
        fresh = reopened.new_conversation()
        reopened.sampling.apply_preset(fresh.id, "terse")
        assert reopened.sampling.changes(fresh.id) == {
            "temperature": 0.15, "seed": 3, "stop": ["\n\n", "User:"]}  # fmt: skip
        with pytest.raises(GenaiError, match="built-in preset"):
            reopened.sampling.delete_preset("precise")
        with pytest.raises(ParamsError, match="built-in preset"):
            reopened.sampling.save_preset("creative", {"temperature": 0.1})
        with pytest.raises(ParamsError, match="needs a name"):
            reopened.sampling.save_preset("  ", {})
        reopened.sampling.delete_preset("terse")
        with pytest.raises(GenaiError, match="no preset named 'terse'.*precise"):
            reopened.sampling.apply_preset(fresh.id, "terse")
    finally:
        asyncio.run(reopened.aclose())


def test_stop_strings_on_one_line_read_back_exactly():
    stops = ["\n\n", "User:", " x ", ",", "a\\b"]
    assert parse_stops(format_stops(stops)) == stops
    assert parse_stops("###,  END , ,") == ["###", "END"]


async def test_remote_request_carries_the_chats_sampling_and_response_format(make_settings):
    with FaultServer() as server:
        settings = make_settings(providers=[{"name": "faulty", "base_url": server.url}])
        engine = Engine(settings)
        try:
            conv = engine.new_conversation("fault-model", provider="faulty")
            engine.sampling.set(conv.id, {"temperature": 0.2, "top_p": 0.8, "top_k": 12,
                                          "min_p": 0.1, "seed": 5, "max_tokens": 99,
                                          "stop": ["END"], "json_mode": True})  # fmt: skip
            done = await reply(engine, conv.id, "Hi")
            assert done.text
            plain = engine.new_conversation("fault-model", provider="faulty")
            await reply(engine, plain.id, "Hi")
        finally:
            await engine.aclose()
    body, default_body = (r["body"] for r in server.chat_requests())
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.2 and body["top_p"] == 0.8 and body["max_tokens"] == 99
    assert body["seed"] == 5 and body["stop"] == ["END"]
    assert body["top_k"] == 12 and body["min_p"] == 0.1  # set by the chat: sent
    assert "repeat_penalty" not in body  # left at the default: not sent
    # A chat that sets nothing sends only what the OpenAI API knows.
    assert not {"response_format", "stop", "top_k", "min_p", "repeat_penalty", "seed"} & set(
        default_body
    )


async def test_json_mode_and_a_stop_string_through_llama_cpps_own_server(make_settings,
                                                                        llama_server):
    """The real OpenAI-compatible server (python -m llama_cpp.server) honours what we send:
    `response_format` json_object gives JSON, `stop` ends the reply."""
    settings = make_settings(providers=[{"name": "llamacpp", "base_url": llama_server}],
                             generation={"temperature": 0.0, "max_tokens": 160, "seed": 1})
    engine = Engine(settings)
    try:
        conv = engine.new_conversation("smollm2", provider="llamacpp")
        engine.sampling.set(conv.id, {"json_mode": True})
        done = await reply(engine, conv.id, "Describe a cat as JSON with its name and age.")
        assert isinstance(json.loads(done.text), dict)

        plain = engine.new_conversation("smollm2", provider="llamacpp")
        engine.sampling.set(plain.id, {"max_tokens": 32})
        full = await reply(engine, plain.id)
        cut = next(w for w in full.text.split()[3:] if len(w) > 3)
        stopped = engine.new_conversation("smollm2", provider="llamacpp")
        engine.sampling.set(stopped.id, {"max_tokens": 32, "stop": [cut]})
        short = await reply(engine, stopped.id)
        assert cut not in short.text and full.text.startswith(short.text.rstrip())
        assert short.stats.finish_reason == "stop"
    finally:
        await engine.aclose()


async def test_the_chats_stop_strings_and_json_mode_stay_out_of_the_create_flows(make_settings):
    """The prompt writer (and /imagine's plans) write in their own shape: a chat's stop
    strings and JSON mode are for its replies only; its temperature still counts."""
    with FaultServer() as server:
        server.replies = ["a lighthouse at dusk, oil painting\nNegative prompt: blurry"]
        settings = make_settings(providers=[{"name": "faulty", "base_url": server.url}])
        engine = Engine(settings)
        try:
            conv = engine.new_conversation("fault-model", provider="faulty")
            engine.sampling.set(conv.id, {"stop": ["\n"], "json_mode": True, "temperature": 0.4})
            [e async for e in engine.create.write_prompt("a lighthouse")]
        finally:
            await engine.aclose()
    body = server.chat_requests()[-1]["body"]
    assert "stop" not in body and "response_format" not in body
    assert body["temperature"] == 0.4
