"""Settings (F7): the Generation tab (the config file's [generation] in a form) and the
Models tab (each model's own settings), with the real SmolLM2 GGUF."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, Static, TabbedContent

from genai_tui.app import GenaiApp
from genai_tui.engine.engine import Engine
from genai_tui.screens.model_settings import ModelSettingsDialog
from genai_tui.screens.settings import SettingsScreen

from .conftest import wait_until

CONFIG = """\
theme = "textual-dark"   # kept

[generation]
temperature = 0.0        # greedy: tests are deterministic
max_tokens = 24
context_length = 2048    # small and quick

[gpu]
reserve_mb = 256
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def app(config, make_settings, smollm_file) -> GenaiApp:
    settings = make_settings()
    settings.models_path.mkdir(parents=True)
    (settings.models_path / smollm_file.name).hardlink_to(smollm_file)
    return GenaiApp(settings, Engine(settings))


async def open_tab(pilot, app: GenaiApp, key: str) -> None:
    await pilot.press("f7")
    await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
    await pilot.press(key)
    await pilot.pause()


async def test_the_form_refuses_a_bad_value_with_the_files_words_then_saves_a_good_one(
    app, config
):
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot, app, "g")
        screen = app.screen
        assert screen.query_one(TabbedContent).active == "generation"
        field = screen.query_one("#gen-temperature", Input)
        assert field.has_focus and field.value == "0"
        await pilot.press("9", "m")  # a letter in a field is the field's, not a tab key
        assert screen.query_one(TabbedContent).active == "generation"
        field.value = "9"
        await pilot.press("ctrl+s")
        error = str(screen.query_one("#generation-error", Static).render())
        words = f"'generation.temperature' in {config}: Input should be less than or equal to 5"
        assert words in " ".join(error.split())
        assert field.has_class("-invalid") and field.value == "9"  # what was typed stays
        assert config.read_text() == CONFIG and app.engine.settings.generation.temperature == 0

        field.value = "0.3"
        screen.query_one("#gen-top_k", Input).value = "12"
        await pilot.press("enter")
        await pilot.pause()
        text = config.read_text()
        assert "temperature = 0.3        # greedy: tests are deterministic" in text
        assert 'theme = "textual-dark"   # kept' in text
        data = tomllib.loads(text)
        assert data["generation"]["top_k"] == 12 and data["gpu"] == {"reserve_mb": 256}
        assert not screen.query_one("#generation-error", Static).display
        assert app.engine.settings.generation.temperature == 0.3  # no restart needed
        assert app.engine.sampling.defaults()["top_k"] == 12


async def test_a_models_settings_change_reloads_it_with_the_estimate_shown_first(app, config):
    async with app.run_test(size=(80, 24)) as pilot:
        loaded = await app.engine.load_model(app.engine.chat_models()[0])
        key = loaded.name
        f16_kv = app.engine.model.kv_cache_bytes
        await open_tab(pilot, app, "m")
        table = app.screen.query_one("#model-table", DataTable)
        assert table.has_focus and key in [str(c) for c in table.get_column_at(0)]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelSettingsDialog))
        dialog = app.screen
        memory = dialog.query_one("#memory", Static)
        await wait_until(pilot, lambda: "Memory with these settings" in str(memory.render()))
        before = str(memory.render())

        dialog.query_one("#kv_cache", Select).value = "q8_0"  # without flash attention
        await pilot.press("ctrl+s")
        error = dialog.query_one("#error", Static)
        await wait_until(pilot, lambda: error.display)
        assert "needs flash_attn = true" in str(error.render())
        assert f"in {config}" in " ".join(str(error.render()).split())
        assert "models" not in tomllib.loads(config.read_text())

        dialog.query_one("#flash_attn", Checkbox).value = True
        await wait_until(pilot, lambda: "(now " in str(memory.render()))
        assert str(memory.render()) != before  # the new estimate, before it applies
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), timeout=120)
        assert app.engine.model.kv_cache == "q8_0" and app.engine.model.loaded
        assert app.engine.model.kv_cache_bytes < f16_kv
        row = [str(c) for c in app.screen.query_one("#model-table", DataTable).get_row(key)]
        assert row[2] == "KV q8_0 · flash attn"
        assert tomllib.loads(config.read_text())["models"][key] == {
            "kv_cache": "q8_0", "flash_attn": True}  # fmt: skip


async def test_the_model_dialog_refuses_a_gpu_this_box_lacks_and_saves_a_good_device(
    app, config, monkeypatch
):
    from fake_nvml import four_gpus

    four_gpus().install(monkeypatch.setattr)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot, app, "m")
        key = str(app.screen.query_one("#model-table", DataTable).get_row_at(0)[0])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelSettingsDialog))
        dialog = app.screen
        dialog.query_one("#device", Input).value = "9"
        await pilot.press("ctrl+s")
        error = dialog.query_one("#error", Static)
        await wait_until(pilot, lambda: error.display)
        said = " ".join(str(error.render()).split())
        assert "there is no GPU 9" in said and "GPU1 (NVIDIA H100 80GB HBM3)" in said
        assert dialog.query_one("#device", Input).has_class("-invalid")
        assert "models" not in tomllib.loads(config.read_text())
        dialog.query_one("#device", Input).value = "split:3,1"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), timeout=60)
        assert tomllib.loads(config.read_text())["models"][key] == {"device": "split:3,1"}
