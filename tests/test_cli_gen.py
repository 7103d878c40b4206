"""`genai-tui gen`: headless images on the tiny real SD pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from genai_tui.engine.images.png_params import read_params


def test_prints_the_saved_paths(gen, tmp_path: Path) -> None:
    code, out, err = gen("a red barn, at noon", "-m", "tiny-sd", "-n", "2", "--size", "96x64",
                         "--steps", "3", "--seed", "41", "--negative", "fog")  # fmt: skip
    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    assert len(paths) == 2 and all(p.parent == tmp_path / "data" / "images" for p in paths)
    params = [read_params(p) for p in paths]
    assert [(p.seed, p.width, p.height, p.steps) for p in params] == [(41, 96, 64, 3),
                                                                      (42, 96, 64, 3)]
    assert params[0].prompt == "a red barn, at noon" and params[0].negative_prompt == "fog"
    assert params[0].model == "tiny-sd" and len(params[0].model_hash) == 10


def test_json_output_dir_and_the_history(gen, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, _ = gen("x", "-n", "1", "--size", "64", "--steps", "2", "--seed", "5",
                       "-o", str(out_dir), "--json", "--scheduler", "DDIM")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "tiny-sd" and data["seeds"] == [5] and not data["cancelled"]
    assert Path(data["paths"][0]).parent == out_dir and Path(data["paths"][0]).is_file()
    assert data["request"]["scheduler"] == "DDIMScheduler"
    assert read_params(Path(data["paths"][0])).sampler == "DDIM"
    # The run is in the history the studio lists.
    code, out, _ = gen("y", "-n", "1", "--size", "64", "--steps", "1", "--json")
    from genai_tui.engine.core.store import Store

    store = Store(tmp_path / "data" / "genai-tui.sqlite3")
    assert store._query("SELECT count(*) FROM images")[0][0] == 2
    store.close()


def test_image_to_image_takes_its_size_from_the_init(gen, tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    Image.new("RGB", (100, 70), (0, 0, 200)).save(init)
    code, out, err = gen("blue", "--init", str(init), "--strength", "0.5", "--steps", "4",
                         "-n", "1")  # fmt: skip
    assert code == 0, err
    params = read_params(Path(out.strip()))
    assert (params.width, params.height, params.strength) == (96, 64, 0.5)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--size", "100x64"], 2, "not a multiple of 8. Use 96 or 104."),
        (["--strength", "2", "--init", "/nonexistent.png"], 2, "Strength 2.0 is outside 0..1"),
        (["--init", "/nonexistent.png"], 2, "/nonexistent.png does not exist"),
        (["-m", "no-such-model"], 1, "No image model named 'no-such-model'"),
        (["-m", "/nowhere/model.safetensors"], 1, "No image model at /nowhere/model.safetensors"),
    ],
)
def test_errors_say_what_to_do_with_exit_codes(gen, args, code, message) -> None:
    got, out, err = gen("x", "--steps", "1", *args)
    assert got == code and out == ""
    assert err.startswith("genai-tui: error: ") and message in err


def test_bad_size_syntax_is_a_usage_error(gen) -> None:
    with pytest.raises(SystemExit) as exc:
        gen("x", "--size", "big")
    assert exc.value.code == 2


def test_out_of_memory_suggests_offload(gen, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from diffusers import UNet2DConditionModel

    def no_memory(self, *args, **kwargs):  # the GPU running out of memory mid-run
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")

    monkeypatch.setattr(UNet2DConditionModel, "forward", no_memory)
    code, out, err = gen("x", "--size", "64", "--steps", "2")
    assert code == 3 and out == ""
    assert "ran out of memory" in err and "--offload" in err
