"""Settings edited in the app, with the real SmolLM2 GGUF: `[generation]` saved back to the
config file (its comments and other keys kept), and each model's own settings
(`[models."NAME"]`): checked with the file's words, kept across a restart, applied on the
next load, and a KV-cache change reloading the model through residency."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from genai_tui.config import load_settings
from genai_tui.config_write import save_generation
from genai_tui.engine.core.errors import ConfigError
from genai_tui.engine.engine import Engine

NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"  # its name in the models dir

CONFIG = """\
theme = "nord"            # my theme

[generation]
temperature = 0.0        # greedy for tests
max_tokens = 24
context_length = 2048    # small and quick
seed = 1

[gpu]
reserve_mb = 256
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def start(config: Path, tmp_path: Path) -> Engine:
    """A fresh start on the same file: new Settings, new Engine."""
    settings = load_settings(config, data_dir=tmp_path / "data", models_dir=tmp_path / "models")
    return Engine(settings)


@pytest.fixture
async def engine(config: Path, tmp_path: Path, smollm_file: Path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / smollm_file.name).hardlink_to(smollm_file)
    engine = start(config, tmp_path)
    yield engine
    await engine.aclose()


def test_generation_defaults_are_saved_keeping_comments_and_other_keys(engine, config):
    path = save_generation(engine.settings, {"temperature": "0.3", "top_k": "12"})
    assert path == config
    text = config.read_text()
    assert 'theme = "nord"            # my theme' in text
    assert "temperature = 0.3        # greedy for tests" in text
    assert "context_length = 2048    # small and quick" in text
    data = tomllib.loads(text)
    assert data["generation"]["top_k"] == 12 and data["gpu"] == {"reserve_mb": 256}
    # The running engine uses the new defaults at once.
    assert engine.settings.generation.temperature == 0.3
    assert engine.sampling.defaults()["top_k"] == 12


def test_a_bad_generation_value_is_refused_with_the_config_files_words(engine, config):
    before = config.read_text()
    with pytest.raises(ConfigError) as refused:
        save_generation(engine.settings, {"temperature": "9", "top_k": "12"})
    config.write_text(before.replace("temperature = 0.0", "temperature = 9"))
    with pytest.raises(ConfigError) as at_start:
        load_settings(config)
    rule = f"'generation.temperature' in {config}: Input should be less than or equal to 5"
    assert rule in refused.value.message and rule in at_start.value.message
    assert refused.value.keys == ("temperature",)
    config.write_text(before)
    assert engine.settings.generation.temperature == 0.0  # nothing changed
    assert engine.settings.generation.top_k == 40


async def test_a_kv_cache_change_reloads_the_model_and_its_memory_shrinks(engine, config):
    loaded = await engine.load_model(NAME)
    key = loaded.name
    f16_kv = engine.model.kv_cache_bytes
    f16_estimate = engine.residency.get(key).estimate_bytes
    assert f16_kv == 45 * 2**20  # 2048 cells x 30 layers, f16 (llama.cpp's own figure)

    with pytest.raises(ConfigError) as refused:  # llama.cpp needs flash attention for it
        await engine.model_settings.apply(engine, key, {"kv_cache": "q8_0"})
    assert f"'models.{key}' in {config}" in refused.value.message
    assert "needs flash_attn = true" in refused.value.message
    assert "models" not in tomllib.loads(config.read_text())

    estimate = await engine.model_settings.estimate(
        engine.resolve_model(key), {"kv_cache": "q8_0", "flash_attn": True}
    )
    assert estimate < f16_estimate  # shown before it applies
    applied = await engine.model_settings.apply(
        engine, key, {"kv_cache": "q8_0", "flash_attn": True}
    )
    assert applied.reloaded is not None and applied.before_bytes == f16_estimate
    assert applied.after_bytes == estimate
    assert engine.model.kv_cache == "q8_0" and engine.model.loaded
    assert engine.model.kv_cache_bytes < f16_kv * 0.6  # q8_0: 34 bytes per 32 values
    assert engine.residency.get(key).estimate_bytes == estimate
    table = tomllib.loads(config.read_text())["models"][key]
    assert table == {"kv_cache": "q8_0", "flash_attn": True}
    assert "temperature = 0.0        # greedy for tests" in config.read_text()


async def test_model_settings_persist_and_apply_on_the_next_load(engine, config, tmp_path):
    key = engine.resolve_model(NAME).name
    engine.model_settings.save(key, {"context_length": "1024", "kv_cache": "q4_0",
                                     "flash_attn": True, "chat_template": "chatml",
                                     "preset": "precise"})  # fmt: skip
    await engine.aclose()

    again = start(config, tmp_path)  # a restart: the same file, new Settings and Engine
    try:
        assert again.model_settings.own(key) == {"context_length": 1024, "kv_cache": "q4_0",
                                                 "flash_attn": True, "chat_template": "chatml",
                                                 "preset": "precise"}  # fmt: skip
        assert again.model_settings.preset(key) == "precise"
        loaded = await again.load_model(key)
        assert loaded.context_size == 1024  # the model's context size
        assert again.model.kv_cache == "q4_0" and again.model.flash_attn
        assert again.model.kv_cache_bytes < 45 * 2**20 * 0.5 / 2  # 1024 cells, q4_0
        reply = [e async for e in again.chat(again.new_conversation(key).id, "Hi")]
        assert reply  # it answers through the chatml format

        # A context-length change of the loaded model shows in its context size.
        applied = await again.model_settings.apply(again, key, {"context_length": "512"})
        assert applied.reloaded is not None and applied.reloaded.context_size == 512
        assert again.model.context_size == 512
        again.model_settings.clear(key)
        assert "models" not in tomllib.loads(config.read_text())
    finally:
        await again.aclose()


def test_refusals_name_the_key_and_change_nothing(engine, config):
    key = engine.resolve_model(NAME).name
    before = config.read_text()
    cases = {
        "gpu_layers": ({"gpu_layers": "-2"}, "greater than or equal to -1"),
        "kv_cache": ({"kv_cache": "q5_1"}, "Input should be 'f16', 'q8_0' or 'q4_0'"),
        "chat_template": ({"chat_template": "no-such-format"}, "is not a chat format"),
        "preset": ({"preset": "nope"}, "there is no preset named 'nope'"),
    }
    for bad_key, (values, words) in cases.items():
        with pytest.raises(ConfigError) as refused:
            engine.model_settings.save(key, values)
        assert words in refused.value.message and refused.value.keys == (bad_key,)
    assert config.read_text() == before and engine.settings.models == {}


def test_a_remote_model_takes_only_a_preset(engine, config):
    from genai_tui.config import ProviderSettings

    engine.settings.providers = [ProviderSettings(name="vllm", base_url="http://h:1/v1")]
    key = engine.model_settings.key("meta/llama 3", provider="vllm")
    with pytest.raises(ConfigError) as refused:
        engine.model_settings.save(key, {"context_length": "1024"})
    assert "only preset applies to a remote model" in refused.value.message
    engine.model_settings.save(key, {"preset": "creative"})
    assert tomllib.loads(config.read_text())["models"][key] == {"preset": "creative"}


def test_a_models_preset_is_where_its_chats_start_and_a_chats_own_values_win(engine, config):
    """[models."NAME"] preset = "precise": that model's chats sample with it (temperature
    0.2, top-p 0.9 instead of the file's 0.0 and 0.95); a chat's own value still wins; a
    chat with another model keeps [generation]; it holds after a restart."""
    engine.model_settings.save("SmolLM2", {"preset": "precise"})
    precise = engine.store.conversation(engine.new_conversation("SmolLM2").id)
    other = engine.store.conversation(engine.new_conversation("another-model").id)
    params = engine.sampling.params_for(precise)
    assert (params.temperature, params.top_p) == (0.2, 0.9)
    assert engine.sampling.describe(precise.id) == "temp 0.2 · top-p 0.9"
    assert engine.sampling.params_for(other).temperature == 0.0
    engine.sampling.update(precise.id, {"temperature": 0.5})
    assert engine.sampling.params_for(engine.store.conversation(precise.id)).temperature == 0.5
    assert engine.sampling.changes(precise.id)["top_p"] == 0.9
    again = start(config, config.parent)
    try:
        conv = again.store.conversation(precise.id)
        assert (again.sampling.params_for(conv).temperature,
                again.sampling.params_for(conv).top_p) == (0.5, 0.9)  # fmt: skip
    finally:
        again.store.close()


def test_the_device_is_checked_against_this_boxs_gpus(engine, config, monkeypatch):
    from fake_nvml import four_gpus

    four_gpus().install(monkeypatch.setattr)
    key = engine.resolve_model(NAME).name
    with pytest.raises(ConfigError) as refused:
        engine.model_settings.save(key, {"device": "7"})
    said = refused.value.message
    assert "there is no GPU 7" in said and "GPU3 (NVIDIA T4)" in said
    assert refused.value.keys == ("device",)
    with pytest.raises(ConfigError) as refused:
        engine.model_settings.save(key, {"device": "gpu1"})
    assert "auto, a GPU index" in refused.value.message and refused.value.keys == ("device",)
    with pytest.raises(ConfigError):
        engine.model_settings.save(key, {"device": "split:1,1,1,1,1"})  # five shares, four GPUs
    assert "models" not in tomllib.loads(config.read_text())
    for value, kept in (("2", "2"), ("split", "split"), ("3, 1", "split:3,1"), ("auto", "auto")):
        engine.model_settings.save(key, {"device": value})
        assert tomllib.loads(config.read_text())["models"][key] == {"device": kept}


async def test_a_model_with_a_gpu_device_still_loads_on_the_cpu(engine, config, monkeypatch):
    from genai_tui.engine.chat.local import gpu_offload_supported

    if gpu_offload_supported():
        pytest.skip("this llama.cpp offloads to a GPU: the fake GPU 1 is not there")
    """This llama.cpp has no GPU offload: the device setting is kept but the model loads
    (and answers) on the CPU."""
    from fake_nvml import four_gpus

    four_gpus().install(monkeypatch.setattr)
    key = engine.resolve_model(NAME).name
    engine.model_settings.save(key, {"device": "1"})
    loaded = await engine.load_model(key)
    assert not loaded.on_gpu and engine.model.device == "1"
    assert engine.residency.get(key).where == "CPU"
    reply = [e async for e in engine.chat(engine.new_conversation(key).id, "Hi")]
    assert reply
