"""Vision GGUFs headless: `genai-tui models` marks a model with its projector, `pull`
brings a vision repo's projector with the chosen quantization (the real huggingface_hub
client against the loopback Hub, real GGUF bytes), and `chat --image` refuses a local
model without a projector before anything loads, but not one with a projector."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest
from ggufs import write_gguf

from genai_tui.cli import main
from genai_tui.engine.chat.local import LocalChatModel
from genai_tui.engine.core.text import human_bytes

REPO = "org/Vis-GGUF"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
VISION_GGUF = os.environ.get("GENAI_TUI_VISION_GGUF")
VISION_MMPROJ = os.environ.get("GENAI_TUI_VISION_MMPROJ")


@pytest.fixture(autouse=True)
def _no_user_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))


@pytest.fixture
def ggufs(tmp_path: Path) -> tuple[bytes, bytes]:
    """(a tiny "llama" GGUF, a tiny "clip" projector GGUF), as bytes."""
    (tmp_path / "src").mkdir()
    return (write_gguf(tmp_path / "src" / "m.gguf", "llama").read_bytes(),
            write_gguf(tmp_path / "src" / "p.gguf", "clip").read_bytes())  # fmt: skip


@pytest.fixture
def base(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--models-dir", str(tmp_path / "models")]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_pull_brings_the_projector_and_models_marks_the_vision_model(
    hub_server, monkeypatch: pytest.MonkeyPatch, base: list[str], ggufs: tuple[bytes, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    model, projector = ggufs
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    hub_server.add_repo(REPO, {
        "vis-Q4_K_M.gguf": model,
        "vis-Q8_0.gguf": model + bytes(5000),
        "mmproj-vis-f16.gguf": projector,
        "mmproj-vis-f32.gguf": projector + bytes(5000),
    })  # fmt: skip
    rc, out, err = run([*base, "pull", REPO], capsys)
    assert rc == 2
    note = f"+ vision projector (mmproj-vis-f16.gguf, {human_bytes(len(projector))})"
    rows = out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["Q4_K_M", "Q8_0"]
    assert all(r.endswith(note) for r in rows) and "vis-Q4_K_M.gguf +" in rows[0]

    rc, out, err = run([*base, "pull", REPO, "--quant", "Q4_K_M"], capsys)
    assert rc == 0, err
    assert f"Q4_K_M {note}" in err
    assert [Path(p).name for p in out.splitlines()] == ["vis-Q4_K_M.gguf", "mmproj-vis-f16.gguf"]
    assert set(hub_server.bytes_sent) - {f"{REPO}/README.md"} == {
        f"{REPO}/vis-Q4_K_M.gguf", f"{REPO}/mmproj-vis-f16.gguf"}

    rc, out, _ = run([*base, "models", "--json"], capsys)
    listed = {e["name"]: e for e in json.loads(out)}
    pulled = listed[f"{REPO}/vis-Q4_K_M.gguf"]
    assert pulled["projector"].endswith("/mmproj-vis-f16.gguf")
    assert listed[f"{REPO}/mmproj-vis-f16.gguf"]["architecture"] == "clip"
    rc, out, _ = run([*base, "models"], capsys)
    kinds = {ln.split()[0]: ln.split()[1:3] for ln in out.splitlines()[1:]}
    assert kinds[f"{REPO}/vis-Q4_K_M.gguf"] == ["gguf", "vision"]
    assert kinds[f"{REPO}/mmproj-vis-f16.gguf"][0] == "mmproj"


def test_chat_image_refuses_a_local_model_without_a_projector_before_it_loads(
    base: list[str], tmp_path: Path, ggufs: tuple[bytes, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    models = tmp_path / "models"
    models.mkdir()
    (models / "text-Q4_0.gguf").write_bytes(ggufs[0])
    (tmp_path / "cat.png").write_bytes(PNG)
    rc, out, err = run([*base, "chat", "-m", "text-Q4_0", "--image", str(tmp_path / "cat.png"),
                        "What is this?"], capsys)  # fmt: skip
    assert rc == 2 and out == ""
    assert err.startswith("genai-tui: error: text-Q4_0.gguf has no vision projector (mmproj); "
                          "it takes text only.")  # fmt: skip


def test_chat_image_takes_a_local_model_with_a_projector(
    base: list[str], tmp_path: Path, ggufs: tuple[bytes, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Not refused: it goes on to load (this tiny model has no weights to load)."""
    models = tmp_path / "models" / "vis"
    models.mkdir(parents=True)
    (models / "vis-Q4_0.gguf").write_bytes(ggufs[0])
    (models / "mmproj-vis-f16.gguf").write_bytes(ggufs[1])
    (tmp_path / "cat.png").write_bytes(PNG)
    rc, _, err = run([*base, "chat", "-m", "vis/vis-Q4_0", "--image", str(tmp_path / "cat.png"),
                      "What is this?"], capsys)  # fmt: skip
    assert rc == 1 and "vision projector" not in err
    assert "could not load vis-Q4_0.gguf" in err


@pytest.mark.skipif(not (VISION_GGUF and VISION_MMPROJ),
                    reason="needs a real vision GGUF and its projector (hundreds of MB; none "
                    "can be built offline): set GENAI_TUI_VISION_GGUF and "
                    "GENAI_TUI_VISION_MMPROJ to run it")  # fmt: skip
@pytest.mark.skipif("projector" not in inspect.signature(LocalChatModel).parameters,
                    reason="LocalChatModel does not take a projector yet (local.py lines)")
def test_chat_image_with_a_real_vision_model(base: list[str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from PIL import Image

    assert VISION_GGUF and VISION_MMPROJ
    folder = tmp_path / "models" / "vision"
    folder.mkdir(parents=True)
    (folder / Path(VISION_GGUF).name).symlink_to(VISION_GGUF)
    (folder / Path(VISION_MMPROJ).name).symlink_to(VISION_MMPROJ)
    Image.new("RGB", (64, 64), (220, 20, 20)).save(tmp_path / "red.png")
    rc, out, err = run([*base, "chat", "-m", str(folder / Path(VISION_GGUF).name), "--json",
                        "--image", str(tmp_path / "red.png"), "--temperature", "0",
                        "What colour is this image? One word."], capsys)  # fmt: skip
    assert rc == 0, err
    data = json.loads(out)
    assert data["images"] == 1 and data["text"].strip()


@pytest.mark.skipif("projector" not in inspect.signature(LocalChatModel).parameters,
                    reason="LocalChatModel does not take a projector yet (local.py lines)")
def test_chat_image_loads_the_projector_with_the_model(
    base: list[str], tmp_path: Path, smollm_file: Path, ggufs: tuple[bytes, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The whole path: the scan pairs them, the model loads with llama-cpp-python's
    multimodal handler, which loads the projector at once (this one is no real projector:
    the load fails naming it, instead of the first reply)."""
    folder = tmp_path / "models" / "smol"
    folder.mkdir(parents=True)
    (folder / "smol.gguf").write_bytes(smollm_file.read_bytes())
    (folder / "mmproj-smol-f16.gguf").write_bytes(ggufs[1])
    (tmp_path / "cat.png").write_bytes(PNG)
    rc, out, err = run([*base, "chat", "-m", "smol/smol", "--image", str(tmp_path / "cat.png"),
                        "hi"], capsys)  # fmt: skip
    assert rc == 1 and out == ""
    assert "could not load the vision projector mmproj-smol-f16.gguf of smol.gguf" in err
