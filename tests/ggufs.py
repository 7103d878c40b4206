"""Small GGUF files for bad-input tests, written with the `gguf` package."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_gguf(path: Path, architecture: str = "notarealarch") -> Path:
    """A valid GGUF container whose architecture llama.cpp does not know."""
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name(path.stem)
    writer.add_context_length(128)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_truncated(path: Path, source: Path, keep: int = 4_000_000) -> Path:
    """The first `keep` bytes of a real model: a header that promises more data."""
    with source.open("rb") as src:
        path.write_bytes(src.read(keep))
    return path
