"""What GGUF file names say, in one place: split-model parts, quantizations, and the
architectures that are not chat models."""

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
# GGUF architectures that are not language models one can chat with: vision projectors
# (mmproj files say "clip"), embedding and encoder-only models.
NOT_CHAT_ARCHITECTURES = frozenset(
    {"clip", "bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "t5encoder"}
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
