"""`genai-tui gen -m PROVIDER/MODEL`: pictures from a loopback images server
(tests/image_server.py), configured as a provider in the config file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from image_server import ImageServer, render
from PIL import Image, ImageChops

from genai_tui.cli import main
from genai_tui.engine.images.png_params import read_params

KEY = "sk-cli-remote-images-0123456789"


@pytest.fixture
def server():
    with ImageServer(key=KEY) as s:
        yield s


@pytest.fixture
def gen(tmp_path: Path, server: ImageServer, capsys, monkeypatch):
    def run(*args: str, key: str = KEY) -> tuple[int, str, str]:
        config = Path(os.environ["GENAI_TUI_CONFIG"])
        config.write_text(
            f'[[providers]]\nname = "imgbox"\nbase_url = "{server.url}"\n'
            f'api_key_env = "IMGBOX_KEY"\nimage_models = ["tiny-painter"]\n'
            'image_extras = ["seed"]\n'
        )
        monkeypatch.setenv("IMGBOX_KEY", key)  # the key from the env var the table names
        code = main(["--data-dir", str(tmp_path / "data"), "--models-dir",
                     str(tmp_path / "models"), "gen", *args])  # fmt: skip
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_gen_with_a_remote_model_prints_the_saved_path(gen, server, tmp_path: Path) -> None:
    code, out, err = gen("-m", "imgbox/tiny-painter", "a cat", "-n", "1", "--size", "64x64",
                         "--seed", "5", "--steps", "4")  # fmt: skip
    assert code == 0, err
    (path,) = [Path(line) for line in out.splitlines()]
    assert path.parent == tmp_path / "data" / "images" and path.suffix == ".png"
    with Image.open(path) as im:
        assert ImageChops.difference(im.convert("RGB"),
                                     render("a cat", 5, (64, 64))).getbbox() is None
    params = read_params(path)
    assert (params.model, params.seed, params.prompt) == ("imgbox/tiny-painter", 5, "a cat")
    assert params.extra["Server ignored"] == "steps, guidance"
    (request,) = server.image_requests()
    assert request["body"]["seed"] == 5 and request["body"]["size"] == "64x64"


def test_gen_json_names_the_remote_model(gen) -> None:
    code, out, err = gen("-m", "imgbox/tiny-painter", "a dog", "-n", "2", "--size", "64x64",
                         "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "imgbox/tiny-painter" and len(data["paths"]) == 2
    assert all(Path(p).is_file() for p in data["paths"])


@pytest.mark.parametrize(("case", "words", "exit_code"), [
    ("401", "the API key was refused", 1),
    ("size", "accepts: 256x256, 512x512, 1024x1024", 2),
])  # fmt: skip
def test_gen_failures_are_one_clear_line(gen, server, case, words, exit_code) -> None:
    if case == "size":
        server.default = "size"
    key = "sk-refused-key-5555555555" if case == "401" else KEY
    code, out, err = gen("-m", "imgbox/tiny-painter", "a cat", "--size", "64x64", key=key)
    assert code == exit_code and out == ""
    assert words in err and "Traceback" not in err
    assert key not in err and "5555555555" not in err
