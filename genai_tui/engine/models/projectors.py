"""Vision GGUF models and their projector (the `mmproj*.gguf` file llama.cpp's multimodal
handlers take as `clip_model_path`): which model on disk goes with which projector.

A projector pairs with the chat models in its own folder, or below it within one model's
place (an HF snapshot, an LM Studio `<publisher>/<repo>` folder), never across stores.
Among several, one whose name shares the model's stem wins, then f16, then the smallest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from genai_tui.engine.models.names import (
    PROJECTOR_ARCHITECTURES,
    QUANT,
    SPLIT_SUFFIX,
    is_projector_name,
    projector_preference,
)

if TYPE_CHECKING:
    from genai_tui.engine.models.local_stores import InventoryEntry


def is_projector(architecture: str | None, path: Path) -> bool:
    """A vision projector: its header says "clip", or (unreadable) its name says mmproj."""
    if architecture is not None:
        return architecture in PROJECTOR_ARCHITECTURES
    return is_projector_name(path.name)


def _stem_words(name: str) -> str:
    """A file name without extension, split suffix, quantization and "mmproj"."""
    stem = SPLIT_SUFFIX.sub("", name.lower()).removesuffix(".gguf")
    stem = QUANT.sub("", stem).replace("mmproj", "")
    return "".join(ch for ch in stem if ch.isalnum())


def _shares_stem(model: Path, projector: Path) -> bool:
    words = _stem_words(projector.name)
    return bool(words) and words in _stem_words(model.name)


def _within(folder: Path, ancestor: Path, floor: Path | None) -> bool:
    """`ancestor` is `folder` or above it, and strictly below `floor` (a store's root,
    whose loose projectors belong to its top-level models only)."""
    if folder == ancestor:
        return True
    if floor is not None and ancestor == floor:
        return False
    return ancestor in folder.parents and (floor is None or floor in ancestor.parents)


def choose_projector(model: Path, projectors: Iterable[tuple[Path, int]],
                     floor: Path | None = None) -> Path | None:  # fmt: skip
    """The projector (path, size) for the model file `model`, or None."""
    near = [(p, size) for p, size in projectors if _within(model.parent, p.parent, floor)]
    if not near:
        return None
    # The closest folder first, then a shared stem, then f16, then the smallest.
    best = min(near, key=lambda ps: (len(model.parent.parts) - len(ps[0].parent.parts),
                                     not _shares_stem(model, ps[0]),
                                     projector_preference(ps[0].name, ps[1])))  # fmt: skip
    return best[0]


def pair_projectors(entries: list[InventoryEntry], floor: Path | None = None
                    ) -> list[InventoryEntry]:  # fmt: skip
    """`entries` with each GGUF chat model's `projector` set (same folder or above, below
    `floor`); the projectors stay entries of their own (they take space; they are not
    chat models: their architecture is "clip")."""
    projectors = [(e.path, e.size) for e in entries
                  if e.kind == "gguf" and is_projector(e.architecture, e.path)]  # fmt: skip
    if not projectors:
        return entries
    out = []
    for entry in entries:
        if entry.kind == "gguf" and entry.is_chat_architecture:
            found = choose_projector(entry.path, projectors, floor)
            if found is not None:
                entry = dataclasses.replace(entry, projector=found)
        out.append(entry)
    return out


def projector_beside(model: Path) -> Path | None:
    """The projector for a model file given by its path (`-m PATH.gguf`): one in its folder
    (by header, else by name), chosen as `choose_projector` does."""
    from genai_tui.engine.models.local_stores import gguf_fields

    try:
        siblings = [p for p in model.parent.iterdir()
                    if p.name.lower().endswith(".gguf") and p != model and p.is_file()]  # fmt: skip
    except OSError:
        return None
    found = []
    for path in siblings:
        if is_projector(gguf_fields(path).get("architecture"), path):
            try:
                found.append((path, path.stat().st_size))
            except OSError:
                continue
    return choose_projector(model, found)
