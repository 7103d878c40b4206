"""Models in the Hugging Face cache, read with `huggingface_hub.scan_cache_dir`: one entry
per GGUF choice, else one per revision; a damaged repo folder is shown with the reason
(and its GGUF files that are whole)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genai_tui.engine.models.local_stores import (
    CHECKPOINT_SUFFIXES,
    HF_CACHE,
    InventoryEntry,
    gguf_entry,
    pipeline_class,
    real_path,
    split_groups,
    tree_files,
    unique_size,
)
from genai_tui.engine.models.projectors import pair_projectors


def _hf_kind(rel_files: dict[str, Any]) -> str:
    top = {name for name in rel_files if "/" not in name}
    if "model_index.json" in top:
        return "diffusers"
    if "config.json" in top:
        return "other"
    if any(name.lower().endswith(CHECKPOINT_SUFFIXES) for name in top):
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
    store: Path = getattr(info, "cache_dir", None) or real_path(cache)
    entries: list[InventoryEntry] = []
    scanned = set()
    for repo in sorted(info.repos, key=lambda r: r.repo_id.lower()):
        scanned.add(real_path(repo.repo_path))
        if repo.repo_type != "model":
            continue
        revisions = sorted(repo.revisions, key=lambda r: ("main" not in r.refs, -r.last_modified))
        for rev in revisions:
            suffix = "" if len(revisions) == 1 or "main" in rev.refs else f"@{rev.commit_hash[:7]}"
            entries.extend(_hf_revision(repo.repo_id, rev, store, suffix))
    # Repos scan_cache_dir skipped as corrupted (one dangling link is enough) still take
    # space: show them with the reason, and their GGUF files that are whole.
    for repo_dir in sorted(Path(store).glob("models--*")):
        if real_path(repo_dir) in scanned or not repo_dir.is_dir():
            continue
        why = next((str(w) for w in info.warnings if str(repo_dir) in str(w)), "")
        repo_id = repo_dir.name.removeprefix("models--").replace("--", "/")
        entries.extend(_readable_ggufs(repo_id, repo_dir, Path(store)))
        entries.append(
            InventoryEntry(
                repo_id, "other", repo_dir, unique_size(tree_files(repo_dir)), HF_CACHE,
                repo_id=repo_id,
                error=f"The cache folder of {repo_id} is damaged ({why or 'unreadable'}). "
                "Delete this entry and download the model again.",
                files=(repo_dir,), store=Path(store),
            )
        )  # fmt: skip
    return entries


def _readable_ggufs(repo_id: str, repo_dir: Path, store: Path) -> list[InventoryEntry]:
    """The GGUF models of a damaged cache folder whose files are all there."""
    out = []
    for snapshot in sorted((repo_dir / "snapshots").glob("*")):
        ggufs = [p for p in sorted(snapshot.rglob("*")) if p.name.lower().endswith(".gguf")
                 and p.is_file()]  # fmt: skip
        for group in split_groups(ggufs):
            rel = group[0].relative_to(snapshot).as_posix()
            out.append(gguf_entry(f"{repo_id}/{rel}", group, HF_CACHE, store, repo_id=repo_id,
                                  revision=snapshot.name))  # fmt: skip
    return pair_projectors(out)


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
        return pair_projectors(out)  # one revision's snapshot
    kind = _hf_kind(by_rel)
    path, pipeline, error = rev.snapshot_path, None, None
    if kind == "diffusers":
        pipeline, error = pipeline_class(rev.snapshot_path / "model_index.json")
    elif kind == "checkpoint":
        top = [r for r in by_rel if "/" not in r and r.lower().endswith(CHECKPOINT_SUFFIXES)]
        if len(top) == 1:
            path = by_rel[top[0]].file_path
    return [
        InventoryEntry(
            f"{repo_id}{suffix}", kind, path, rev.size_on_disk, HF_CACHE,
            pipeline=pipeline, error=error, files=(rev.snapshot_path,), store=store, **common,
        )
    ]  # fmt: skip
