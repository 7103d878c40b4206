"""Pickled checkpoints (.ckpt) load as plain weights or not at all: a pickle that would
run code on load is refused with a message, and the code does not run. Real torch files,
loaded through the engine the way the image studio loads them."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from genai_tui.engine.core.errors import PipelineError
from genai_tui.engine.images.diffusion_load import from_disk, weights_only_loads

torch = pytest.importorskip("torch")


class Planted:
    """Unpickled by a plain pickle loader, this calls open(marker, "w"): a file appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


def planted_ckpt(path: Path, marker: Path, *, zip_format: bool = True) -> Path:
    checkpoint = {"state_dict": {"model.diffusion_model.w": torch.zeros(2)},
                  "callbacks": Planted(marker)}  # fmt: skip
    torch.save(checkpoint, path, _use_new_zipfile_serialization=zip_format)
    return path


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_ckpt_that_would_run_code_is_refused(tmp_path: Path, zip_format: bool) -> None:
    marker = tmp_path / "code-ran"
    ckpt = planted_ckpt(tmp_path / "sd-v1-5.ckpt", marker, zip_format=zip_format)
    with pytest.raises(PipelineError) as err:
        from_disk(ckpt, "sd-v1-5.ckpt", torch.float32)
    assert not marker.exists()
    message = err.value.message
    assert message.startswith("sd-v1-5.ckpt was not loaded: besides weights it holds pickled")
    assert "(io.open)" in message and "nothing in it was run" in message
    assert ".safetensors" in err.value.hint

    # The file is really live: a plain unpickler runs it (and the guard is gone again).
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") is None
    torch.load(ckpt, weights_only=False)
    assert marker.exists()


async def test_refused_through_the_engine(engine_images, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    ckpt = planted_ckpt(tmp_path / "evil.ckpt", marker)
    with pytest.raises(PipelineError, match="holds pickled Python objects") as err:
        await engine_images.load(str(ckpt))
    assert not marker.exists() and ".safetensors" in err.value.hint


def test_the_guard_overrides_a_caller_that_asks_for_full_unpickling(tmp_path: Path) -> None:
    """What keeps a library that passes weights_only=False (older diffusers, some
    transformers paths) from running a pickle: torch's TORCH_FORCE_WEIGHTS_ONLY_LOAD."""
    marker = tmp_path / "code-ran"
    ckpt = planted_ckpt(tmp_path / "x.ckpt", marker)
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # a user's setting does not win
    try:
        with weights_only_loads(), weights_only_loads():  # nested
            with pytest.raises(pickle.UnpicklingError):
                torch.load(ckpt, weights_only=False)
        assert os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") == "1"  # restored
    finally:
        del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
    assert not marker.exists()
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") is None


def test_a_ckpt_of_plain_weights_is_not_called_unsafe(tmp_path: Path) -> None:
    """Tensors only: it gets past unpickling and fails later for its own reason (no
    pipeline config offline), with the usual hint."""
    ckpt = tmp_path / "plain.ckpt"
    weights = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2)}  # SD 1.x
    torch.save({"state_dict": weights, "global_step": 7}, ckpt)
    with pytest.raises(PipelineError) as err:
        from_disk(ckpt, "plain.ckpt", torch.float32)
    assert "pickled" not in err.value.message
    assert "genai-tui pull" in err.value.hint


@pytest.fixture
async def engine_images(settings):
    from genai_tui.engine.engine import Engine

    eng = Engine(settings)
    yield eng.images
    await eng.aclose()
