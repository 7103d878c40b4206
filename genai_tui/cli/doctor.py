"""`genai-tui doctor`: settings, paths, the llama.cpp build, the models found, and files
open to other users (each with the chmod that closes it)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from genai_tui import __version__

if TYPE_CHECKING:
    from genai_tui.config import Settings


def run(settings: Settings) -> int:
    from genai_tui.engine.gpu.threads import generation_threads, usable_cores
    from genai_tui.engine.models.inventory import chat_models_for, hf_hub_cache

    config = settings.config_file
    found = "found" if config and config.exists() else "not present: defaults"
    threads = generation_threads(settings.generation.threads)
    rows = [
        ("genai-tui", __version__),
        ("python", sys.version.split()[0]),
        ("config file", f"{config} ({found})"),
        ("data dir", str(settings.data_dir)),
        ("models dir", str(settings.models_path)),
        ("HF cache", str(hf_hub_cache())),
        ("cores", f"{usable_cores()} usable, {threads} for generation"),
    ]
    try:
        import llama_cpp

        gpu = "yes" if llama_cpp.llama_supports_gpu_offload() else "no (CPU build)"
        rows.append(("llama-cpp-python", f"{llama_cpp.__version__}, GPU offload: {gpu}"))
    except ImportError as exc:
        rows.append(("llama-cpp-python", f"not importable: {exc}"))
    # The picker's count: every store the settings name (LM Studio, Ollama too).
    rows.append(("chat models", str(len(chat_models_for(settings)))))
    rows.append(("image renderer", _renderer(settings.image.renderer)))
    rows += [("warning", w) for w in permission_warnings(settings)]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {_shown(value)}")
    return 0


def _shown(text: str) -> str:
    """Paths are printed as they are into a pipe, made printable on a terminal."""
    from genai_tui.engine.core.text import printable

    return printable(text) if sys.stdout.isatty() else text


def permission_warnings(settings: Settings) -> list[str]:
    """Files that may hold keys, chats or images, open to other users; each with its fix."""
    import shlex

    from genai_tui.engine.core.files import open_to_others

    def mode(path: Path) -> str:
        try:
            return f"mode {stat.S_IMODE(path.stat().st_mode):04o}"
        except OSError:  # gone since it was checked
            return "mode unknown"

    warnings = []
    config = settings.config_file
    if config is not None and open_to_others(config):
        if _holds_keys(config):
            why = "holds API keys and can be read or changed by other users"
        elif open_to_others(config) & 0o022:
            why = "can be changed by other users (they could point a provider elsewhere)"
        else:
            why = ""
        if why:
            warnings.append(
                f"config file {config} {why} ({mode(config)}): chmod 600 {shlex.quote(str(config))}"
            )
    data = settings.data_dir.expanduser()
    db = settings.db_path
    folders = [
        ("data dir", data),
        ("exports", settings.exports_dir),
        ("images", settings.images_dir),
    ]
    files = [
        ("database", db),
        ("database WAL", db.with_name(db.name + "-wal")),
        ("database WAL index", db.with_name(db.name + "-shm")),
        ("log", settings.log_path),
    ]
    for label, folder in folders:
        if open_to_others(folder):
            warnings.append(
                f"{label} {folder} is open to other users ({mode(folder)}): "
                f"chmod 700 {shlex.quote(str(folder))}"
            )
    for label, file in files:
        if open_to_others(file):
            warnings.append(
                f"{label} {file} is open to other users ({mode(file)}): "
                f"chmod 600 {shlex.quote(str(file))}"
            )
    for _, folder in folders[1:]:
        # What they hold, at any depth (an export's pictures are in a folder beside it).
        wide = [p for p in _walk(folder) if open_to_others(p)]
        if wide:
            warnings.append(
                f"{len(wide)} files or folders in {folder} are open to other users: "
                f"chmod -R go= {shlex.quote(str(folder))}"
            )
    return warnings


def _walk(folder: Path) -> list[Path]:
    """Everything under `folder` but symlinks (a chmod through one is not ours to ask)."""
    try:
        return [p for p in folder.rglob("*") if not p.is_symlink()]
    except OSError:
        return []


def _holds_keys(config: Path) -> bool:
    """Whether the config file sets a provider's api_key or headers, or the Hub token."""
    import tomllib

    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    providers = data.get("providers")
    tables = [p for p in providers if isinstance(p, dict)] if isinstance(providers, list) else []
    return bool(data.get("hf_token")) or any(p.get("api_key") or p.get("headers") for p in tables)


def _renderer(setting: str) -> str:
    """What the studio will draw pictures with here, and why (asks the terminal)."""
    try:
        from genai_tui.terminal_graphics import current_choice, probe_terminal

        probe_terminal()
        import textual_image.widget  # noqa: F401  (it draws the pictures: it must load)

        choice = current_choice(setting)
    except Exception as exc:  # noqa: BLE001 - a doctor reports, it does not fail
        return f"unknown ({type(exc).__name__}: {exc})"
    return f"{choice.renderer}: {choice.reason}"
