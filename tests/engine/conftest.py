"""Fixtures for engine tests: small GGUF files written with the `gguf` package, and broken ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WriteGGUF = Callable[..., Path]


@pytest.fixture
def write_gguf(tmp_path: Path) -> WriteGGUF:
    """Write a small GGUF with GGUFWriter: chosen architecture, metadata and tensors.

    `tensors` maps names to numpy arrays (f32/f16 stored as is) or to
    (bytes-array, GGMLQuantizationType) for quantized data.
    """
    import gguf
    import numpy as np

    def write(
        name: str = "tiny.gguf",
        arch: str = "llama",
        *,
        metadata: dict[str, Any] | None = None,
        tensors: dict[str, Any] | None = None,
        alignment: int | None = None,
    ) -> Path:
        path = tmp_path / name
        writer = gguf.GGUFWriter(str(path), arch)
        if alignment:
            writer.add_custom_alignment(alignment)
        writer.add_name(f"tiny {arch}")
        writer.add_context_length(64)
        writer.add_embedding_length(8)
        writer.add_block_count(1)
        writer.add_head_count(2)
        writer.add_feed_forward_length(16)
        for key, value in (metadata or {}).items():
            if isinstance(value, str):
                writer.add_string(key, value)
            elif isinstance(value, bool):
                writer.add_bool(key, value)
            elif isinstance(value, int):
                writer.add_uint32(key, value)
            elif isinstance(value, float):
                writer.add_float32(key, value)
            else:
                writer.add_array(key, value)
        if tensors is None:
            tensors = {"token_embd.weight": np.zeros((16, 8), dtype=np.float32)}
        for tname, data in tensors.items():
            if isinstance(data, tuple):
                raw, qtype = data
                writer.add_tensor(tname, raw, raw_dtype=qtype)
            else:
                writer.add_tensor(tname, data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path

    return write


@pytest.fixture
def not_gguf(tmp_path: Path) -> Path:
    """A file named .gguf that is not one (an HTML error page saved by a downloader)."""
    path = tmp_path / "error-page.gguf"
    path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    return path


def _head(src: Path, dst: Path, size: int) -> Path:
    with src.open("rb") as f:
        dst.write_bytes(f.read(size))
    return dst


@pytest.fixture
def truncated_header(tmp_path: Path, smollm_path: Path) -> Path:
    """The real model cut off inside its metadata (the tokenizer's token list)."""
    return _head(smollm_path, tmp_path / "cut-header.gguf", 200_000)


@pytest.fixture
def truncated_data(tmp_path: Path, smollm_path: Path) -> Path:
    """The real model cut off inside its tensor data: an interrupted download."""
    return _head(smollm_path, tmp_path / "cut-data.gguf", smollm_path.stat().st_size // 2)


@pytest.fixture
def unknown_arch(write_gguf: WriteGGUF) -> Path:
    """A well-formed GGUF whose architecture llama.cpp does not know."""
    return write_gguf("future-model.gguf", "notarealarch")


@pytest.fixture
def store(tmp_path: Path):
    """A fresh store (database) in the test's data dir."""
    from genai_tui.engine.core.store import Store

    s = Store(tmp_path / "data" / "genai-tui.sqlite3")
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """An empty Hugging Face cache folder for download tests."""
    return tmp_path / "hf-cache"
