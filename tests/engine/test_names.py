"""The one set of model-name patterns (models/names.py): split parts, quantizations,
projectors, and the architectures that are not chat models."""

from __future__ import annotations

import pytest

from genai_tui.engine.models.hub_files import HubFile, group_gguf
from genai_tui.engine.models.names import (
    DIFFUSION_ARCHITECTURES,
    NOT_CHAT_ARCHITECTURES,
    SPLIT,
    SPLIT_SUFFIX,
    is_later_split_part,
    is_projector_name,
)


def test_split_parts() -> None:
    m = SPLIT.match("Llama-3-70B-Q4_K_M-00002-of-00003.gguf")
    assert m is not None and m["stem"] == "Llama-3-70B-Q4_K_M"
    assert (int(m["part"]), int(m["total"])) == (2, 3)
    assert SPLIT.match("model.gguf") is None
    assert SPLIT_SUFFIX.sub("", "x-00001-of-00002.GGUF") == "x"
    assert not is_later_split_part("x-00001-of-00002.gguf")
    assert is_later_split_part("x-00002-of-00002.gguf")
    assert not is_later_split_part("x.gguf")


@pytest.mark.parametrize(
    ("name", "projector"),
    [
        ("mmproj-model-f16.gguf", True),
        ("Qwen2-VL-7B-Instruct-mmproj-F16.gguf", True),
        ("llava/MMPROJ.gguf", True),
        ("mmproj/Qwen3-4B-Q4_K_M.gguf", False),  # a folder's name says nothing of the file
        ("Qwen3-4B-Q4_K_M.gguf", False),
    ],
)
def test_projector_names(name: str, projector: bool) -> None:
    assert is_projector_name(name) is projector


def test_not_chat_architectures() -> None:
    assert {"clip", "bert", "nomic-bert", "flux", "sdxl", "wan"} <= NOT_CHAT_ARCHITECTURES
    assert DIFFUSION_ARCHITECTURES <= NOT_CHAT_ARCHITECTURES
    assert not {"llama", "qwen2", "gemma3", "phi3", "mistral3"} & NOT_CHAT_ARCHITECTURES


def test_hub_projectors_are_no_choice_but_come_with_every_choice() -> None:
    files = [HubFile("tiny-F16.gguf", 100, None), HubFile("tiny-mmproj-F16.gguf", 10, None)]
    (group,) = group_gguf(files)
    assert (group.quant, group.size) == ("F16", 110)
    assert [f.path for f in group.files] == ["tiny-F16.gguf", "tiny-mmproj-F16.gguf"]
    assert group.note == "+ vision projector (tiny-mmproj-F16.gguf, 10 B)"
