"""The image engine on a real (tiny, random-weight) Stable Diffusion pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genai_tui.engine.engine import Engine
from genai_tui.engine.core.errors import (
    GenaiError,
    ImageOutOfMemoryError,
    ImageRequestError,
    NoModelError,
    PipelineError,
)
from genai_tui.engine.core.events import (
    ImageReady,
    ImagesDone,
    PipelineLoaded,
    PreviewImage,
    StepProgress,
)


@pytest.fixture(autouse=True)
def every_step(monkeypatch) -> None:
    """Every step's progress and preview, as these tests count them (the coalescing
    test sets its own interval)."""
    from genai_tui.engine.images import diffusion

    monkeypatch.setattr(diffusion, "EVENTS_EVERY_S", 0.0)


@pytest.fixture
async def engine(settings, tiny_sd_dir):
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny-sd").symlink_to(tiny_sd_dir)
    eng = Engine(settings.model_copy(update={"image": settings.image.model_copy(
        update={"threads": 1, "preview_every": 2})}))  # fmt: skip
    yield eng
    await eng.aclose()


async def run(engine: Engine, request, model=None) -> list:
    events = []
    async for event in engine.images.generate(request, model):
        events.append(event)
    return events


def pixels(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB").tobytes()


async def test_text_to_image_makes_n_images_of_the_size_asked(engine: Engine) -> None:
    req = engine.images.request_defaults("a red barn", width=96, height=64, steps=4,
                                         variations=3, seed=10)  # fmt: skip
    events = await run(engine, req)
    loaded = [e for e in events if isinstance(e, PipelineLoaded)]
    assert loaded and loaded[0].pipeline == "StableDiffusionPipeline"
    assert loaded[0].device == "cpu" and loaded[0].memory_bytes > 1_000_000
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert [r.seed for r in ready] == [10, 11, 12]  # increment mode
    for r in ready:
        assert r.image.size == (96, 64)
        assert r.path.is_file() and r.path.parent == engine.settings.images_dir
    done = events[-1]
    assert isinstance(done, ImagesDone) and not done.cancelled and len(done.paths) == 3
    rows = engine.images.gallery.images()
    assert {row.path for row in rows} == {r.path for r in ready}
    assert all(row.model == "tiny-sd" and row.width == 96 for row in rows)


async def test_same_seed_same_pixels_other_seed_differs(engine: Engine) -> None:
    req = engine.images.request_defaults("a lighthouse", width=64, height=64, steps=3,
                                         variations=2, seed=7, seed_mode="fixed")  # fmt: skip
    first = [e for e in await run(engine, req) if isinstance(e, ImageReady)]
    again = [e for e in await run(engine, req.replace(variations=1)) if isinstance(e, ImageReady)]
    other = [e for e in await run(engine, req.replace(seed=8, variations=1))
             if isinstance(e, ImageReady)]  # fmt: skip
    assert [r.seed for r in first] == [7, 7]
    assert pixels(first[0].path) == pixels(first[1].path) == pixels(again[0].path)
    assert pixels(other[0].path) != pixels(first[0].path)


async def test_random_seeds_are_recorded(engine: Engine) -> None:
    req = engine.images.request_defaults("fog", width=64, height=64, steps=2, variations=2,
                                         seed_mode="random")  # fmt: skip
    done = (await run(engine, req))[-1]
    assert len(set(done.seeds)) == 2
    assert {img.seed for img in engine.images.gallery.images()} == set(done.seeds)


async def test_image_to_image_transforms_the_init_image(engine: Engine, tmp_path: Path) -> None:
    from PIL import Image

    init = tmp_path / "init.png"
    Image.new("RGB", (80, 80), (200, 30, 30)).save(init)
    req = engine.images.request_defaults("a red square", width=64, height=64, steps=10,
                                         variations=1, seed=3, init_image=init, strength=0.5)
    events = await run(engine, req)
    steps = [e for e in events if isinstance(e, StepProgress)]
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]  # steps x strength
    assert steps[-1].total == 5
    ready = next(e for e in events if isinstance(e, ImageReady))
    assert ready.image.size == (64, 64)
    row = engine.images.gallery.image(ready.image_id)
    assert row.strength == 0.5 and row.init_image == str(init)
    # A weak transform keeps the picture's colour; the same seed from text alone does not.
    r, g, b = ready.image.resize((1, 1)).getpixel((0, 0))
    assert r > g and r > b


async def test_progress_for_every_step_and_previews(engine: Engine) -> None:
    req = engine.images.request_defaults("x", width=64, height=64, steps=5, variations=2, seed=1)
    events = await run(engine, req)
    steps = [(e.index, e.step, e.total) for e in events if isinstance(e, StepProgress)]
    assert steps == [(i, s, 5) for i in range(2) for s in range(1, 6)]
    last = [e for e in events if isinstance(e, StepProgress)][-1]
    assert last.eta_s == 0 and last.elapsed_s > 0
    previews = [e for e in events if isinstance(e, PreviewImage)]
    assert [(p.index, p.step) for p in previews] == [(0, 2), (0, 4), (1, 2), (1, 4)]
    assert previews[0].image.size == (8, 8)  # the latents' size: no VAE decode


async def test_progress_and_previews_are_coalesced_at_the_source(engine: Engine,
                                                                 monkeypatch) -> None:  # fmt: skip
    from genai_tui.engine.images import diffusion

    # Steps faster than the interval (here: all of them): the run's first step, each
    # image's last step and first preview still come, in order; nothing else.
    monkeypatch.setattr(diffusion, "EVENTS_EVERY_S", 3600.0)
    req = engine.images.request_defaults("x", width=64, height=64, steps=5, variations=2, seed=1)
    events = await run(engine, req)
    steps = [(e.index, e.step) for e in events if isinstance(e, StepProgress)]
    assert steps == [(0, 1), (0, 5), (1, 5)]
    assert [e for e in events if isinstance(e, StepProgress)][-1].eta_s == 0
    previews = [(e.index, e.step) for e in events if isinstance(e, PreviewImage)]
    assert previews == [(0, 2), (1, 2)]
    kinds = [type(e).__name__ for e in events if not isinstance(e, PipelineLoaded)]
    assert kinds == ["StepProgress", "PreviewImage", "StepProgress", "ImageReady",
                     "PreviewImage", "StepProgress", "ImageReady", "ImagesDone"]  # fmt: skip


async def test_cancel_stops_within_a_step_and_the_model_stays_loaded(engine: Engine) -> None:
    images = engine.images
    req = images.request_defaults("slow", width=64, height=64, steps=40, variations=3, seed=1)
    events = []
    async for event in images.generate(req):
        events.append(event)
        if isinstance(event, StepProgress) and event.step == 3:
            images.cancel()
    steps = [e for e in events if isinstance(e, StepProgress)]
    # The worker may have finished the step it was in when cancel was set.
    assert steps[-1].index == 0 and steps[-1].step <= 4
    done = events[-1]
    assert isinstance(done, ImagesDone) and done.cancelled and done.paths == ()
    assert images.gallery.count() == 0
    assert images.model is not None and images.model.loaded and not images.generating
    events = await run(engine, req.replace(steps=2, variations=1))
    assert isinstance(events[-1], ImagesDone) and len(events[-1].paths) == 1
    assert not any(isinstance(e, PipelineLoaded) for e in events)  # not loaded again


async def test_scheduler_choice(engine: Engine) -> None:
    images = engine.images
    await images.load("tiny-sd")
    assert images.model is not None
    names = images.model.schedulers
    assert names[0] == "EulerAncestralDiscreteScheduler" and "DDIMScheduler" in names
    req = images.request_defaults("s", width=64, height=64, steps=2, variations=1, seed=1,
                                  scheduler="DDIMScheduler")  # fmt: skip
    ready = next(e for e in await run(engine, req) if isinstance(e, ImageReady))
    from genai_tui.engine.images.png_params import read_params

    params = read_params(ready.path)
    assert params is not None and params.sampler == "DDIM"
    with pytest.raises(PipelineError, match="does not work with") as err:
        await run(engine, req.replace(scheduler="FlowMatchEulerDiscreteScheduler"))
    assert "DDIMScheduler" in err.value.hint


async def test_out_of_memory_is_caught_and_offers_a_retry_with_offload(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    images = engine.images
    await images.load("tiny-sd")
    assert images.model is not None
    unet = images.model._pipe.unet
    real_forward = unet.forward
    calls = {"n": 0}

    def forward(*args, **kwargs):  # the GPU running out of memory on the second step
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", forward)
    req = images.request_defaults("big", width=64, height=64, steps=4, variations=2, seed=1)
    with pytest.raises(ImageOutOfMemoryError) as err:
        await run(engine, req)
    assert "ran out of memory" in err.value.message
    assert "offload" in err.value.hint and "smaller size" in err.value.hint
    assert err.value.retry == req.replace(offload=True)
    assert not images.generating and images.model.loaded
    done = (await run(engine, err.value.retry))[-1]  # the retry works (offload: CUDA only)
    assert isinstance(done, ImagesDone) and len(done.paths) == 2


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"width": 100}, "not a multiple of 8"),
        ({"height": 32}, "outside 64..4096"),
        ({"steps": 0}, "Steps 0"),
        ({"prompt": "  "}, "prompt is empty"),
        ({"init_image": Path("/nonexistent.png")}, "does not exist"),
        ({"seed_mode": "sometimes"}, "Unknown seed mode"),
    ],
)
async def test_bad_requests_say_what_to_change(engine: Engine, changes, match) -> None:
    req = engine.images.request_defaults("ok").replace(**changes)
    with pytest.raises(ImageRequestError, match=match) as err:
        await run(engine, req)
    assert err.value.hint
    assert engine.images.model is None  # nothing was loaded for a bad request


async def test_missing_and_broken_models(engine: Engine, tmp_path: Path, tiny_sd_dir) -> None:
    images = engine.images
    with pytest.raises(PipelineError, match="No image model at"):
        await images.load(str(tmp_path / "gone") + "/")  # a path that does not exist
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(PipelineError, match="no model_index.json"):
        await images.load(str(plain))
    # An interrupted download: the UNet's weights cut in half.
    broken = tmp_path / "broken"
    shutil.copytree(tiny_sd_dir, broken)
    weights = next((broken / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(PipelineError, match="could not be loaded") as err:
        await images.load(str(broken))
    assert "download the model again" in err.value.hint
    # A component folder missing.
    partial = tmp_path / "partial"
    shutil.copytree(tiny_sd_dir, partial)
    shutil.rmtree(partial / "vae")
    with pytest.raises(PipelineError, match="lacks the folders vae"):
        await images.load(str(partial))
    assert images.model is None


async def test_a_pipeline_type_we_cannot_run(engine: Engine, tmp_path: Path, tiny_sd_dir) -> None:
    other = tmp_path / "audio"
    shutil.copytree(tiny_sd_dir, other)
    index = json.loads((other / "model_index.json").read_text())
    index["_class_name"] = "AudioLDMPipeline"
    (other / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(PipelineError, match="AudioLDMPipeline") as err:
        await engine.images.load(str(other))
    assert "text-to-image" in str(err.value)


async def test_single_file_without_config_says_how_to_get_one(
    engine: Engine, tmp_path: Path
) -> None:
    from safetensors.torch import save_file
    import torch

    ckpt = tmp_path / "mystery-model.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2)}, str(ckpt))  # SD 1
    with pytest.raises(PipelineError, match="mystery-model.safetensors") as err:
        await engine.images.load(str(ckpt))
    assert "genai-tui pull stable-diffusion-v1-5/stable-diffusion-v1-5" in err.value.hint


async def test_model_list_resolution_and_defaults(engine: Engine, settings) -> None:
    images = engine.images
    listed = images.models()
    assert [(m.name, m.kind) for m in listed] == [("tiny-sd", "diffusers")]
    assert images.resolve("tiny").name == "tiny-sd"
    assert images.default_model() == listed[0]
    with pytest.raises(GenaiError, match="No image model named"):
        images.resolve("nothing-like-it")
    (settings.models_path / "tiny-sd").unlink()
    with pytest.raises(NoModelError, match="No image model found"):
        await run(engine, images.request_defaults("x", width=64, height=64, steps=1))


async def test_one_request_at_a_time(engine: Engine) -> None:
    images = engine.images
    req = images.request_defaults("a", width=64, height=64, steps=30, variations=2, seed=1)
    first = images.generate(req)
    event = await anext(first)
    assert images.generating
    with pytest.raises(GenaiError, match="already being generated"):
        await anext(images.generate(req))
    images.cancel()
    async for event in first:
        pass
    assert isinstance(event, ImagesDone) and event.cancelled


async def test_unload_frees_the_pipeline(engine: Engine) -> None:
    images = engine.images
    loaded = await images.load("tiny-sd")
    model = images.model
    assert model is not None and model.memory_bytes == loaded.memory_bytes > 0
    # The estimate made before loading (file headers only) matches what loading took.
    assert abs(model.estimate_bytes() - model.memory_bytes) <= 0.05 * model.memory_bytes
    await model.unload()
    assert not model.loaded and model.memory_bytes == 0


@pytest.mark.parametrize("memory", ["slicing", "tiling", "offload"])
async def test_memory_savers_on_the_cpu(settings, tiny_sd_dir, memory) -> None:
    """Without CUDA, offload falls back to slicing + tiling; every choice still generates."""
    image = settings.image.model_copy(update={"memory": memory, "threads": 1})
    eng = Engine(settings.model_copy(update={"image": image}))
    loaded = await eng.images.load(str(tiny_sd_dir))
    assert loaded.memory == ("slicing" if memory == "slicing" else "slicing+tiling")
    req = eng.images.request_defaults("m", width=64, height=64, steps=2, variations=1, seed=1)
    done = (await run(eng, req))[-1]
    assert isinstance(done, ImagesDone) and len(done.paths) == 1
    await eng.aclose()


@pytest.mark.cuda
async def test_cuda_half_precision_memory_and_offload(settings, tiny_sd_dir) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    image = settings.image.model_copy(update={"device": "cuda", "memory": "none"})
    eng = Engine(settings.model_copy(update={"image": image}))
    loaded = await eng.images.load(str(tiny_sd_dir))
    model = eng.images.model
    assert model is not None and loaded.device == "cuda"
    assert loaded.dtype in ("float16", "bfloat16")
    estimate = model.estimate_bytes()  # measured: torch.cuda.memory_allocated before/after
    assert loaded.memory_bytes > 0 and abs(estimate - loaded.memory_bytes) < 0.2 * estimate
    req = eng.images.request_defaults("c", width=64, height=64, steps=3, variations=2, seed=4,
                                      seed_mode="fixed")  # fmt: skip
    ready = [e for e in await run(eng, req) if isinstance(e, ImageReady)]
    assert pixels(ready[0].path) == pixels(ready[1].path)
    ready = [e for e in await run(eng, req.replace(offload=True, variations=1))
             if isinstance(e, ImageReady)]  # fmt: skip
    assert model.memory_mode == "offload" and len(ready) == 1
    await model.unload()
    await eng.aclose()


@pytest.mark.cuda
async def test_cuda_offload_for_residency_moves_the_pipeline_to_the_cpu(
    settings, tiny_sd_dir
) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    image = settings.image.model_copy(update={"device": "cuda", "memory": "none"})
    eng = Engine(settings.model_copy(update={"image": image}))
    await eng.images.load(str(tiny_sd_dir))
    model = eng.images.model
    assert model is not None
    held = torch.cuda.memory_allocated()
    await model.offload()  # what residency calls with gpu.on_full = "offload"
    assert model.device == "cpu" and torch.cuda.memory_allocated() < held / 2
    req = eng.images.request_defaults("c", width=64, height=64, steps=2, variations=1, seed=1)
    assert [e for e in await run(eng, req) if isinstance(e, ImageReady)]
    await eng.aclose()


async def test_an_init_image_too_large_to_open_is_refused_with_a_fix(engine: Engine, tmp_path: Path) -> None:
    from tests.engine.test_png_params import bomb_png

    bomb = bomb_png(tmp_path / "bomb.png")
    req = engine.images.request_defaults("a cat").replace(width=64, height=64, steps=2,
                                                          variations=1, init_image=bomb)  # fmt: skip
    with pytest.raises(PipelineError, match="too large to open safely") as err:
        await run(engine, req)
    assert "Scale it down" in err.value.hint
    done = (await run(engine, req.replace(init_image=None)))[-1]  # the studio goes on
    assert isinstance(done, ImagesDone)
