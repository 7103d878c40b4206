"""`genai-tui doctor`: settings, paths, the llama.cpp build and the models found."""

from __future__ import annotations

import sys
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
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _renderer(setting: str) -> str:
    """What the studio will draw pictures with here, and why (asks the terminal)."""
    try:
        import textual_image.widget  # noqa: F401  (its import asks about Sixel and kitty)

        from genai_tui.terminal_graphics import current_choice, probe_terminal

        probe_terminal()
        choice = current_choice(setting)
    except Exception as exc:  # noqa: BLE001 - a doctor reports, it does not fail
        return f"unknown ({type(exc).__name__}: {exc})"
    return f"{choice.renderer}: {choice.reason}"
