"""What model file names say, in one place: split-model parts, quantizations, vision
projectors, and the GGUF architectures that are not chat models.

Only the Hub (before a file is downloaded) and a GGUF whose header cannot be read are
judged by name; a readable GGUF is a chat model or not by its header's architecture.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# "name-00001-of-00003.gguf": one part of a split model.
SPLIT = re.compile(r"^(?P<stem>.+)-(?P<part>\d+)-of-(?P<total>\d+)\.gguf$", re.IGNORECASE)
# The split suffix alone, to strip it from a name.
SPLIT_SUFFIX = re.compile(r"-\d+-of-\d+\.gguf$", re.IGNORECASE)
# Part 2, 3, ... of a split model: part 1 is the one to load.
LATER_SPLIT = re.compile(r"-(?!0*1-)\d+-of-\d+\.gguf$", re.IGNORECASE)
# A quantization as people name it in files and repos: Q4_K_M, IQ2_XS, Q8_0, BF16, ...
QUANT = re.compile(
    r"(?<![A-Za-z0-9])(IQ[1-4]_(?:XXS|XS|NL|S|M)|I?Q[2-8]_K(?:_(?:XL|S|M|L))?|Q[4-8]_[01]"
    r"|TQ[12]_0|MXFP4|BF16|FP16|F16|FP32|F32)(?![A-Za-z0-9])",
    re.IGNORECASE,
)
# The shard suffix of sharded safetensors / .bin weights: "model-00001-of-00004.safetensors".
WEIGHT_SHARD = r"-\d{5}-of-\d{5}"
# Image and video diffusion models stored as GGUF (ComfyUI-GGUF's architectures).
DIFFUSION_ARCHITECTURES = frozenset(
    {"flux", "sd1", "sdxl", "sd3", "aura", "hidream", "cosmos", "ltxv", "hyvid", "wan",
     "lumina2", "qwen_image"}
)  # fmt: skip
# GGUF architectures that are not language models one can chat with: vision projectors
# (mmproj files say "clip"), embedding and encoder-only models, diffusion models.
NOT_CHAT_ARCHITECTURES = (
    frozenset({"clip", "bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "t5encoder"})
    | DIFFUSION_ARCHITECTURES
)


def quant_in_name(path: str) -> str | None:
    """The quantization named in a file's name (or, failing that, its folders)."""
    for part in reversed(PurePosixPath(path).parts):
        matches = QUANT.findall(part)
        if matches:
            quant = matches[-1].upper()
            return {"FP16": "F16", "FP32": "F32"}.get(quant, quant)
    return None


def is_later_split_part(name: str) -> bool:
    return LATER_SPLIT.search(name) is not None


def is_projector_name(path: str) -> bool:
    """A vision projector by its file name ("mmproj-model-f16.gguf", "x-mmproj-f16.gguf"):
    for Hub listings and unreadable headers; a readable header says "clip" instead."""
    return "mmproj" in PurePosixPath(path).name.lower()


# The GGUF architecture a vision projector's header names (llama.cpp's mmproj files).
PROJECTOR_ARCHITECTURES = frozenset({"clip"})


def projector_preference(name: str, size: int) -> tuple[int, int, str]:
    """How good a choice a projector file is among several (lower first): f16 first (what
    llama.cpp's own `-hf` pairing and most repos ship), then bf16, then the smallest."""
    quant = quant_in_name(name)
    rank = {"F16": 0, "BF16": 1}.get(quant or "", 2)
    return rank, size, name.lower()
