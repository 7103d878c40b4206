"""Models on disk, wherever a tool put them: the entries and the store readers.

Stores read here: the Hugging Face cache (through `huggingface_hub.scan_cache_dir`)
and plain folders (our models dir, LM Studio's models folder); Ollama's store is read
in `ollama`, deleting in `model_delete`. The public entry points `scan_local_models`
and `delete_entry` live in `inventory`, which imports these (never the other way).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai_tui.engine.core.errors import GenaiError, ModelError
from genai_tui.engine.models.names import (
    NOT_CHAT_ARCHITECTURES,
    SPLIT,
    is_projector_name,
    quant_in_name,
)
from genai_tui.engine.models.projectors import is_projector, pair_projectors

MODELS_DIR = "models dir"
HF_CACHE = "HF cache"
LM_STUDIO = "LM Studio"
OLLAMA = "Ollama"
DEMO = "demo"

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
# A folder with config.json and one of these is a transformers-style model ("other").
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".npz")


class DeleteRefusedError(GenaiError):
    """A delete was refused: the model lives in another tool's store or in a package."""


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One model on disk, as the Local models list shows it."""

    name: str
    kind: str  # "gguf" | "diffusers" | "checkpoint" | "lora" | "other"
    path: Path  # the file to load (GGUF: its first part) or the folder
    size: int  # bytes on disk, each blob counted once
    source: str  # "models dir" | "HF cache" | "LM Studio" | "Ollama" | "demo"
    repo_id: str | None = None  # HF cache
    revision: str | None = None  # HF cache commit hash
    architecture: str | None = None  # GGUF header; a LoRA: its base family ("SDXL")
    quantization: str | None = None  # GGUF header (or the file name when the header lacks it)
    context_length: int | None = None  # GGUF header
    pipeline: str | None = None  # diffusers: model_index.json `_class_name`
    error: str | None = None  # what is wrong with it, when something is
    files: tuple[Path, ...] = ()  # what it is made of: split parts, Ollama manifest and blobs
    store: Path | None = None  # root of the store it was found in
    projector: Path | None = None  # a vision model's mmproj file (projectors.pair_projectors)

    @property
    def size_gb(self) -> float:
        return self.size / 1e9

    @property
    def is_projector(self) -> bool:
        """A vision projector (mmproj): loaded with its model, never chatted with alone."""
        return self.kind == "gguf" and is_projector(self.architecture, self.path)

    @property
    def kind_label(self) -> str:
        """The kind as listings show it: "gguf vision" (with its projector), "mmproj"."""
        if self.projector is not None:
            return f"{self.kind} vision"
        lora = self.kind == "lora" and self.architecture  # "lora SDXL": its base model's family
        return "mmproj" if self.is_projector else f"lora {self.architecture}" if lora else self.kind

    @property
    def can_chat(self) -> bool:
        """A readable GGUF language model: decided by the architecture in its header
        (vision projectors say "clip", embedding models "bert", ...), not its name."""
        return self.kind == "gguf" and self.error is None and self.is_chat_architecture

    @property
    def is_chat_architecture(self) -> bool:
        """A chat model by its header; a GGUF whose header cannot be read is offered by
        its name (its load then says what is wrong with it)."""
        if self.architecture is not None:
            return self.architecture not in NOT_CHAT_ARCHITECTURES
        return not is_projector_name(self.path.name)

    def to_local_model(self) -> LocalModel:
        """The chat picker's view of this entry (for "send to Chat")."""
        return LocalModel(self.name, self.path, self.size, self.source, self.error,
                          self.projector)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A chat model as the picker lists it and `-m` accepts it."""

    name: str
    path: Path
    size: int
    source: str  # "models dir", "HF cache", "LM Studio", "Ollama", "demo", "path"
    error: str | None = None  # what the scan found wrong with its file
    projector: Path | None = None  # its vision projector (mmproj): it takes images

    @property
    def size_gb(self) -> float:
        return self.size / 1e9

    @property
    def vision(self) -> bool:
        return self.projector is not None


# ---------------------------------------------------------------- default places


def default_lmstudio_dirs() -> list[Path]:
    """LM Studio's models folders: the current one, then the pre-0.3 one."""
    home = Path.home()
    dirs = [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    # LM Studio records a relocated home folder in this one-line file.
    try:
        pointer = (home / ".lmstudio-home-pointer").read_text().strip()
    except (OSError, UnicodeDecodeError):
        pointer = ""
    if pointer and (moved := Path(pointer).expanduser() / "models") not in dirs:
        dirs.insert(0, moved)
    return dirs


def default_ollama_dir() -> Path:
    """Ollama's store: $OLLAMA_MODELS, else ~/.ollama/models (as `ollama serve` decides)."""
    if env := os.environ.get("OLLAMA_MODELS"):
        return Path(env).expanduser()
    return Path.home() / ".ollama" / "models"


# ---------------------------------------------------------------- small helpers


def _stat_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def real_path(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def unique_size(paths: Iterable[Path]) -> int:
    """Bytes of the files behind `paths`, each real file counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def tree_files(folder: Path) -> list[Path]:
    """Every file under `folder`, following links to files but not to folders."""
    out: list[Path] = []
    for dirpath, _dirs, names in os.walk(folder):
        out.extend(Path(dirpath, name) for name in names)
    return out


def total_size(entries: Iterable[InventoryEntry]) -> int:
    """Bytes on disk for a set of entries: a blob two entries share is counted once."""
    files: list[Path] = []
    for entry in entries:
        for path in entry.files or (entry.path,):
            files.extend(tree_files(path) if path.is_dir() else [path])
    return unique_size(files)


def split_groups(paths: Iterable[Path]) -> list[list[Path]]:
    """GGUF files grouped into models: a split model's parts form one group, part 1 first."""
    groups: dict[tuple[Path, str, str], list[tuple[int, Path]]] = {}
    for path in paths:
        match = SPLIT.match(path.name)
        if match:
            key = (path.parent, match["stem"].lower(), match["total"])
            groups.setdefault(key, []).append((int(match["part"]), path))
        else:
            groups[(path.parent, path.name, "")] = [(1, path)]
    ordered = [[p for _, p in sorted(parts)] for parts in groups.values()]
    return sorted(ordered, key=lambda g: str(g[0]).lower())


def _split_problem(group: list[Path]) -> str | None:
    match = SPLIT.match(group[0].name)
    if not match:
        return None
    total = int(match["total"])
    have = {int(m["part"]) for p in group if (m := SPLIT.match(p.name))}
    missing = sorted(set(range(1, total + 1)) - have)
    if not missing:
        return None
    shown = ", ".join(str(n) for n in missing[:5])
    return (
        f"Split model incomplete: part(s) {shown} of {total} missing. "
        "Download the missing parts, or delete this entry."
    )


# GGUF headers already read: (real path, size, mtime_ns) -> fields. Rescans are cheap.
_HEADERS: dict[tuple[str, int, int], dict[str, Any]] = {}
_HEADERS_MAX = 1024


def gguf_fields(path: Path) -> dict[str, Any]:
    """architecture, quantization, context_length and error for one GGUF file."""
    from genai_tui.engine.models.gguf_info import read_gguf

    try:
        st = path.stat()
        key = (str(real_path(path)), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and (known := _HEADERS.get(key)) is not None:
        return known
    fields: dict[str, Any] = {}
    try:
        info = read_gguf(path)
        fields["architecture"] = info.architecture
        fields["quantization"] = info.quantization
        fields["context_length"] = info.context_length
    except ModelError as exc:
        fields = {"error": str(exc)}
    except OSError as exc:
        fields = {"error": f"Cannot read {path}: {exc.strerror or exc}. Check its permissions."}
    except Exception as exc:  # noqa: BLE001 - one damaged file must not end the scan
        fields = {"error": f"{path.name} has a damaged GGUF header ({type(exc).__name__}: "
                           f"{exc}). Download it again."}  # fmt: skip
    if not fields.get("quantization"):
        fields["quantization"] = quant_in_name(path.name)
    if key is not None:
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        _HEADERS[key] = fields
    return fields


def gguf_entry(
    name: str,
    group: list[Path],
    source: str,
    store: Path | None,
    *,
    size: int | None = None,
    files: tuple[Path, ...] | None = None,
    **extra: Any,
) -> InventoryEntry:
    """An entry for one GGUF model (a single file or a split model's parts)."""
    fields = gguf_fields(group[0])
    if problem := _split_problem(group):
        fields = {**fields, "error": problem}
    return InventoryEntry(
        name=name,
        kind="gguf",
        path=group[0],
        size=unique_size(group) if size is None else size,
        source=source,
        files=tuple(group) if files is None else files,
        store=store,
        **fields,
        **extra,
    )


def pipeline_class(model_index: Path) -> tuple[str | None, str | None]:
    try:
        data = json.loads(model_index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{model_index} cannot be read ({exc}); the pipeline folder is damaged."
    name = data.get("_class_name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return None, f"{model_index} names no pipeline class (`_class_name`)."
    return name, None


# ---------------------------------------------------------------- plain folders


def _is_weights_folder(names: set[str]) -> bool:
    """config.json beside weights and no GGUF: a transformers-style model folder."""
    return (
        "config.json" in names
        and any(n.lower().endswith(_WEIGHT_SUFFIXES) for n in names)
        and not any(n.lower().endswith(".gguf") for n in names)
    )


def _walk_models(root: Path) -> Iterator[tuple[Path, str, list[Path]]]:
    """(folder, what, files): folders below `root` that are one model ("diffusers" /
    "other"), and the files of the others ("files"). Follows links to folders, once each."""
    seen: set[Path] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        real = real_path(folder)
        if real in seen:
            continue
        seen.add(real)
        try:
            children = sorted(folder.iterdir())
        except OSError:
            continue
        names = {c.name for c in children}
        if folder != root:  # the root itself is a store, never one model
            if "model_index.json" in names:
                yield folder, "diffusers", []
                continue
            if _is_weights_folder(names):
                yield folder, "other", []
                continue
        files = []
        for child in children:
            if child.is_dir():
                if not child.name.startswith("."):  # .git, .cache (partial downloads)
                    stack.append(child)
            elif child.is_file():
                files.append(child)
        yield folder, "files", files


def scan_folder(root: Path, source: str = MODELS_DIR) -> list[InventoryEntry]:
    """GGUFs, diffusers folders and single-file checkpoints under `root`, recursively.

    Names are paths relative to `root` (LM Studio: `publisher/repo/file.gguf`).
    """
    if not root.is_dir():
        return []
    found: list[InventoryEntry] = []

    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix() if path != root else root.name

    ggufs: list[Path] = []
    for folder, what, files in _walk_models(root):
        if what == "diffusers":
            pipeline, error = pipeline_class(folder / "model_index.json")
            found.append(
                InventoryEntry(
                    rel(folder), "diffusers", folder, unique_size(tree_files(folder)), source,
                    pipeline=pipeline, error=error, files=(folder,), store=root,
                )
            )  # fmt: skip
        elif what == "other":
            found.append(
                InventoryEntry(
                    rel(folder), "other", folder, unique_size(tree_files(folder)), source,
                    files=(folder,), store=root,
                )
            )  # fmt: skip
        for path in files:
            lower = path.name.lower()
            if lower.endswith(".gguf"):
                ggufs.append(path)
            elif lower.endswith(CHECKPOINT_SUFFIXES):
                found.append(
                    InventoryEntry(
                        rel(path), "checkpoint", path, _stat_size(path), source,
                        files=(path,), store=root,
                    )
                )  # fmt: skip
    for group in split_groups(ggufs):
        found.append(gguf_entry(rel(group[0]), group, source, root))
    found = pair_projectors(found, floor=root)
    return sorted(found, key=lambda e: e.name.lower())


def scan_lmstudio(dirs: Iterable[Path]) -> list[InventoryEntry]:
    """LM Studio's models folders, laid out `<publisher>/<repo>/<file>.gguf`."""
    found: list[InventoryEntry] = []
    seen: set[Path] = set()
    for folder in dirs:
        folder = folder.expanduser()
        if real_path(folder) in seen:
            continue
        seen.add(real_path(folder))
        found.extend(scan_folder(folder, LM_STUDIO))
    return found
