"""Pictures from a remote server: the studio's engine against a real loopback images server
(tests/image_server.py) — the request it gets, the gallery's PNGs, and the failures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from image_server import ImageServer, render
from PIL import Image, ImageChops

from genai_tui.engine.chat import image_server as image_http
from genai_tui.engine.core.errors import GenaiError, ImageRequestError
from genai_tui.engine.core.events import ImageReady, ImagesDone, PipelineLoaded, StepProgress
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.png_params import read_params

KEY = "sk-test-remote-images-0123456789"
MODEL = "imgbox/tiny-painter"


@pytest.fixture
def server():
    with ImageServer(key=KEY) as s:
        yield s


@pytest.fixture
async def engine_for(make_settings, server):
    engines: list[Engine] = []

    def make(extras: list[str] | None = None, key: str = KEY, **provider: Any) -> Engine:
        table = {"name": "imgbox", "base_url": server.url, "api_key": key,
                 "image_models": ["tiny-painter"], **provider}  # fmt: skip
        if extras is not None:
            table["image_extras"] = extras
        engine = Engine(make_settings(providers=[table]))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


async def run(engine: Engine, model: str = MODEL, **changes: Any) -> list[Any]:
    values = {"width": 64, "height": 64, "variations": 2, "seed": 7, "steps": 3} | changes
    request = engine.images.request_defaults("a cat on a mat", **values)
    return [e async for e in engine.images.generate(request, model)]


def same_pixels(path: Path, expected: Image.Image) -> bool:
    with Image.open(path) as im:
        return ImageChops.difference(im.convert("RGB"), expected).getbbox() is None


async def test_two_pictures_from_a_server_that_takes_seeds(engine_for, server) -> None:
    engine = engine_for(extras=["seed", "negative_prompt"])
    assert MODEL in [m.name for m in engine.images.models()]
    events = await run(engine, negative_prompt="dogs")
    loaded = events[0]
    assert isinstance(loaded, PipelineLoaded) and loaded.name == MODEL
    assert "no live previews" in loaded.memory
    assert "server ignored: steps, guidance" in loaded.memory
    ready = [e for e in events if isinstance(e, ImageReady)]
    done = events[-1]
    assert isinstance(done, ImagesDone) and not done.cancelled and done.seeds == (7, 8)
    assert [e.seed for e in ready] == [7, 8] and len(done.paths) == 2
    assert [e.index for e in events if isinstance(e, StepProgress)] == [0, 1]
    # One request per picture, each with its seed: the recorded seed is the one used.
    bodies = [r["body"] for r in server.image_requests()]
    assert [(b["seed"], b["n"], b["size"], b["prompt"]) for b in bodies] == [
        (7, 1, "64x64", "a cat on a mat"), (8, 1, "64x64", "a cat on a mat")]  # fmt: skip
    assert all(b["negative_prompt"] == "dogs" and b["response_format"] == "b64_json"
               and "steps" not in b and "cfg_scale" not in b for b in bodies)  # fmt: skip
    assert server.image_requests()[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    # The gallery holds the server's pictures as PNGs with A1111 parameters.
    pictures = engine.images.gallery.images()
    assert sorted(p.path for p in pictures) == sorted(done.paths)
    for path, seed in zip(done.paths, (7, 8), strict=True):
        assert path.suffix == ".png" and same_pixels(path, render("a cat on a mat", seed, (64, 64)))
        params = read_params(path)
        assert params.model == MODEL and params.seed == seed and params.prompt == "a cat on a mat"
        assert params.extra["Server ignored"] == "steps, guidance"
    assert {p.model for p in pictures} == {MODEL}


async def test_a_plain_openai_server_gets_n_and_no_extras(engine_for, server) -> None:
    events = await run(engine_for(), negative_prompt="dogs", scheduler="DDIMScheduler",
                       hires_scale=2.0)  # fmt: skip
    (body,) = [r["body"] for r in server.image_requests()]
    assert body == {"model": "tiny-painter", "prompt": "a cat on a mat", "n": 2,
                    "size": "64x64", "response_format": "b64_json"}  # fmt: skip
    paths = events[-1].paths
    assert len(paths) == 2
    params = read_params(paths[0])
    said = "negative prompt, seed, steps, guidance, sampler, hires fix"
    assert params.extra["Server ignored"] == said and "Hires upscale" not in params.extra
    assert (params.width, params.height) == (64, 64)  # what the server made, not upscaled
    assert f"server ignored: {said}" in events[0].memory


@pytest.mark.parametrize(("behaviour", "asked"), [("one", [3, 2, 1]), ("n1", [3, 1, 1, 1])])
async def test_a_server_making_one_picture_per_request_is_asked_again(
    engine_for, server, behaviour: str, asked: list[int]
) -> None:
    server.default = behaviour  # ignores n / refuses n > 1 with a 400
    events = await run(engine_for(), variations=3)
    assert len(events[-1].paths) == 3 and not events[-1].cancelled
    assert [r["body"]["n"] for r in server.image_requests()] == asked


async def test_pictures_as_urls_on_the_same_origin_are_fetched(engine_for, server) -> None:
    server.default = "url"
    events = await run(engine_for(extras=["seed"]), variations=1, seed=3)
    (path,) = events[-1].paths
    assert same_pixels(path, render("a cat on a mat", 3, (64, 64)))
    fetched = [r for r in server.requests if r["path"].startswith("/files/")]
    assert len(fetched) == 1 and fetched[0]["headers"]["Authorization"] == f"Bearer {KEY}"


FAILURES = {
    # behaviour or case: (words the message has, words the hint has)
    "401": ("the API key was refused", "API key"),
    "404": ("does not serve the image model 'no-such-model'", "image_models"),
    "garbage": ("not valid base64", "server's log"),
    "text": ("not a picture", "image model"),
    "size": ("accepts: 256x256, 512x512, 1024x1024", "F8"),
    "elsewhere": ("another address (http://127.0.0.2:", "b64_json"),
    "500": ("failed with HTTP 500", "try again"),
    "slow": ("sent no picture within 1 s", "fewer or smaller"),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_failures_say_what_to_do_and_never_the_key(
    engine_for, server, monkeypatch, case: str
) -> None:
    monkeypatch.setattr(image_http, "READ_TIMEOUT_S", 1.0)
    server.slow_s = 2.0
    model = MODEL
    engine = engine_for(key="sk-wrong-key-9876543210" if case == "401" else KEY)
    if case == "404":
        model = "imgbox/no-such-model"  # any model of a configured provider is tried
    elif case != "401":
        server.default = case
    started = time.monotonic()
    with pytest.raises(GenaiError) as caught:
        await run(engine, model)
    message, hint = FAILURES[case]
    assert message in caught.value.message and hint in caught.value.hint
    assert "sk-" not in str(caught.value) and "9876543210" not in str(caught.value)
    assert engine.images.gallery.count() == 0
    assert time.monotonic() - started < 10
    if case == "size":
        assert isinstance(caught.value, ImageRequestError)  # `gen` exits with the usage code


async def test_cancel_abandons_the_request_in_flight(engine_for, server) -> None:
    server.default = "slow"
    engine = engine_for()
    request = engine.images.request_defaults("x", width=64, height=64, variations=2)
    started = time.monotonic()
    events = []
    async for event in engine.images.generate(request, MODEL):
        events.append(event)
        if isinstance(event, PipelineLoaded):
            asyncio.get_running_loop().call_later(0.3, engine.images.cancel)
    assert events[-1].cancelled and events[-1].paths == ()
    assert time.monotonic() - started < server.slow_s


async def test_image_to_image_is_refused_before_any_request(engine_for, server, tmp_path) -> None:
    init = tmp_path / "init.png"
    render("x", 1, (64, 64)).save(init)
    with pytest.raises(ImageRequestError, match="not available on a remote image server"):
        await run(engine_for(), init_image=init)
    assert server.image_requests() == []


def test_remote_refs_resolve_and_others_do_not(engine_for) -> None:
    studio = engine_for().images
    model = studio.resolve(MODEL)
    assert (model.kind, model.name) == ("remote", MODEL)
    assert studio.resolve("imgbox/other").name == "imgbox/other"
    with pytest.raises(GenaiError):
        studio.resolve("nobox/tiny-painter")  # no such provider: not remote
