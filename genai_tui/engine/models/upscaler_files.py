"""Upscaler model files (ESRGAN and its family): which files on disk are one, read
without torch and without unpickling anything.

A1111 and ComfyUI keep them as `.pth` (a pickled state dict) or `.safetensors`. They
are told apart from Stable Diffusion checkpoints and LoRAs by their tensor names:
ESRGAN's old layout (`model.0.weight`, `model.1.sub.N...`), the new one shared by
RRDBNet, SwinIR, HAT and DAT (`conv_first.weight`), and Real-ESRGAN's compact
SRVGGNet (`body.0.weight`, `body.1.weight`). For a `.safetensors` file the names are
in its JSON header; for a `.pth` file they are strings in its pickle (`data.pkl`
inside torch's zip format), found by a byte search: nothing is unpickled here.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genai_tui.engine.models.local_stores import InventoryEntry

UPSCALER = "upscaler"
SUFFIXES = (".pth", ".safetensors")
_MAX_HEADER = 100 * 1024 * 1024
_MAX_PICKLE = 8 * 1024 * 1024  # a state dict's pickle (names and storage refs) is small
# Any one of these groups of tensor names marks an upscaler.
_MARKS: tuple[tuple[str, ...], ...] = (
    ("conv_first.weight",),  # RRDBNet (new layout), SwinIR, HAT, DAT, ...
    ("model.0.weight", "model.1.sub."),  # ESRGAN (old layout)
    ("body.0.weight", "body.1.weight"),  # Real-ESRGAN compact (SRVGGNetCompact)
)
_NOT = ("lora", "diffusion_model", "first_stage_model", "double_blocks")


def _marked(names: str) -> bool:
    """`names`: every tensor name, joined by newlines."""
    if any(word in names for word in _NOT):
        return False
    return any(all(mark in names for mark in group) for group in _MARKS)


def _safetensors_names(path: Path) -> str:
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 2 <= size <= _MAX_HEADER:
            return ""
        header = json.loads(f.read(size).decode("utf-8"))
    return "\n".join(header) if isinstance(header, dict) else ""


def _pickle_names(path: Path) -> str:
    """The bytes of a `.pth` pickle, as text: tensor names appear in it verbatim."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            pickles = [i for i in z.infolist() if i.filename.endswith("data.pkl")]
            if not pickles or pickles[0].file_size > _MAX_PICKLE:
                return ""
            data = z.read(pickles[0])
    else:  # torch's legacy format: the pickle comes first
        with open(path, "rb") as f:
            data = f.read(_MAX_PICKLE)
    return data.decode("latin-1")


def is_upscaler_file(path: Path) -> bool:
    """Whether `path` (a .pth or .safetensors file) holds an ESRGAN-family upscaler."""
    try:
        if path.suffix.lower() == ".safetensors":
            return _marked(_safetensors_names(path))
        if path.suffix.lower() == ".pth":
            return _marked(_pickle_names(path))
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    return False


def as_upscaler(entry: InventoryEntry) -> InventoryEntry:
    """A scanned single-file checkpoint that is an upscaler becomes kind "upscaler"."""
    if entry.kind != "checkpoint" or entry.path.suffix.lower() != ".safetensors":
        return entry
    if not (entry.path.is_file() and is_upscaler_file(entry.path)):
        return entry
    return dataclasses.replace(entry, kind=UPSCALER)


def scan_upscaler_pths(root: Path, source: str) -> list[InventoryEntry]:
    """`.pth` upscalers under `root` (A1111 keeps them in models/ESRGAN, models/RealESRGAN),
    kind "upscaler"; other `.pth` files are not listed (the scanner lists no .pth)."""
    from genai_tui.engine.models.local_stores import InventoryEntry

    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.pth")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file() and is_upscaler_file(path):
            name = path.relative_to(root).as_posix()
            found.append(InventoryEntry(name, UPSCALER, path, path.stat().st_size, source,
                                        files=(path,), store=root))  # fmt: skip
    return found
