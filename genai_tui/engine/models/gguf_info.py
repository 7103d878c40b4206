"""Read a GGUF file's header (metadata and tensor table) without loading weights.

Used to check a file before handing it to llama.cpp, so a wrong or damaged
file gets a message that names the problem, and to size the model.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from genai_tui.engine.core.errors import ModelNotFoundError, NotGGUFError, TruncatedModelError

MAGIC = b"GGUF"

# ggml type id -> (elements per block, bytes per block)
GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
    8: (32, 34), 9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144),
    13: (256, 176), 14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74),
    18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36),
    41: (128, 18), 42: (64, 18),
}  # fmt: skip

# general.file_type -> the quantization name people use
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4", 39: "NVFP4", 40: "Q1_0",
}  # fmt: skip

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
# Arrays longer than this (token lists) are skipped, not kept.
_KEEP_ARRAY = 64


class _EOF(Exception):
    pass


@dataclass
class GGUFInfo:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensor_count: int
    file_size: int
    data_end: int | None = None  # where the last tensor's bytes end; None if unknown
    tensor_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    def _arch(self, key: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}")

    @property
    def context_length(self) -> int | None:
        return _whole(self._arch("context_length"))

    @property
    def block_count(self) -> int | None:
        return _whole(self._arch("block_count"))

    @property
    def quantization(self) -> str | None:
        ft = _whole(self.metadata.get("general.file_type"))
        return FILE_TYPES.get(ft) if ft is not None else None

    @property
    def has_chat_template(self) -> bool:
        return bool(self.metadata.get("tokenizer.chat_template"))

    @property
    def truncated(self) -> bool:
        return self.data_end is not None and self.data_end > self.file_size

    def kv_bytes_per_token(self) -> int | None:
        """Bytes of f16 KV cache one token of context costs, from the header."""
        layers = self.block_count
        heads = self._arch("attention.head_count")
        kv_heads = self._arch("attention.head_count_kv") or heads
        embd = self._arch("embedding_length")
        if not (layers and heads and embd):
            return None
        key_len = self._arch("attention.key_length") or embd // heads
        value_len = self._arch("attention.value_length") or embd // heads
        return int(layers) * int(kv_heads) * (int(key_len) + int(value_len)) * 2


def _read(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _EOF
    return data


def _unpack(f: IO[bytes], fmt: str) -> Any:
    return struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]


def _string(f: IO[bytes]) -> str:
    n = _unpack(f, "<Q")
    if n > 1 << 30:
        raise _EOF
    return _read(f, n).decode("utf-8", errors="replace")


def _value(f: IO[bytes], vtype: int) -> Any:
    if vtype in _SCALARS:
        return _unpack(f, _SCALARS[vtype])
    if vtype == _STRING:
        return _string(f)
    if vtype == _ARRAY:
        itype = _unpack(f, "<I")
        count = _unpack(f, "<Q")
        if itype in _SCALARS and count > _KEEP_ARRAY:
            size = struct.calcsize(_SCALARS[itype]) * count
            f.seek(size, 1)
            return f"<array of {count}>"
        items = [_value(f, itype) for _ in range(count)]
        return items if count <= _KEEP_ARRAY else f"<array of {count}>"
    raise ValueError(f"unknown GGUF value type {vtype}")


def _whole(value: Any) -> int | None:
    """A metadata value as a whole number; None when a damaged header says otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse the header of `path`. Raises ModelError subclasses with a fix in the hint."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"Model file not found: {path}.",
            "Check the path, or pick a model from the list (ctrl+o in chat, `genai-tui models`).",
        )
    with path.open("rb") as f:
        return _parse(f, path, path.stat().st_size)


def parse_gguf_header(data: bytes, file_size: int, name: str = "model.gguf") -> GGUFInfo:
    """Parse a GGUF header from the first bytes of a file of `file_size` bytes.

    Used on a prefix fetched over HTTP: raises TruncatedModelError when `data`
    ends before the header does (fetch more and try again), NotGGUFError when
    it is not a GGUF file.
    """
    return _parse(io.BytesIO(data), Path(name), file_size)


def _parse(f: IO[bytes], path: Path, file_size: int) -> GGUFInfo:
    magic = f.read(4)
    if magic != MAGIC:
        raise NotGGUFError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF').",
            "Chat needs a .gguf model; convert it with llama.cpp's convert_hf_to_gguf.py "
            "or download a GGUF build of the model.",
        )
    try:
        version = _unpack(f, "<I")
        tensor_count = _unpack(f, "<Q")
        kv_count = _unpack(f, "<Q")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = _string(f)
            metadata[key] = _value(f, _unpack(f, "<I"))
        ends: list[int] = []
        total = 0
        known = True
        for _ in range(tensor_count):
            _string(f)
            n_dims = _unpack(f, "<I")
            elements = 1
            for _ in range(n_dims):
                elements *= _unpack(f, "<Q")
            ttype = _unpack(f, "<I")
            offset = _unpack(f, "<Q")
            block = GGML_BLOCKS.get(ttype)
            if block is None:
                known = False
                continue
            nbytes = elements // block[0] * block[1]
            total += nbytes
            ends.append(offset + nbytes)
        header_end = f.tell()
    except (_EOF, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise TruncatedModelError(
            f"{path} is damaged or incomplete: its GGUF header ends early "
            f"({file_size:,} bytes on disk).",
            "An interrupted download is the usual cause: download the file again.",
        ) from exc
    alignment = _whole(metadata.get("general.alignment")) or 32
    if not 0 < alignment <= 1 << 20:
        raise TruncatedModelError(
            f"{path} is damaged: its GGUF header gives an impossible alignment ({alignment}).",
            "Download the file again.",
        )
    data_start = (header_end + alignment - 1) // alignment * alignment
    data_end = data_start + max(ends, default=0) if known else None
    info = GGUFInfo(path, version, metadata, tensor_count, file_size, data_end, total)
    if info.truncated:
        assert data_end is not None
        raise TruncatedModelError(
            f"{path} is incomplete: {file_size:,} of {data_end:,} bytes are on disk.",
            "An interrupted download is the usual cause: download the file again.",
        )
    return info
