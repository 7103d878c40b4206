"""`genai-tui doctor`: settings, paths, the llama.cpp build and the models found."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from genai_tui import __version__

if TYPE_CHECKING:
    from genai_tui.config import Settings


def run(settings: Settings) -> int:
    from genai_tui.engine.models.inventory import find_chat_models, hf_hub_cache
    from genai_tui.engine.gpu.threads import generation_threads, usable_cores

    rows = [
        ("genai-tui", __version__),
        ("python", sys.version.split()[0]),
        ("config file", f"{settings.config_file} ({'found' if settings.config_file and settings.config_file.exists() else 'not present: defaults'})"),
        ("data dir", str(settings.data_dir)),
        ("models dir", str(settings.models_path)),
        ("HF cache", str(hf_hub_cache())),
        ("cores", f"{usable_cores()} usable, {generation_threads(settings.generation.threads)} for generation"),
    ]  # fmt: skip
    try:
        import llama_cpp

        gpu = "yes" if llama_cpp.llama_supports_gpu_offload() else "no (CPU build)"
        rows.append(("llama-cpp-python", f"{llama_cpp.__version__}, GPU offload: {gpu}"))
    except ImportError as exc:
        rows.append(("llama-cpp-python", f"not importable: {exc}"))
    rows.append(("chat models", str(len(find_chat_models(settings.models_path)))))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
