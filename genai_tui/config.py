"""Settings: defaults < TOML file < env GENAI_TUI_* < CLI flags. Built once, passed in."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from platformdirs import user_data_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from genai_tui.config_file import APP_NAME, ENV_PREFIX, default_config_file
from genai_tui.config_models import ModelSettings
from genai_tui.engine.core.errors import ConfigError


def _default_data_dir() -> Path:
    return user_data_path(APP_NAME)


class GenerationSettings(BaseModel):
    """Defaults for every reply; a conversation may override them."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    temperature: float = Field(0.7, ge=0.0, le=5.0)
    """Sampling temperature; 0 is greedy (always the most likely token)."""
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    """Nucleus sampling: keep the smallest set of tokens whose probability sums to this."""
    top_k: int = Field(40, ge=0)
    """Keep only the k most likely tokens; 0 turns it off."""
    repeat_penalty: float = Field(1.1, ge=0.0, le=5.0)
    """Penalty for repeating recent tokens; 1.0 turns it off."""
    max_tokens: int = Field(1024, ge=1)
    """Longest reply, in tokens."""
    seed: int = Field(-1, ge=-1)
    """Sampling seed; -1 picks a new one each time."""
    context_length: int = Field(4096, ge=0)
    """Context window in tokens; 0 uses the model's own (can need a lot of memory)."""
    gpu_layers: int = Field(-1, ge=-1)
    """Layers offloaded to the GPU; -1 offloads all (harmless on a CPU build)."""
    threads: int = Field(0, ge=0)
    """CPU threads for llama.cpp; 0 picks one less than the usable cores."""


class ImageSettings(BaseModel):
    """The image studio (engine/diffusion.py): defaults for each request, and the device."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    default_model: str | None = None
    """Diffusers model to select at start: a repo id, a folder or a .safetensors file."""
    renderer: Literal["auto", "kitty", "sixel", "halfcell", "unicode"] = "auto"
    """How images are drawn in the terminal; auto detects the best the terminal supports."""
    device: Literal["auto", "cuda", "cpu"] = "auto"
    """auto uses CUDA when present, else the CPU."""
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    """auto: float16 (bfloat16 where supported) on CUDA, float32 on the CPU."""
    memory: Literal["auto", "none", "slicing", "tiling", "offload"] = "auto"
    """Memory savers: auto picks attention slicing / VAE tiling / CPU offload from free VRAM."""
    threads: int = Field(0, ge=0)
    """torch CPU threads; 0 picks one less than the usable cores."""
    width: int = Field(512, ge=64, le=4096, multiple_of=8)
    height: int = Field(512, ge=64, le=4096, multiple_of=8)
    steps: int = Field(25, ge=1, le=500)
    guidance: float = Field(7.0, ge=0.0, le=50.0)
    variations: int = Field(4, ge=1, le=16)
    """Images per request."""
    preview_every: int = Field(2, ge=0)
    """Show a cheap preview every this many steps; 0 turns previews off."""


class GpuSettings(BaseModel):
    """The GPU monitor (engine/gpu.py) and who may hold the GPU (engine/residency.py)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    interval_s: float = Field(1.0, ge=0.1, le=60.0)
    """Seconds between samples."""
    history_s: int = Field(600, ge=10, le=86400)
    """How much history the graphs keep, in seconds."""
    vram_budget_mb: int | None = Field(None, ge=0)
    """Memory the loaded models may use together; default: the GPU's total (or RAM on CPU).
    On a GPU shared with other processes, a load also has to fit in what is free."""
    reserve_mb: int = Field(512, ge=0)
    """GPU memory left free beside our models (CUDA context, activations, other users)."""
    on_full: Literal["unload", "offload"] = "unload"
    """When a new model does not fit: unload the least recently used, or offload to CPU."""
    idle_unload_s: int = Field(0, ge=0)
    """Unload a model idle this long, in seconds; 0 never does."""


class ProviderSettings(BaseModel):
    """An OpenAI-compatible server (engine/llm_remote.py)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(min_length=1)
    base_url: str = Field(min_length=1)
    """e.g. http://127.0.0.1:8000/v1 (vLLM) or https://api.openai.com/v1"""
    api_key: str | None = Field(None, repr=False)
    """Stored in the config file (written 0600); prefer api_key_env."""
    api_key_env: str | None = None
    """Name of an environment variable holding the key."""
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    price_in: float | None = Field(None, ge=0)
    """Price per million input tokens."""
    price_out: float | None = Field(None, ge=0)
    """Price per million output tokens."""
    image_models: list[str] | None = None
    """Models it serves at POST /images/generations: the studio lists them as PROVIDER/MODEL."""
    image_extras: list[Literal["negative_prompt", "seed", "steps", "cfg_scale"]] | None = None
    """Fields beyond OpenAI's its images endpoint takes (others are left out and said so)."""


class Settings(BaseSettings):
    """Everything the app reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where the conversation database and exports live."""
    models_dir: Path | None = None
    """A folder searched for .gguf models (recursively); default: <data_dir>/models."""
    lmstudio_dir: Path | None = None
    """LM Studio's models folder (<publisher>/<repo>/<file>.gguf); default: LM Studio's
    own place (~/.lmstudio/models, else ~/.cache/lm-studio/models)."""
    ollama_dir: Path | None = None
    """Ollama's model store (manifests/ and blobs/); default: $OLLAMA_MODELS, else
    ~/.ollama/models."""
    default_model: str | None = None
    """Model to select at start: a path or a name from the model list."""
    system_prompt: str = ""
    """System prompt for new conversations."""
    theme: str = "textual-dark"
    """Textual theme name (e.g. textual-dark, textual-light, nord, gruvbox)."""
    hf_token: str | None = Field(None, repr=False)
    """Hugging Face token for gated and private repos; default: $HF_TOKEN, else the
    token file `hf auth login` writes. Never logged or shown."""
    download_concurrency: int = Field(2, ge=1, le=16)
    """How many downloads transfer at once; the others wait in the queue."""
    download_dir: Path | None = None
    """Where downloads land as plain files (<download_dir>/<org>/<name>/...); default:
    the Hugging Face cache ($HF_HUB_CACHE), where hf, transformers and diffusers find them."""
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    image: ImageSettings = Field(default_factory=ImageSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    providers: list[ProviderSettings] = Field(default_factory=list)
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    """Per-model settings, by the model's name (`[models."NAME"]`; config_models.py)."""
    config_file: Path | None = Field(default=None, exclude=True)
    """The file these settings were read from (set by `load_settings`)."""

    @property
    def models_path(self) -> Path:
        return (self.models_dir or self.data_dir / "models").expanduser()

    @property
    def db_path(self) -> Path:
        return self.data_dir.expanduser() / "genai-tui.sqlite3"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir.expanduser() / "exports"

    @property
    def log_path(self) -> Path:
        """Where a failure's traceback goes (the screen shows a one-line summary)."""
        return self.data_dir.expanduser() / "genai-tui.log"

    @property
    def images_dir(self) -> Path:
        """The gallery: every generated image, as PNG with its parameters."""
        return self.data_dir.expanduser() / "images"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first: CLI flags (init kwargs), env, then the TOML file (passed
        # in as `_file_values` by load_settings), then the field defaults.
        return (init_settings, env_settings, _FileSource(settings_cls))


# The parsed TOML file for the Settings being built; set only inside load_settings.
_file_values: ContextVar[Mapping[str, Any]] = ContextVar(
    "genai_tui_file_values", default=MappingProxyType({})
)


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _file_values.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_values.get())


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not valid TOML: {exc}.",
            "Fix that line, or move the file aside to start with defaults.",
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"Cannot read config file {path}: {exc.strerror}.", "Check its permissions."
        ) from exc


def _dig(data: Any, loc: tuple[Any, ...]) -> tuple[bool, Any]:
    """Whether `loc` (keys and list indexes) is present in `data`, and what is there."""
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False, None
    return True, node


def _env_var(loc: tuple[str, ...]) -> str | None:
    """The set env var that supplies `loc` (or a parent of it), as spelled in the environment.

    Env names are matched case-insensitively, as pydantic-settings reads them.
    """
    by_upper = {name.upper(): name for name in os.environ}
    for depth in range(len(loc), 0, -1):
        name = ENV_PREFIX + "__".join(p.upper() for p in loc[:depth])
        if name in by_upper:
            return by_upper[name]
    return None


# Keys whose values an error never echoes: API keys, tokens, headers (Authorization).
_SECRET_KEY = re.compile(r"key|token|secret|passw|auth|header|cookie|credential", re.I)

_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
          dict: "a table", list: "an array", type(None): "nothing"}  # fmt: skip


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), f"a {type(value).__name__}")


def _got(loc: tuple[Any, ...], value: Any) -> str:
    """What was given, as far as it is safe to say: never a secret, never a whole table
    (a provider table holds its API key)."""
    if any(isinstance(p, str) and _SECRET_KEY.search(p) for p in loc):
        return f"got {_kind(value)}; the value is not shown"
    if isinstance(value, (dict, list)):
        return f"got {_kind(value)}"
    return f"got {value!r}"


def _table_label(loc: tuple[Any, ...], source: Any) -> str:
    """' (provider 2, "groq")' for a key inside an array of tables, else ''."""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            found, table = _dig(source, loc[: i + 1])
            name = table.get("name") if found and isinstance(table, dict) else None
            named = f", name {name!r}" if isinstance(name, str) and name else ""
            return f" ({loc[i - 1] if i else 'list'} entry #{part + 1}{named})"
    return ""


def _explain(
    exc: ValidationError,
    path: Path,
    file_values: dict[str, Any],
    flags: dict[str, Any],
    env: bool = True,
) -> ConfigError:
    lines = []
    missing = False
    for err in exc.errors():
        full = tuple(err["loc"])
        loc = tuple(p for p in full if isinstance(p, str))
        key = ".".join(loc) or "(top level)"
        env_name = _env_var(loc) if env else None
        # Name the source that won: flags beat env, env beats the file.
        # A missing key is looked for by its table (the input is that table).
        probe = full[:-1] if err["type"] == "missing" else full
        source: Any = None
        if _dig(flags, probe)[0]:
            where, source = "from the command line", flags
        elif env_name is not None:
            where = f"from ${env_name}"
        elif _dig(file_values, probe)[0]:
            where, source = f"in {path}", file_values
        else:
            where, source = "from the command line", flags
        where += _table_label(full, source)
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}' {where}")
        elif err["type"] == "missing":
            # The input is the table the key is missing from: it may hold a key.
            missing = True
            lines.append(f"'{key}' {where}: {err['msg']}: add it")
        else:
            got = _got(full, err.get("input"))
            if err["type"] == "dict_type":
                got += '; write it as a table, e.g. { Name = "value" }'
            lines.append(f"'{key}' {where}: {err['msg']} ({got})")
    fix = "Add the missing keys; fix the others" if missing else "Fix the key named"
    return ConfigError(
        "Invalid settings: " + "; ".join(lines) + ".",
        f"{fix}, or delete a key to use its default (file: {path}).",
    )


def check_table(key: str, values: dict[str, Any], path: Path) -> Any:
    """`values` for the file's table `key` ("generation", or "models" with one model's
    table inside), checked by the rules and worded as the file would be at start-up.
    Raises ParamsError (a ConfigError) whose `keys` names the bad keys."""
    from pydantic import create_model

    from genai_tui.engine.chat.sampling import ParamsError

    field = Settings.model_fields[key]
    check = create_model("Table", __config__=ConfigDict(extra="forbid"),
                         **{key: (field.annotation, ...)})  # fmt: skip
    try:
        return getattr(check.model_validate({key: values}), key)
    except ValidationError as exc:
        error = _explain(exc, path, {key: values}, {}, env=False)
        keys = tuple(str(e["loc"][-1]) for e in exc.errors())
        raise ParamsError(error.message, error.hint, keys) from None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from file, env and `overrides` (CLI flags). Raises ConfigError."""
    path = (config_file or default_config_file()).expanduser()
    file_values = _read_toml(path)
    flags = {k: v for k, v in overrides.items() if v is not None}
    token = _file_values.set(file_values)
    try:
        settings = Settings(**flags)
    except ValidationError as exc:
        raise _explain(exc, path, file_values, flags) from None
    except SettingsError as exc:
        # An env var for a nested field (e.g. GENAI_TUI_GENERATION) that is not valid JSON.
        match = re.search(r'field "(\w+)"', str(exc))
        env_name = _env_var((match.group(1),)) if match else None
        where = f"${env_name}" if env_name else f"a {ENV_PREFIX}* environment variable"
        raise ConfigError(
            f"Invalid settings: {where} could not be read: {exc}.",
            f"Set it to a JSON object, use {ENV_PREFIX}<SECTION>__<KEY> variables instead, "
            "or unset it.",
        ) from None
    finally:
        _file_values.reset(token)
    settings.config_file = path
    return settings
