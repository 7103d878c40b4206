"""Settings: defaults < TOML file < env GENAI_TUI_* < CLI flags, and errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_tui.cli import build_parser, settings_from_args
from genai_tui.config import Settings, default_config_file, load_settings
from genai_tui.engine.core.errors import ConfigError


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def test_defaults_when_there_is_no_file(config: Path) -> None:
    settings = load_settings(config)
    assert not config.exists()
    assert settings.generation.temperature == 0.7
    assert settings.generation.max_tokens == 1024
    assert settings.generation.context_length == 4096
    assert settings.theme == "textual-dark"
    assert settings.config_file == config
    # models dir defaults to <data_dir>/models; the database lives in data_dir
    assert settings.models_path == settings.data_dir / "models"
    assert settings.db_path.parent == settings.data_dir


def test_config_file_comes_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.toml"
    monkeypatch.setenv("GENAI_TUI_CONFIG", str(target))
    assert default_config_file() == target
    target.write_text('theme = "nord"\n')
    assert load_settings().theme == "nord"


def test_precedence_defaults_file_env_flags(
    config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config.write_text(
        'theme = "gruvbox"\n'
        'system_prompt = "from the file"\n'
        "[generation]\n"
        "temperature = 0.2\n"
        "top_k = 10\n"
        "max_tokens = 100\n"
    )
    monkeypatch.setenv("GENAI_TUI_SYSTEM_PROMPT", "from env")
    monkeypatch.setenv("GENAI_TUI_GENERATION__TOP_K", "20")
    monkeypatch.setenv("GENAI_TUI_GENERATION__MAX_TOKENS", "200")

    settings = load_settings(config, generation={"max_tokens": 300})

    assert settings.generation.top_p == 0.95  # default: nobody set it
    assert settings.theme == "gruvbox"  # file beats default
    assert settings.generation.temperature == 0.2  # file, nested table
    assert settings.system_prompt == "from env"  # env beats file
    assert settings.generation.top_k == 20  # nested env (__) beats file
    assert settings.generation.max_tokens == 300  # flag beats env and file


def test_cli_flags_override_file_and_env(
    config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config.write_text("[generation]\ntemperature = 0.2\ncontext_length = 1024\nseed = 5\n")
    monkeypatch.setenv("GENAI_TUI_GENERATION__CONTEXT_LENGTH", "512")
    monkeypatch.setenv("GENAI_TUI_THEME", "nord")
    args = build_parser().parse_args(
        ["--config", str(config), "--data-dir", str(tmp_path / "d"), "--theme", "gruvbox",
         "chat", "--temperature", "0.9", "--ctx", "256", "-m", "x.gguf", "hello"]
    )  # fmt: skip
    settings = settings_from_args(args)
    assert settings.generation.temperature == 0.9
    assert settings.generation.context_length == 256
    assert settings.generation.seed == 5  # untouched by flags: still from the file
    assert settings.theme == "gruvbox"
    assert settings.default_model == "x.gguf"
    assert settings.data_dir == tmp_path / "d"


def test_invalid_toml_names_the_file(config: Path) -> None:
    config.write_text("[generation\ntemperature = 0.2\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(config) in str(err.value)
    assert "not valid TOML" in str(err.value)
    assert err.value.hint  # says what to do


def test_wrong_type_names_key_file_and_fix(config: Path) -> None:
    config.write_text('[generation]\ntemperature = "hot"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    message = str(err.value)
    assert "generation.temperature" in message
    assert str(config) in message
    assert "'hot'" in message
    assert "Fix the key" in err.value.hint


def test_out_of_range_value_in_file(config: Path) -> None:
    config.write_text("[generation]\ntop_p = 0\n")
    with pytest.raises(ConfigError, match=r"generation\.top_p.*greater than 0"):
        load_settings(config)


@pytest.mark.parametrize(
    ("text", "key"),
    [('colour = "red"\n', "colour"), ("[generation]\ntemprature = 0.1\n", "generation.temprature")],
)
def test_unknown_key(config: Path, text: str, key: str) -> None:
    config.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert f"unknown key '{key}'" in str(err.value)
    assert str(config) in str(err.value)


def test_bad_env_value_names_the_env_var(monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    monkeypatch.setenv("GENAI_TUI_GENERATION__TEMPERATURE", "hot")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert "$GENAI_TUI_GENERATION__TEMPERATURE" in str(err.value)
    assert "'hot'" in str(err.value)


def test_bad_env_value_is_blamed_over_a_good_file_value(
    monkeypatch: pytest.MonkeyPatch, config: Path
) -> None:
    config.write_text("[generation]\ntemperature = 0.5\n")
    monkeypatch.setenv("GENAI_TUI_GENERATION__TEMPERATURE", "9")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert "from $GENAI_TUI_GENERATION__TEMPERATURE" in str(err.value)
    assert f"in {config}" not in str(err.value)


def test_bad_flag_is_blamed_over_a_good_file_value(config: Path) -> None:
    config.write_text("[generation]\ntemperature = 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config, generation={"temperature": 9})
    assert "'generation.temperature' from the command line" in str(err.value)


def test_env_json_that_does_not_parse_names_the_env_var(
    monkeypatch: pytest.MonkeyPatch, config: Path
) -> None:
    monkeypatch.setenv("GENAI_TUI_GENERATION", "not json")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert "$GENAI_TUI_GENERATION" in str(err.value)


def test_env_json_for_a_section_is_read(monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    monkeypatch.setenv("GENAI_TUI_GENERATION", '{"max_tokens": 77}')
    assert load_settings(config).generation.max_tokens == 77


def test_settings_are_validated_on_assignment(config: Path) -> None:
    settings: Settings = load_settings(config)
    settings.generation.context_length = 512
    assert settings.generation.context_length == 512
    with pytest.raises(ValueError):
        settings.generation.temperature = -1


def test_lowercase_env_var_is_named_as_spelled(
    monkeypatch: pytest.MonkeyPatch, config: Path
) -> None:
    # pydantic-settings reads env names case-insensitively; the message must name the real one
    monkeypatch.setenv("genai_tui_generation__top_k", "-3")
    with pytest.raises(ConfigError, match=r"from \$genai_tui_generation__top_k"):
        load_settings(config)
