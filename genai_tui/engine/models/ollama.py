"""Ollama's content-addressed store: manifests (`manifests/<host>/<ns>/<model>/<tag>`)
pointing to `blobs/sha256-<hex>`, read as models; deleting a tag frees only the blobs
no other readable tag uses."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai_tui.engine.models.local_stores import (
    OLLAMA,
    DeleteRefusedError,
    InventoryEntry,
    gguf_entry,
    unique_size,
)
from genai_tui.engine.models.model_files import inside, prune_empty, remove

OLLAMA_REGISTRY = "registry.ollama.ai"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

@dataclass(frozen=True, slots=True)
class OllamaManifest:
    name: str  # as `ollama list` shows it: "llama3.2:3b", "user/model:tag", "hf.co/org/repo:Q4_K_M"
    manifest: Path
    model_blob: Path | None  # the GGUF
    blobs: tuple[Path, ...]  # every blob it references (layers and config)
    error: str | None = None
    known_blobs: bool = True  # False: unreadable, so which blobs it uses is not known


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
            "to repair it, or delete this entry.", known_blobs=False,
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
    return OllamaManifest(name, manifest, model_blob, tuple(dict.fromkeys(blobs)), error,
                          known_blobs=not bad)  # fmt: skip


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



def delete_ollama(entry: InventoryEntry) -> int:
    """Delete an Ollama manifest and the blobs no other manifest references."""
    store = entry.store
    assert store is not None
    manifest = next((p for p in entry.files if inside(p, store / "manifests")), None)
    if manifest is None:
        raise DeleteRefusedError(
            f"{entry.name} has no manifest in {store}.",
            f"Rescan the local models; `ollama rm {entry.name}` also works.",
        )
    target = read_ollama_manifest(store, manifest) if manifest.is_file() else None
    kept: set[Path] = set()
    for other in read_ollama(store):
        if other.manifest == manifest:
            continue
        if not other.known_blobs and target is not None and target.blobs:
            # Its blobs may be this model's too: deleting them could break that tag.
            raise DeleteRefusedError(
                f"Not deleting {entry.name}: the Ollama manifest {other.manifest} cannot be "
                "read, so it is not known whether it shares blobs with this model.",
                f"Repair or remove {other.name} first (`ollama pull {other.name}` or "
                f"`ollama rm {other.name}`), or use `ollama rm {entry.name}`.",
            )
        kept.update(other.blobs)
    freed = remove(manifest)
    if target is not None:
        for blob in target.blobs:
            if blob not in kept and inside(blob, store / "blobs"):
                freed += remove(blob)
    prune_empty(manifest.parent, store / "manifests")
    return freed


