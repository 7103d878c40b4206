"""The GGUF header reader: metadata of real and hand-written files, and damaged files."""

from __future__ import annotations

import ctypes
from pathlib import Path

import gguf
import numpy as np
import pytest

from genai_tui.engine.core.errors import (
    ModelError,
    ModelNotFoundError,
    NotGGUFError,
    TruncatedModelError,
)
from genai_tui.engine.models.gguf_info import FILE_TYPES, GGML_BLOCKS, read_gguf


def test_reads_the_real_model(smollm_path: Path) -> None:
    info = read_gguf(smollm_path)
    assert info.version == 3
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.block_count == 30
    assert info.quantization == "Q4_1"
    assert info.has_chat_template
    assert "<|im_start|>" in info.metadata["tokenizer.chat_template"]
    assert info.name.startswith("Smollm2 135M")
    # the 49k-entry token list is skipped, not kept in memory
    assert info.metadata["tokenizer.ggml.tokens"] == "<array of 49152>"
    assert not info.truncated
    # 30 layers x 3 KV heads x (64 + 64) dims x 2 bytes (f16)
    assert info.kv_bytes_per_token() == 30 * 3 * 128 * 2


def test_agrees_with_the_gguf_package(smollm_path: Path) -> None:
    info = read_gguf(smollm_path)
    reader = gguf.GGUFReader(smollm_path)
    assert info.tensor_count == len(reader.tensors)
    assert info.tensor_bytes == sum(int(t.n_bytes) for t in reader.tensors)
    assert info.data_end == max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    assert info.data_end == info.file_size
    for field in ("general.architecture", "llama.context_length", "general.file_type"):
        assert info.metadata[field] == reader.fields[field].contents()


def test_block_table_matches_the_gguf_package() -> None:
    both = [t for t in gguf.GGML_QUANT_SIZES if int(t) in GGML_BLOCKS]
    assert len(both) >= 30
    for qtype in both:
        if qtype == gguf.GGMLQuantizationType.Q8_1:
            # gguf-py still has the old 40-byte Q8_1 block (two f32); ggml's is 36 (two f16).
            # Q8_1 is an intermediate type that files do not use.
            continue
        assert GGML_BLOCKS[int(qtype)] == gguf.GGML_QUANT_SIZES[qtype], qtype.name
    # every type a current gguf writer can produce is known
    missing = {t.name for t in gguf.GGML_QUANT_SIZES if int(t) not in GGML_BLOCKS}
    assert not missing


def test_block_table_matches_the_ggml_library() -> None:
    """The same sizes as the ggml that llama-cpp-python ships (the authority)."""
    import llama_cpp

    libs = sorted((Path(llama_cpp.__file__).parent / "lib").glob("libggml-base.*"))
    if not libs:
        pytest.skip("libggml-base not found beside llama_cpp")
    ggml = ctypes.CDLL(str(libs[0]))
    ggml.ggml_type_size.restype = ctypes.c_size_t
    ggml.ggml_type_size.argtypes = [ctypes.c_int]
    ggml.ggml_blck_size.restype = ctypes.c_int64
    ggml.ggml_blck_size.argtypes = [ctypes.c_int]
    live = {}
    for t in range(llama_cpp.GGML_TYPE_COUNT):
        block = ggml.ggml_blck_size(t)
        if block > 0:  # removed types report 0
            live[t] = (block, ggml.ggml_type_size(t))
    assert GGML_BLOCKS == live


def test_file_type_names_match_the_gguf_package() -> None:
    for ftype in gguf.LlamaFileType:
        if ftype.name == "GUESSED":
            continue
        expected = ftype.name.removeprefix("MOSTLY_").removeprefix("ALL_").removesuffix("_MOE")
        assert FILE_TYPES.get(int(ftype)) == expected, ftype.name


def test_tiny_file_written_with_ggufwriter(write_gguf) -> None:
    q8 = gguf.quants.quantize(np.ones((2, 64), dtype=np.float32), gguf.GGMLQuantizationType.Q8_0)
    path = write_gguf(
        "tiny.gguf",
        "llama",
        alignment=64,
        metadata={
            "general.file_type": int(gguf.LlamaFileType.MOSTLY_Q8_0),
            "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
            "llama.attention.head_count_kv": 1,
            "test.small": [1, 2, 3],
            "test.big": list(range(100)),
            "test.words": [f"w{i}" for i in range(100)],
            "test.flag": True,
        },
        tensors={
            "a.weight": np.ones((3, 5), dtype=np.float32),  # 60 bytes
            "b.weight": np.ones((7,), dtype=np.float16),  # 14 bytes
            "c.weight": (q8, gguf.GGMLQuantizationType.Q8_0),  # 2 blocks x 34 x 2 rows
        },
    )
    info = read_gguf(path)
    assert info.architecture == "llama"
    assert info.name == "tiny llama"
    assert info.context_length == 64
    assert info.block_count == 1
    assert info.quantization == "Q8_0"
    assert info.has_chat_template
    assert info.metadata["general.alignment"] == 64
    assert info.metadata["test.small"] == [1, 2, 3]
    assert info.metadata["test.big"] == "<array of 100>"
    assert info.metadata["test.words"] == "<array of 100>"
    assert info.metadata["test.flag"] is True
    assert info.tensor_count == 3
    assert info.tensor_bytes == 60 + 14 + 136
    reader = gguf.GGUFReader(path)
    assert info.data_end == max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    assert not info.truncated
    # 1 layer x 1 KV head x (4 + 4) dims x 2 bytes
    assert info.kv_bytes_per_token() == 16


def test_no_architecture_keys(write_gguf) -> None:
    info = read_gguf(write_gguf("other.gguf", "notarealarch"))
    assert info.architecture == "notarealarch"
    assert info.quantization is None
    assert not info.has_chat_template


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.gguf"
    with pytest.raises(ModelNotFoundError) as err:
        read_gguf(path)
    assert str(path) in str(err.value)


def test_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        read_gguf(tmp_path)


@pytest.mark.parametrize("content", [b"", b"GGU", b"PK\x03\x04 a zip file", b"\x00" * 64])
def test_not_gguf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(NotGGUFError) as err:
        read_gguf(path)
    assert str(path) in str(err.value)
    assert "not a GGUF file" in str(err.value)
    assert "GGUF build" in err.value.hint


def test_html_page_saved_as_gguf(not_gguf: Path) -> None:
    with pytest.raises(NotGGUFError, match="<!DO"):
        read_gguf(not_gguf)


def test_truncated_in_the_header(truncated_header: Path) -> None:
    with pytest.raises(TruncatedModelError) as err:
        read_gguf(truncated_header)
    assert str(truncated_header) in str(err.value)
    assert "header ends early" in str(err.value)
    assert "download the file again" in err.value.hint


@pytest.mark.parametrize("size", [8, 20, 24, 4096])
def test_truncated_at_any_point_of_the_header(
    smollm_path: Path, tmp_path: Path, size: int
) -> None:
    path = tmp_path / "cut.gguf"
    with smollm_path.open("rb") as f:
        path.write_bytes(f.read(size))
    with pytest.raises(TruncatedModelError):
        read_gguf(path)


def test_truncated_in_the_tensor_data(truncated_data: Path, smollm_path: Path) -> None:
    with pytest.raises(TruncatedModelError) as err:
        read_gguf(truncated_data)
    message = str(err.value)
    assert str(truncated_data) in message
    on_disk = truncated_data.stat().st_size
    assert f"{on_disk:,} of {smollm_path.stat().st_size:,} bytes" in message


def test_one_byte_short_is_caught(write_gguf, tmp_path: Path) -> None:
    path = write_gguf("exact.gguf", alignment=32)
    info = read_gguf(path)
    assert info.data_end is not None
    cut = tmp_path / "short.gguf"
    cut.write_bytes(path.read_bytes()[: info.data_end - 1])
    with pytest.raises(TruncatedModelError):
        read_gguf(cut)
    cut.write_bytes(path.read_bytes()[: info.data_end])  # padding after the data is optional
    assert not read_gguf(cut).truncated


def test_every_error_is_a_model_error() -> None:
    for cls in (ModelNotFoundError, NotGGUFError, TruncatedModelError):
        assert issubclass(cls, ModelError)


def _header(kvs: list[tuple[str, int, bytes]], kv_count: int | None = None) -> bytes:
    """A GGUF v3 header with the given (key, type, packed value) pairs and no tensors."""
    import struct

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs) if kv_count is None else kv_count)
    for key, vtype, value in kvs:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + value
    return out


def _string(text: str) -> bytes:
    import struct

    return struct.pack("<Q", len(text)) + text.encode()


def test_a_corpus_of_malformed_headers_each_gets_its_own_error_row(tmp_path) -> None:
    """Damaged metadata (wrong types, absurd counts, garbage) never ends a scan: every file
    gets a row, with an error or with what could be read."""
    import struct

    from genai_tui.engine.models.inventory import find_chat_models, scan_local_models

    models = tmp_path / "models"
    models.mkdir()
    corpus = {
        "alignment-string.gguf": _header([("general.alignment", 8, _string("wide"))]),
        "alignment-zero.gguf": _header([("general.alignment", 4, struct.pack("<I", 0))]),
        "alignment-huge.gguf": _header([("general.alignment", 10, struct.pack("<Q", 1 << 40))]),
        "filetype-string.gguf": _header([("general.file_type", 8, _string("Q4_K_M"))]),
        "arch-number.gguf": _header([("general.architecture", 4, struct.pack("<I", 7))]),
        "ctx-string.gguf": _header([("general.architecture", 8, _string("llama")),
                                    ("llama.context_length", 8, _string("lots"))]),
        "kv-count-absurd.gguf": _header([], kv_count=1 << 60),
        "garbage.gguf": b"GGUF" + bytes(range(256)) * 4,
        "bad-type.gguf": _header([("x", 99, b"\0" * 8)]),
    }
    for name, data in corpus.items():
        (models / name).write_bytes(data)
    rows = {e.name: e for e in scan_local_models(models, hf_cache=tmp_path / "hub")}
    assert set(corpus) <= set(rows)
    assert rows["alignment-huge.gguf"].error and "alignment" in rows["alignment-huge.gguf"].error
    assert rows["kv-count-absurd.gguf"].error and rows["garbage.gguf"].error
    assert rows["ctx-string.gguf"].context_length is None  # not a number: not shown as one
    assert all(rows[name].kind == "gguf" for name in corpus)
    find_chat_models(models, hf_cache=tmp_path / "hub")  # the picker's scan completes too
