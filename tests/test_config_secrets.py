"""Keys stay secret in config errors: a broken provider table names the field and the fix,
never the key; and the config file is written safely (0600, atomically, through a
symlink, without the providers that came from the environment)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from genai_tui.config import ProviderSettings, load_settings
from genai_tui.engine.chat.providers import remove_provider, save_provider
from genai_tui.engine.core.errors import ConfigError

KEY = "sk-live-SECRET-c0ffee-4242"
ENV_KEY = "sk-env-SECRET-beef-1717"


def config_error(path: Path, **flags) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, **flags)
    return str(caught.value)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def test_a_broken_provider_table_names_the_fields_but_never_the_key(config: Path) -> None:
    config.write_text(
        "[[providers]]\n"
        'name = "cloud"\n'
        f'api_key = "{KEY}"\n'
        f'headers = "Bearer {KEY}"\n'
        "\n"
        "[[providers]]\n"
        'name = "lab"\n'
        'base_url = "http://127.0.0.1:8000/v1"\n'
        "api_key = 42424242\n"
    )
    text = config_error(config)
    assert KEY not in text and "c0ffee" not in text and "42424242" not in text
    # which field, where, and what to do
    assert f"'providers.base_url' in {config} (providers entry #1, name 'cloud')" in text
    assert "Field required: add it" in text
    assert f"'providers.headers' in {config} (providers entry #1, name 'cloud')" in text
    assert "got a string; the value is not shown; write it as a table" in text
    assert "'providers.api_key'" in text and "entry #2, name 'lab'" in text
    assert "got an integer; the value is not shown" in text
    assert "Add the missing keys" in text and str(config) in text


def test_a_provider_table_where_a_value_belongs_is_not_echoed(config: Path) -> None:
    config.write_text(f'theme = {{ api_key = "{KEY}" }}\n')
    text = config_error(config)
    assert KEY not in text
    assert f"'theme' in {config}: Input should be a valid string (got a table)" in text


def test_secret_values_of_other_keys_are_not_echoed_but_plain_ones_are(config: Path) -> None:
    config.write_text("hf_token = 9876543210123\ntheme = 7\n")
    text = config_error(config)
    assert "9876543210123" not in text
    assert "'hf_token'" in text and "got an integer; the value is not shown" in text
    assert "'theme'" in text and "(got 7)" in text  # nothing secret: still shown


def test_a_provider_from_the_environment_or_a_flag_is_not_echoed(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENAI_TUI_PROVIDERS", json.dumps([{"name": "env", "api_key": KEY}]))
    text = config_error(config)
    assert KEY not in text
    assert "'providers.base_url' from $GENAI_TUI_PROVIDERS (providers entry #1)" in text
    monkeypatch.delenv("GENAI_TUI_PROVIDERS")
    text = config_error(config, providers=[{"name": "flag", "headers": f"Bearer {KEY}"}])
    assert KEY not in text and "from the command line" in text and "name 'flag'" in text


def test_an_env_value_that_is_not_json_is_named_not_echoed(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENAI_TUI_PROVIDERS", f'[{{"name": "x", "api_key": "{KEY}"')
    text = config_error(config)
    assert KEY not in text and "$GENAI_TUI_PROVIDERS could not be read" in text


# -- writing the file --------------------------------------------------------------------


def table(path: Path) -> list[dict]:
    return tomllib.loads(path.read_text())["providers"]


def test_the_file_is_replaced_0600_without_a_temporary_file_left(config: Path) -> None:
    config.write_text('theme = "nord"\n')
    config.chmod(0o644)
    settings = load_settings(config)
    save_provider(settings, ProviderSettings(name="a", base_url="http://a/v1", api_key=KEY))
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]
    assert tomllib.loads(config.read_text())["theme"] == "nord"


def test_a_new_config_folder_is_made_0700(tmp_path: Path) -> None:
    config = tmp_path / "home" / ".config" / "genai-tui" / "config.toml"
    settings = load_settings(config)
    save_provider(settings, ProviderSettings(name="a", base_url="http://a/v1", api_key=KEY))
    for folder in (config.parent, config.parent.parent, config.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_a_symlinked_config_file_is_written_through_to_its_target(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "genai-tui.toml"
    target.write_text('theme = "gruvbox"\n')
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    settings = load_settings(link)
    path = save_provider(settings, ProviderSettings(name="a", base_url="http://a/v1"))
    assert path == link and link.is_symlink() and link.resolve() == target.resolve()
    assert [p["name"] for p in table(target)] == ["a"]
    assert tomllib.loads(target.read_text())["theme"] == "gruvbox"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in dotfiles.iterdir()) == ["genai-tui.toml"]


def test_providers_from_the_environment_are_not_copied_into_the_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(
        '[[providers]]\nname = "filed"\nbase_url = "http://filed/v1"\napi_key_env = "FILED_KEY"\n'
    )
    env_providers = [
        {"name": "from-env", "base_url": "http://env/v1", "api_key": ENV_KEY},
        # the same name as the file's: the environment's values win in memory only
        {"name": "filed", "base_url": "http://env-filed/v1", "api_key": ENV_KEY},
    ]
    monkeypatch.setenv("GENAI_TUI_PROVIDERS", json.dumps(env_providers))
    settings = load_settings(config)
    assert [p.name for p in settings.providers] == ["from-env", "filed"]

    save_provider(settings, ProviderSettings(name="new", base_url="http://new/v1", api_key=KEY))
    text = config.read_text()
    assert ENV_KEY not in text and "from-env" not in text and "env-filed" not in text
    assert table(config) == [
        {"name": "filed", "base_url": "http://filed/v1", "api_key_env": "FILED_KEY"},
        {"name": "new", "base_url": "http://new/v1", "api_key": KEY},
    ]
    assert [p.name for p in settings.providers] == ["from-env", "filed", "new"]

    # editing one the file holds (here renamed) writes that one, in its place
    save_provider(settings, ProviderSettings(name="filed2", base_url="http://f2/v1"),
                  replacing="filed")  # fmt: skip
    assert [p["name"] for p in table(config)] == ["filed2", "new"]
    assert ENV_KEY not in config.read_text()
    assert [p.name for p in settings.providers] == ["from-env", "filed2", "new"]

    # removing one that only the environment supplies leaves the file's list as it was
    remove_provider(settings, "from-env")
    assert [p["name"] for p in table(config)] == ["filed2", "new"]
    assert [p.name for p in settings.providers] == ["filed2", "new"]
    remove_provider(settings, "new")
    assert [p["name"] for p in table(config)] == ["filed2"]

    monkeypatch.delenv("GENAI_TUI_PROVIDERS")
    assert [p.name for p in load_settings(config).providers] == ["filed2"]


def test_providers_given_as_flags_are_not_copied_into_the_file(config: Path) -> None:
    settings = load_settings(config, providers=[
        {"name": "flagged", "base_url": "http://flag/v1", "api_key": ENV_KEY}
    ])  # fmt: skip
    save_provider(settings, ProviderSettings(name="mine", base_url="http://mine/v1"))
    assert table(config) == [{"name": "mine", "base_url": "http://mine/v1"}]
    assert ENV_KEY not in config.read_text()


def test_a_failed_write_leaves_the_file_and_no_temporary_file(config: Path) -> None:
    """The write fails half-way (a file size limit: EFBIG, root included)."""
    original = 'theme = "nord"\n' + "# padding\n" * 400
    config.write_text(original)
    script = (
        "import resource, sys\n"
        "from genai_tui.config import ProviderSettings, load_settings\n"
        "from genai_tui.engine.chat.providers import save_provider\n"
        "from genai_tui.engine.core.errors import ConfigError\n"
        "settings = load_settings()\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
        "try:\n"
        "    save_provider(settings, ProviderSettings(name='a', base_url='http://a/v1'))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    env = os.environ | {"GENAI_TUI_CONFIG": str(config)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith(f"Cannot write {config}: File too large.")
    assert config.read_text() == original
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]
