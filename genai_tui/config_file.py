"""Where the settings file is, without pydantic: the TUI's start-up screen reads the
theme from it before the settings are validated (config.py does that after the first
frame)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from platformdirs import user_config_path

APP_NAME = "genai-tui"
ENV_PREFIX = "GENAI_TUI_"


def default_config_file() -> Path:
    """The TOML file read at start-up: $GENAI_TUI_CONFIG, else the platform config dir."""
    env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    return Path(env).expanduser() if env else user_config_path(APP_NAME) / "config.toml"


def peek_theme(config_file: Path | None, flag: str | None) -> str | None:
    """The theme the settings will name (flag > env > file), read without validating
    anything; None when none is set or the file cannot be read (the settings then say
    what is wrong with it)."""
    if flag:
        return flag
    if env := os.environ.get(f"{ENV_PREFIX}THEME"):
        return env
    try:
        with (config_file or default_config_file()).expanduser().open("rb") as f:
            theme = tomllib.load(f).get("theme")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return theme if isinstance(theme, str) else None
