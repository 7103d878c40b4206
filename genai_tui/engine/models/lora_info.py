"""LoRA files: what a `.safetensors` header says, read without torch.

A safetensors file starts with an 8-byte little-endian length and that many bytes of
JSON: each tensor's dtype, shape and offsets, and an optional `__metadata__` of
strings (kohya's sd-scripts and A1111 write `ss_base_model_version`,
`ss_sd_model_name`, `modelspec.architecture`, `sshs_model_hash` there). From it:
is the file a LoRA, and for which model family. The hash A1111 records for a LoRA
(`Lora hashes`) is kohya's: SHA-256 of the bytes after the header, 12 hex digits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genai_tui.engine.models.local_stores import InventoryEntry

MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit
FAMILIES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL", "sd3": "SD3", "flux": "Flux"}
LONG_NAMES = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x"}
# Cross-attention width (the text encoder's hidden size the UNet attends to).
CONTEXT_WIDTHS = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
_LORA_KEY = re.compile(r"(lora_(down|up|A|B)|lora\.(down|up)|lora_linear_layer)\.")
_CROSS_ATTN_K = re.compile(r"attn2[._]to_k.*(lora_down|lora_A|lora\.down)\.weight$")


def family_name(family: str | None, long: bool = False) -> str:
    """"SDXL", "SD 1.x" (long: "Stable Diffusion 1.x"); "" for an unknown family."""
    if family is None:
        return ""
    return (LONG_NAMES if long else {}).get(family) or FAMILIES.get(family, family)


@dataclass(frozen=True, slots=True)
class LoraInfo:
    """What a safetensors header says: a LoRA or not, its family, kohya's hash."""

    is_lora: bool
    family: str | None = None  # a FAMILIES key; None when neither metadata nor shapes tell
    hash: str = ""  # `sshs_model_hash` when the file carries it (else computed on use)
    error: str | None = None


def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file. Raises ValueError for a file that is not one,
    OSError when it cannot be read."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("too short for a safetensors header")
        size = int.from_bytes(head, "little")
        if not 2 <= size <= MAX_HEADER:
            raise ValueError(f"header length {size} is not plausible")
        raw = f.read(size)
    if len(raw) != size:
        raise ValueError("the header is cut short")
    header = json.loads(raw.decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header


def _from_metadata(meta: dict[str, Any]) -> str | None:
    arch = str(meta.get("modelspec.architecture") or "").lower()
    version = str(meta.get("ss_base_model_version") or "").lower()
    for text in (arch, version):
        if not text:
            continue
        if "xl" in text:
            return "sdxl"
        if "flux" in text:
            return "flux"
        if "stable-diffusion-3" in text or text.startswith("sd3"):
            return "sd3"
        if "v2" in text or "sd_2" in text:
            return "sd2"
        if "v1" in text or "sd_1" in text:
            return "sd1"
    return None


def _from_keys(tensors: dict[str, Any]) -> str | None:
    keys = list(tensors)
    if any(k.startswith(("lora_te2_", "text_encoder_2.")) for k in keys):
        return "sdxl"
    transformer = ("lora_transformer_", "transformer.", "diffusion_model.",
                   "lora_unet_double_blocks", "lora_unet_single_blocks")  # fmt: skip
    if any(k.startswith(transformer) for k in keys):
        flux = any("single_transformer_blocks" in k or "single_blocks" in k for k in keys)
        return "flux" if flux else "sd3"
    for key in keys:
        if _CROSS_ATTN_K.search(key):
            shape = tensors[key].get("shape") if isinstance(tensors[key], dict) else None
            if isinstance(shape, list) and len(shape) == 2:
                return CONTEXT_WIDTHS.get(int(shape[1]))
    return None


def _from_model_name(meta: dict[str, Any]) -> str | None:
    """The base checkpoint's file name, when nothing better says: a hint, tried last."""
    name = str(meta.get("ss_sd_model_name") or "").lower()
    if not name:
        return None
    if "xl" in name:
        return "sdxl"
    if meta.get("ss_v2") == "True" or re.search(r"v2|2[-._]1|2[-._]0", name):
        return "sd2"
    if re.search(r"v1|1[-._]5|1[-._]4", name):
        return "sd1"
    return None


def header_info(header: dict[str, Any]) -> LoraInfo:
    """Whether a header is a LoRA's (its keys name LoRA down/up or A/B weights, or
    kohya's metadata names a network module) and the family it was trained for."""
    meta = header.get("__metadata__")
    meta = meta if isinstance(meta, dict) else {}
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    lora = any(_LORA_KEY.search(k) for k in tensors) or "lora" in str(
        meta.get("ss_network_module") or meta.get("modelspec.architecture") or ""
    ).lower()
    if not lora:
        return LoraInfo(False)
    family = _from_metadata(meta) or _from_keys(tensors) or _from_model_name(meta)
    shown_hash = str(meta.get("sshs_model_hash") or "")
    return LoraInfo(True, family, shown_hash[:12] if re.fullmatch(r"[0-9a-f]{12,}", shown_hash)
                    else "")  # fmt: skip


# (real path, size, mtime_ns) -> info / hash: a rescan reads nothing twice.
_INFOS: dict[tuple[str, int, int], LoraInfo] = {}
_HASHES: dict[tuple[str, int, int], str] = {}


def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
        return str(path.resolve()), st.st_size, st.st_mtime_ns
    except (OSError, RuntimeError):
        return None


def lora_info(path: Path) -> LoraInfo:
    """`header_info` of a file (cached per file version). A file that cannot be read, or
    is no safetensors file, is not a LoRA (the scan lists it as a checkpoint)."""
    key = _key(path)
    if key is not None and (known := _INFOS.get(key)) is not None:
        return known
    try:
        info = header_info(read_header(path))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        info = LoraInfo(False, error=f"{path.name}: {exc}")
    if key is not None:
        if len(_INFOS) > 4096:
            _INFOS.clear()
        _INFOS[key] = info
    return info


def lora_hash(path: Path) -> str:
    """A1111's short hash of a LoRA (kohya's `addnet` SHA-256 of the tensor data, 12 hex
    digits): `sshs_model_hash` when the file carries it, else computed once per version."""
    key = _key(path)
    if key is not None and (known := _HASHES.get(key)) is not None:
        return known
    value = lora_info(path).hash
    if not value:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            f.seek(8 + int.from_bytes(f.read(8), "little"))
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        value = digest.hexdigest()[:12]
    if key is not None:
        _HASHES[key] = value
    return value


def as_lora(entry: InventoryEntry) -> InventoryEntry:
    """A scanned single-file checkpoint that is a LoRA becomes kind "lora", its
    `architecture` the family it was made for ("SDXL"; None when nothing says)."""
    if entry.kind != "checkpoint" or entry.path.suffix.lower() != ".safetensors":
        return entry
    info = lora_info(entry.path) if entry.path.is_file() else LoraInfo(False)
    if not info.is_lora:
        return entry
    return dataclasses.replace(entry, kind="lora", architecture=family_name(info.family) or None)
