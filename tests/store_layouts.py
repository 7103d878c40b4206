"""Model stores laid out on disk exactly as the tools that own them write them.

- `hf_cache_repo`: the Hugging Face hub cache, as `hf_hub_download` leaves it:
  `models--org--name/blobs/<etag>` (sha256 for LFS files, the git blob sha1 for
  the others), `snapshots/<commit>/<path>` relative symlinks to the blobs,
  `refs/main` holding the commit hash.
- `lmstudio_store`: LM Studio's models folder, `<publisher>/<repo>/<file>`.
- `ollama_store`: Ollama's store, `manifests/<host>/<namespace>/<model>/<tag>`
  (docker v2 manifests) and content-addressed `blobs/sha256-<hex>`.

File contents are bytes, or a Path to copy (to hard-link with `link=True`,
falling back to a symlink, for the 98 MB real model).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

Content = bytes | Path
LFS_SUFFIXES = (".gguf", ".safetensors", ".ckpt", ".bin", ".pt", ".pth", ".onnx")


@functools.lru_cache(maxsize=64)
def _sha256_of_file(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256(content: Content) -> str:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    st = content.stat()
    return _sha256_of_file(content.resolve(), st.st_size, st.st_mtime_ns)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _put(target: Path, content: Content, *, link: bool = False) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        target.write_bytes(content)
    elif link:
        try:
            os.link(content, target)
        except OSError:  # another filesystem
            target.symlink_to(content.resolve())
    else:
        shutil.copyfile(content, target)


def hf_cache_repo(
    cache: Path,
    repo_id: str,
    files: dict[str, Content],
    *,
    commit: str | None = None,
    ref: str | None = "main",
    repo_type: str = "model",
) -> Path:
    """One cached revision of `repo_id`; returns its snapshot folder."""
    repo_dir = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    if commit is None:
        seed = repo_id + "".join(sorted(files))
        commit = hashlib.sha1(seed.encode()).hexdigest()
    snapshot = repo_dir / "snapshots" / commit
    for rel, content in files.items():
        if rel.lower().endswith(LFS_SUFFIXES):
            etag = sha256(content)
        else:
            data = content if isinstance(content, bytes) else content.read_bytes()
            etag = git_blob_sha1(data)
        blob = repo_dir / "blobs" / etag
        if not blob.exists():
            _put(blob, content)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    snapshot.mkdir(parents=True, exist_ok=True)
    if ref:
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes
    return snapshot


def lmstudio_store(root: Path, files: dict[str, Content], *, link: bool = False) -> Path:
    """LM Studio's models folder: `files` maps `publisher/repo/file.gguf` to content."""
    for rel, content in files.items():
        _put(root / rel, content, link=link)
    root.mkdir(parents=True, exist_ok=True)
    return root


def ollama_manifest_path(store: Path, name: str) -> Path:
    """Where Ollama keeps the manifest of `name` ("smollm:135m", "me/m:q8", "hf.co/o/r:Q4")."""
    model, _, tag = name.partition(":")
    parts = model.split("/")
    if len(parts) == 1:
        parts = ["registry.ollama.ai", "library", *parts]
    elif len(parts) == 2:
        parts = ["registry.ollama.ai", *parts]
    return store.joinpath("manifests", *parts, tag or "latest")


def _blob(store: Path, content: Content, media_type: str, *, link: bool) -> dict:
    digest = sha256(content)
    path = store / "blobs" / f"sha256-{digest}"
    if not path.exists():
        _put(path, content, link=link)
    size = len(content) if isinstance(content, bytes) else content.stat().st_size
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": size}


def ollama_store(
    store: Path,
    models: dict[str, Content],
    *,
    template: str = "{{ .Prompt }}",
    params: dict[str, str | dict] | None = None,
    link: bool = False,
) -> Path:
    """Ollama's store with one manifest per name in `models` (name -> GGUF content).

    Each model gets a template layer (shared when equal, as in Ollama), a params
    layer unique to the name, and a config blob.
    """
    params = params or {}
    for name, gguf in models.items():
        layers = [
            _blob(store, gguf, "application/vnd.ollama.image.model", link=link),
            _blob(store, template.encode(), "application/vnd.ollama.image.template", link=False),
            _blob(
                store,
                json.dumps(params.get(name, {"stop": [f"<end of {name}>"]})).encode(),
                "application/vnd.ollama.image.params",
                link=False,
            ),
        ]
        config = json.dumps(
            {
                "model_format": "gguf",
                "model_family": "llama",
                "model_type": name,
                "file_type": "Q4_K_M",
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
            }
        ).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": _blob(
                store, config, "application/vnd.docker.container.image.v1+json", link=False
            ),
            "layers": layers,
        }
        path = ollama_manifest_path(store, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest))
    return store
