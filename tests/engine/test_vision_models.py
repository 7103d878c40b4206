"""Vision GGUF models and their projector (mmproj): pairing on disk in every store, the
chat picker's list, a model given by path, the multimodal handler chosen, a projector
llama.cpp cannot load, and a real vision reply where real vision files are given.

Real GGUF files throughout (tests/ggufs.py writes small ones; a projector's header says
"clip"); the HF cache and LM Studio layouts are the tools' own (tests/store_layouts.py).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from ggufs import write_gguf
from store_layouts import hf_cache_repo, lmstudio_store

from genai_tui.engine.chat.local import LocalChatModel
from genai_tui.engine.chat.sampling import SamplingParams
from genai_tui.engine.chat.service import model_reply
from genai_tui.engine.chat.vision import IMAGE_TOKENS, WithImages, image_part
from genai_tui.engine.chat.vision_local import attach_vision, handler_name
from genai_tui.engine.core.errors import ModelError
from genai_tui.engine.core.events import ChatStats, TokenDelta
from genai_tui.engine.models.inventory import chat_models_of, resolve_model, scan_local_models

VISION_GGUF = os.environ.get("GENAI_TUI_VISION_GGUF")
VISION_MMPROJ = os.environ.get("GENAI_TUI_VISION_MMPROJ")


def scan(models: Path, tmp_path: Path, *, hf: Path | None = None, lms: Path | None = None
         ) -> dict[str, Any]:  # fmt: skip
    entries = scan_local_models(models, hf_cache=hf or tmp_path / "no-hf",
                                lmstudio_dirs=[lms] if lms else [],
                                ollama_dir=tmp_path / "no-ollama")  # fmt: skip
    return {e.name: e for e in entries if e.source != "demo"}  # the demo extra's SmolLM2


@pytest.fixture
def llama(tmp_path: Path) -> Path:
    """A tiny GGUF whose header says "llama" (a chat model's architecture)."""
    (tmp_path / "src").mkdir(exist_ok=True)
    return write_gguf(tmp_path / "src" / "llama.gguf", "llama")


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A tiny GGUF whose header says "clip": a vision projector."""
    (tmp_path / "src").mkdir(exist_ok=True)
    return write_gguf(tmp_path / "src" / "clip.gguf", "clip")


def put(target: Path, source: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


# -- pairing ---------------------------------------------------------------------------------


def test_models_dir_pairs_a_model_with_its_projector(tmp_path: Path, llama: Path,
                                                     clip: Path) -> None:  # fmt: skip
    models = tmp_path / "models"
    model = put(models / "vis" / "model-Q4_K_M.gguf", llama)
    f16 = put(models / "vis" / "mmproj-model-f16.gguf", clip)
    put(models / "vis" / "mmproj-model-f32.gguf", clip)
    put(models / "plain" / "plain-Q4_0.gguf", llama)
    put(models / "lone" / "mmproj-lone-f16.gguf", clip)
    put(models / "mmproj-at-the-root-f16.gguf", clip)  # never pairs with models in folders
    entries = scan(models, tmp_path)
    vis = entries["vis/model-Q4_K_M.gguf"]
    assert vis.projector == f16 and vis.kind_label == "gguf vision"  # f16 before f32
    assert entries["plain/plain-Q4_0.gguf"].projector is None
    assert entries["plain/plain-Q4_0.gguf"].kind_label == "gguf"
    assert entries["lone/mmproj-lone-f16.gguf"].kind_label == "mmproj"
    chat = {m.name: m for m in chat_models_of(list(entries.values()))}
    # One chat model per model; projectors (paired or lone) are never chat models.
    assert set(chat) == {"vis/model-Q4_K_M.gguf", "plain/plain-Q4_0.gguf"}
    assert chat["vis/model-Q4_K_M.gguf"].projector == f16 and chat["vis/model-Q4_K_M.gguf"].vision
    assert not chat["plain/plain-Q4_0.gguf"].vision
    assert resolve_model(str(model), list(chat.values())).projector == f16


def test_the_header_says_projector_whatever_the_file_is_called(
    tmp_path: Path, llama: Path, clip: Path
) -> None:
    models = tmp_path / "models"
    put(models / "m" / "model.gguf", llama)
    encoder = put(models / "m" / "vision-encoder.gguf", clip)
    entries = scan(models, tmp_path)
    assert entries["m/model.gguf"].projector == encoder
    assert [m.name for m in chat_models_of(list(entries.values()))] == ["m/model.gguf"]


def test_an_hf_cache_snapshot_pairs_within_the_snapshot(tmp_path: Path, llama: Path,
                                                        clip: Path) -> None:  # fmt: skip
    cache = tmp_path / "hf"
    snapshot = hf_cache_repo(cache, "org/Vis-GGUF", {"vis-Q4_K_M.gguf": llama,
                                                     "mmproj-vis-F16.gguf": clip})  # fmt: skip
    hf_cache_repo(cache, "org/Text-GGUF", {"text-Q4_K_M.gguf": llama})
    entries = scan(tmp_path / "models", tmp_path, hf=cache)
    assert entries["org/Vis-GGUF/vis-Q4_K_M.gguf"].projector == snapshot / "mmproj-vis-F16.gguf"
    assert entries["org/Text-GGUF/text-Q4_K_M.gguf"].projector is None
    chat = chat_models_of(list(entries.values()))
    assert sorted(m.name for m in chat) == ["org/Text-GGUF/text-Q4_K_M.gguf",
                                            "org/Vis-GGUF/vis-Q4_K_M.gguf"]  # fmt: skip


def test_an_lm_studio_folder_pairs_within_its_repo_folder(tmp_path: Path, llama: Path,
                                                          clip: Path) -> None:  # fmt: skip
    root = lmstudio_store(tmp_path / "lms", {
        "pub/Vis-GGUF/vis-Q4_K_M.gguf": llama,
        "pub/Vis-GGUF/mmproj-vis-f16.gguf": clip,
        "pub/Other-GGUF/other-Q4_0.gguf": llama,
    })  # fmt: skip
    entries = scan(tmp_path / "models", tmp_path, lms=root)
    assert entries["pub/Vis-GGUF/vis-Q4_K_M.gguf"].projector == (
        root / "pub/Vis-GGUF/mmproj-vis-f16.gguf")
    assert entries["pub/Other-GGUF/other-Q4_0.gguf"].projector is None
    assert entries["pub/Vis-GGUF/mmproj-vis-f16.gguf"].kind_label == "mmproj"


def test_a_model_given_by_path_finds_the_projector_beside_it(tmp_path: Path, llama: Path,
                                                             clip: Path) -> None:  # fmt: skip
    model = put(tmp_path / "elsewhere" / "vis.gguf", llama)
    projector = put(tmp_path / "elsewhere" / "mmproj.gguf", clip)
    assert resolve_model(str(model), []).projector == projector
    alone = put(tmp_path / "alone" / "text.gguf", llama)
    assert resolve_model(str(alone), []).projector is None


# -- the handler -----------------------------------------------------------------------------

ALL = {"Llava15ChatHandler", "Llava16ChatHandler", "MoondreamChatHandler",
       "Qwen25VLChatHandler", "MTMDChatHandler", "MiniCPMv26ChatHandler"}  # fmt: skip


@pytest.mark.parametrize(("names", "template", "available", "handler"), [
    (["/m/llava-v1.6-mistral-7b.Q4_K_M.gguf"], True, ALL, "Llava16ChatHandler"),
    (["/m/llava-v1.5-7b-Q4_K.gguf"], False, ALL, "Llava15ChatHandler"),
    (["/m/moondream2-text-model-f16.gguf"], True, ALL, "MoondreamChatHandler"),
    (["/hf/Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf", "Qwen2.5-VL 7B", "qwen2vl"], True, ALL,
     "Qwen25VLChatHandler"),
    (["/hf/gemma-3-4b-it-Q4_K_M.gguf", "Gemma 3 4b It", "gemma3"], True, ALL, "MTMDChatHandler"),
    (["/hf/gemma-3-4b-it-Q4_K_M.gguf"], True, ALL - {"MTMDChatHandler"}, "Llava15ChatHandler"),
    (["/m/unknown.gguf"], False, ALL, "Llava15ChatHandler"),
])  # fmt: skip
def test_the_handler_is_chosen_by_name_and_architecture(
    names: list[str], template: bool, available: set[str], handler: str
) -> None:
    assert handler_name(names, template, available) == handler


class VisionLocal(LocalChatModel):
    """LocalChatModel with a projector, as local.py takes it (the lines in README)."""

    def __init__(self, path: Path, projector: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.projector = projector

    def load_sync(self):  # noqa: ANN201
        loaded = super().load_sync()
        assert self.info is not None
        try:
            attach_vision(self._llm, self.path, self.projector, self.info.metadata)
        except ModelError:
            self._llm = None
            raise
        return loaded


async def test_a_projector_llama_cpp_cannot_load_fails_the_load(smollm_file: Path,
                                                                clip: Path) -> None:  # fmt: skip
    model = VisionLocal(smollm_file, clip, context_length=512, gpu_layers=0)
    try:
        with pytest.raises(ModelError, match=r"could not load the vision projector clip\.gguf"
                           ) as caught:  # fmt: skip
            await model.load()
        assert "the same repo" in caught.value.hint and not model.loaded
    finally:
        await model.close()


@pytest.mark.skipif(not (VISION_GGUF and VISION_MMPROJ),
                    reason="needs a real vision GGUF and its projector (hundreds of MB; none "
                    "can be built offline): set GENAI_TUI_VISION_GGUF and "
                    "GENAI_TUI_VISION_MMPROJ to run it")  # fmt: skip
async def test_a_real_vision_model_answers_about_an_image(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (64, 64), (220, 20, 20)).save(tmp_path / "red.png")
    assert VISION_GGUF and VISION_MMPROJ
    model = VisionLocal(Path(VISION_GGUF), Path(VISION_MMPROJ), context_length=4096)
    try:
        await model.load()
        wrapped = WithImages(model, [image_part(tmp_path / "red.png")], IMAGE_TOKENS)
        messages = [{"role": "user", "content": "What colour is this image? One word."}]
        params = SamplingParams.from_mapping({"temperature": 0.0, "max_tokens": 16})
        items = [i async for i in model_reply(wrapped, messages, params, threading.Event())]
        text = "".join(i.text for i in items if isinstance(i, TokenDelta))
        assert isinstance(items[-1], ChatStats) and text.strip()
        assert items[-1].prompt_tokens >= IMAGE_TOKENS
    finally:
        await model.close()
