"""SDXL, SD3 and Flux through the real image engine (tiny random-weight pipelines built
from configs), with live previews in each family's latent space; single-file
checkpoints told apart by their tensor names, not their file names, and a clear
message when their config is not on this machine; memory savers chosen per family;
and the image model's GPU chosen like a chat model's on a box with four (fake) GPUs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_nvml import GIB, four_gpus

from genai_tui.engine.core.errors import GpuBudgetError, PipelineError
from genai_tui.engine.core.events import ImageReady, ImagesDone, PipelineLoaded, PreviewImage
from genai_tui.engine.engine import Engine
from genai_tui.engine.gpu.residency import Residency
from genai_tui.engine.images.families import Savers, choose_savers, family, family_of_keys

CLASSES = {"sdxl": "StableDiffusionXLPipeline", "sd3": "StableDiffusion3Pipeline",
           "flux": "FluxPipeline"}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tiny_families import build_tiny_flux, build_tiny_sd3, build_tiny_sdxl

    root = tmp_path_factory.mktemp("families")
    return {
        "sdxl": build_tiny_sdxl(root / "tiny-sdxl"),
        "sd3": build_tiny_sd3(root / "tiny-sd3"),
        "flux": build_tiny_flux(root / "tiny-flux"),
    }


@pytest.fixture(autouse=True)
def every_step(monkeypatch) -> None:
    from genai_tui.engine.images import diffusion

    monkeypatch.setattr(diffusion, "EVENTS_EVERY_S", 0.0)


@pytest.fixture
async def engine(make_settings):
    eng = Engine(make_settings(image={"threads": 1, "preview_every": 1}))
    yield eng
    await eng.aclose()


async def run(engine: Engine, request, model) -> list:
    return [event async for event in engine.images.generate(request, model)]


def safetensors_with(path: Path, keys: list[str]) -> Path:
    """A real .safetensors file holding (tiny) tensors under `keys`."""
    import torch
    from safetensors.torch import save_file

    save_file({k: torch.zeros(2, 2) for k in keys}, str(path))
    return path


SDXL_KEYS = ["model.diffusion_model.input_blocks.0.0.weight",
             "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight",
             "conditioner.embedders.1.model.positional_embedding",
             "first_stage_model.decoder.conv_in.weight"]  # fmt: skip
SD1_KEYS = ["model.diffusion_model.input_blocks.0.0.weight",
            "model.diffusion_model.output_blocks.11.0.skip_connection.weight",
            "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight",
            ]  # fmt: skip
SD3_KEYS = ["model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias",
            "model.diffusion_model.pos_embed",
            "text_encoders.clip_l.logit_scale"]  # fmt: skip
FLUX_KEYS = ["double_blocks.0.img_attn.norm.key_norm.scale",
             "single_blocks.0.linear1.weight", "img_in.weight"]  # fmt: skip


# -- generating ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sdxl", "sd3", "flux"])
async def test_each_family_generates_with_previews_in_its_latent_space(
    engine: Engine, tiny_dirs, kind
) -> None:
    req = engine.images.request_defaults("a red barn", width=64, height=64, steps=3,
                                         variations=1, seed=5, guidance=3.0)  # fmt: skip
    events = await run(engine, req, str(tiny_dirs[kind]))
    loaded = next(e for e in events if isinstance(e, PipelineLoaded))
    assert loaded.pipeline == CLASSES[kind] and family(loaded.pipeline) == kind
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert len(ready) == 1 and ready[0].image.size == (64, 64) and ready[0].path.is_file()
    previews = [e for e in events if isinstance(e, PreviewImage)]
    assert [p.step for p in previews] == [1, 2]  # every step but the last
    for p in previews:
        # The latents' own grid (1/8 of the image; Flux's packed latents unpacked),
        # projected to RGB: colours that vary, neither black nor white nor stretched.
        assert p.image.mode == "RGB" and p.image.size == (8, 8)
        low, high = zip(*p.image.getextrema(), strict=True)
        assert max(high) - min(low) > 5
        mean = sum(p.image.convert("L").tobytes()) / 64
        assert 40 < mean < 215
    assert isinstance(events[-1], ImagesDone) and not events[-1].cancelled


def test_each_family_has_its_own_projection_and_flux_latents_are_unpacked() -> None:
    import torch
    from diffusers import FluxPipeline

    from genai_tui.engine.images.previews import FLUX_BIAS, FLUX_RGB, SD3_RGB, latents_to_rgb

    # One lit channel shows that channel's colour: the family's row, not another's.
    lat = torch.zeros(1, 16, 4, 6)
    lat[0, 15] = 1.0
    sd3 = latents_to_rgb(lat, "sd3").getpixel((0, 0))
    flux = latents_to_rgb(lat, "flux").getpixel((0, 0))
    assert sd3 != flux
    want = [round((row + bias + 1) / 2 * 255) for row, bias in zip(FLUX_RGB[15], FLUX_BIAS,
                                                                    strict=True)]  # fmt: skip
    assert list(flux) == want and SD3_RGB[15] != FLUX_RGB[15]
    # FluxPipeline packs (1, 16, 6, 10) latents to (1, 15, 64): unpacked, the same picture.
    grid = torch.randn(1, 16, 6, 10)
    packed = FluxPipeline._pack_latents(grid, 1, 16, 6, 10)
    assert packed.shape == (1, 15, 64)
    once = latents_to_rgb(grid, "flux")
    again = latents_to_rgb(packed, "flux", size=(80, 48))
    assert again.size == (10, 6) and once.tobytes() == again.tobytes()


def test_family_from_pipeline_class() -> None:
    assert family("StableDiffusionPipeline") == "sd1"
    assert family("StableDiffusionXLImg2ImgPipeline") == "sdxl"
    assert family("StableDiffusion3Pipeline") == "sd3"
    assert family("FluxPipeline") == "flux" and family("FluxImg2ImgPipeline") == "flux"


# -- single files -------------------------------------------------------------------


def test_a_checkpoint_s_family_comes_from_its_tensors_not_its_name(tmp_path) -> None:
    import torch

    from genai_tui.engine.images.families import checkpoint_shapes

    old = tmp_path / "old.ckpt"  # a pickle, read by the weights-only unpickler
    torch.save({"state_dict": {k: torch.zeros(1) for k in SD3_KEYS}}, old)
    files = [
        ("sdxl", safetensors_with(tmp_path / "sd15-pruned.safetensors", SDXL_KEYS)),
        ("sd1", safetensors_with(tmp_path / "juggernautXL.safetensors", SD1_KEYS)),
        ("sd3", safetensors_with(tmp_path / "model.safetensors", SD3_KEYS)),
        ("flux", safetensors_with(tmp_path / "sdxl-flux.safetensors", FLUX_KEYS)),
        (None, safetensors_with(tmp_path / "vae-xl.safetensors", ["decoder.conv_in.weight"])),
        ("sd3", old),
    ]
    for kind, path in files:
        shapes = checkpoint_shapes(path)
        assert shapes and family_of_keys(shapes) == kind, path.name
    assert family_of_keys(["model.diffusion_model.double_blocks.0.x",
                           "model.diffusion_model.single_blocks.0.x"]) == "flux"  # fmt: skip


def pixels(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB").tobytes()


async def test_an_sdxl_single_file_loads_with_its_config_and_makes_the_same_pictures(
    make_settings, tiny_dirs, tmp_path
) -> None:
    from tiny_families import write_sdxl_single_file

    folder = tiny_dirs["sdxl"]
    single = write_sdxl_single_file(folder, tmp_path / "dreamy.safetensors")  # no "xl" in it
    made = {}
    ways = {"single file": (single, {"dreamy.safetensors": {"config": str(folder)}}),
            "folder": (folder, {})}  # fmt: skip
    for way, (path, models) in ways.items():
        eng = Engine(make_settings(image={"threads": 1}, models=models))
        req = eng.images.request_defaults("a lighthouse", width=64, height=64, steps=2,
                                          variations=1, seed=3)  # fmt: skip
        events = [e async for e in eng.images.generate(req, str(path))]
        loaded = next(e for e in events if isinstance(e, PipelineLoaded))
        assert loaded.pipeline == "StableDiffusionXLPipeline", way
        made[way] = pixels(next(e for e in events if isinstance(e, ImageReady)).path)
        await eng.aclose()
    # The single file holds the same weights as the diffusers folder: the same picture.
    assert made["single file"] == made["folder"]


def test_a_single_file_s_config_is_named_beside_it_or_in_the_hf_cache(
    tiny_dirs, tmp_path
) -> None:
    from genai_tui.engine.images.families import base_repo, checkpoint_shapes, find_config

    folder = tiny_dirs["sdxl"]
    single = safetensors_with(tmp_path / "dreamy.safetensors", SDXL_KEYS)
    repo = base_repo(checkpoint_shapes(single), "sdxl")
    assert repo == "stabilityai/stable-diffusion-xl-base-1.0"
    assert find_config(single, repo) is None
    # As `genai-tui pull REPO --include '*.json' '*.txt'` leaves it in the HF cache.
    cache = tmp_path / "hf-cache" / "models--stabilityai--stable-diffusion-xl-base-1.0"
    (cache / "refs").mkdir(parents=True)
    (cache / "refs" / "main").write_text("0" * 40)
    (cache / "snapshots").mkdir()
    (cache / "snapshots" / ("0" * 40)).symlink_to(folder)
    assert find_config(single, repo) == cache / "snapshots" / ("0" * 40)
    (tmp_path / "dreamy").symlink_to(folder)  # beside the file, named like it: first
    assert find_config(single, repo) == tmp_path / "dreamy"
    assert find_config(single, repo, named=tiny_dirs["sd3"]) == tiny_dirs["sd3"]  # named: first


async def test_a_single_file_without_its_config_says_which_config_and_how(
    engine: Engine, tmp_path
) -> None:
    xl = safetensors_with(tmp_path / "dreamy.safetensors", SDXL_KEYS)  # no "xl" in its name
    with pytest.raises(PipelineError) as err:
        await engine.images.load(str(xl))
    said = str(err.value) + " " + err.value.hint
    assert "dreamy.safetensors is an SDXL checkpoint" in said
    assert "(stabilityai/stable-diffusion-xl-base-1.0), which is not on this machine" in said
    assert "genai-tui pull stabilityai/stable-diffusion-xl-base-1.0" in said
    assert '[models."dreamy.safetensors"] config = ' in said and "dreamy/" in said

    flux = safetensors_with(tmp_path / "f1.safetensors", FLUX_KEYS)
    with pytest.raises(PipelineError, match="is a Flux checkpoint") as err:
        await engine.images.load(str(flux))
    assert "black-forest-labs/FLUX.1" in err.value.hint and "text encoders" in err.value.hint

    odd = safetensors_with(tmp_path / "odd.safetensors", ["decoder.conv_in.weight"])
    with pytest.raises(PipelineError, match="not a checkpoint of a family"):
        await engine.images.load(str(odd))


async def test_a_named_config_of_another_family_is_refused(make_settings, tiny_dirs,
                                                           tmp_path) -> None:  # fmt: skip
    xl = safetensors_with(tmp_path / "mine.safetensors", SDXL_KEYS)
    for config, words in ((tiny_dirs["flux"], "is a FluxPipeline (Flux)"),
                          (tmp_path, "is not a diffusers pipeline folder")):  # fmt: skip
        settings = make_settings(models={"mine.safetensors": {"config": str(config)}})
        eng = Engine(settings)
        with pytest.raises(PipelineError, match=words.replace("(", r"\(").replace(")", r"\)")):
            await eng.images.load(str(xl))
        await eng.aclose()


# -- memory savers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "device", "mode", "weights_gib", "free_gib", "want"),
    [
        ("sd1", "cpu", "auto", 2, None, Savers()),  # the CPU: RAM is the limit, none
        ("sdxl", "cpu", "offload", 7, None,  # no CUDA to offload to: slicing + tiling
         Savers(attention_slicing=True, vae_slicing=True, vae_tiling=True)),
        ("sd1", "cuda", "auto", 2, 40, Savers()),  # room to spare: nothing slows it
        ("sd1", "cuda", "auto", 2, 2.5, Savers(attention_slicing=True)),  # a small GPU
        ("sdxl", "cuda", "auto", 7, 9, Savers(vae_slicing=True, vae_tiling=True)),
        ("sdxl", "cuda", "auto", 7, 12, Savers()),
        ("flux", "cuda", "auto", 33, 80, Savers()),
        ("flux", "cuda", "auto", 33, 24, Savers(offload=True, vae_slicing=True,
                                                 vae_tiling=True)),  # fmt: skip
        ("sd3", "cuda", "auto", 15, 16.5, Savers(vae_slicing=True, vae_tiling=True)),
        ("sd1", "cuda", "offload", 2, 40, Savers(offload=True)),  # asked for: honoured
        ("flux", "cuda", "none", 33, 24, Savers()),
    ],
)  # fmt: skip
def test_memory_savers_are_chosen_per_family(kind, device, mode, weights_gib, free_gib,
                                             want) -> None:  # fmt: skip
    free = None if free_gib is None else int(free_gib * GIB)
    got = choose_savers(kind, device, mode, int(weights_gib * GIB), free)
    assert got == want
    assert not (got.attention_slicing and kind in ("sd3", "flux") and mode == "auto")


def test_savers_reach_the_pipeline(tiny_dirs) -> None:
    import torch
    from diffusers import AutoPipelineForText2Image

    from genai_tui.engine.images.diffusion_load import apply_memory

    pipe = AutoPipelineForText2Image.from_pretrained(tiny_dirs["flux"], local_files_only=True)
    assert apply_memory(pipe, "cpu", "tiling", torch) == "slicing+tiling"
    assert pipe.vae.use_tiling and pipe.vae.use_slicing


# -- which GPU ----------------------------------------------------------------------


class ImageOnGpu:
    """The real DiffusionModel's footprint and placement; loading, which needs CUDA
    (absent here), is left out."""

    def __init__(self, model) -> None:
        self.model = model

    async def footprint(self) -> tuple[int, str]:
        return await self.model.footprint()

    def place(self, device: str) -> None:
        self.model.place(device)

    async def load(self):
        return self.model

    def measured_bytes(self) -> None:
        return None

    async def close(self) -> None:
        pass


@pytest.fixture
def gpus(monkeypatch):
    """Four fake GPUs that NVML sees and torch believes in."""
    import torch

    four_gpus().install(monkeypatch.setattr)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    chosen: list[int] = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    return chosen


async def test_the_image_model_goes_to_the_gpu_its_settings_name(make_settings, tiny_sd_dir,
                                                                gpus) -> None:  # fmt: skip
    import torch

    from genai_tui.engine.images.diffusion import DiffusionModel
    from genai_tui.engine.images.diffusion_load import pick_device
    from genai_tui.engine.images.families import model_options

    settings = make_settings(gpu={"reserve_mb": 0}, models={"pinned": {"device": "2"}})
    res = Residency(settings.gpu)
    # auto: the GPU with the most free memory (GPU1: 72 of 80 GB free).
    free = DiffusionModel(tiny_sd_dir, "free", settings.image, **model_options(settings, "free"))
    await res.load("free", "image", ImageOnGpu(free), free.unload)
    assert free.placed == "cuda:1" and res.get("free").device == "cuda:1"
    estimate = free.estimate_bytes()
    assert res.used("cuda:1") == estimate > 0 and res.used("cuda:0") == 0
    # [models."pinned"] device = "2": GPU2, counted in GPU2's budget only.
    pinned = DiffusionModel(tiny_sd_dir, "pinned", settings.image,
                            **model_options(settings, "pinned"))  # fmt: skip
    await res.load("pinned", "image", ImageOnGpu(pinned), pinned.unload)
    assert pinned.planned_device() == res.get("pinned").device == "cuda:2"
    assert res.used("cuda:2") == estimate
    assert res.used("cuda:1") == estimate  # the first stays where it was
    # Loading there makes that GPU this model's thread's CUDA device.
    assert pick_device("auto", torch, pinned.planned_device()) == "cuda" and gpus == [2]


async def test_an_image_model_s_gpu_the_box_lacks_or_a_split_is_refused(make_settings,
                                                                        tiny_sd_dir,
                                                                        gpus) -> None:  # fmt: skip
    from genai_tui.engine.images.diffusion import DiffusionModel

    settings = make_settings(models={"seven": {"device": "7"}, "halves": {"device": "split"}})
    res = Residency(settings.gpu)
    seven = DiffusionModel(tiny_sd_dir, "seven", settings.image, device="7")
    with pytest.raises(GpuBudgetError, match="GPU 7") as err:
        await res.load("seven", "image", ImageOnGpu(seven), seven.unload)
    assert "GPU0 (NVIDIA H100 80GB HBM3)" in str(err.value)
    halves = DiffusionModel(tiny_sd_dir, "halves", settings.image, device="split")
    with pytest.raises(PipelineError, match="one GPU") as err:
        await res.load("halves", "image", ImageOnGpu(halves), halves.unload)
    assert "auto" in err.value.hint and res.residents() == []


async def test_on_the_cpu_the_gpu_setting_is_ignored(make_settings, tiny_sd_dir) -> None:
    from genai_tui.engine.images.diffusion import DiffusionModel

    settings = make_settings(image={"device": "cpu"})
    model = DiffusionModel(tiny_sd_dir, "m", settings.image, device="3")
    assert (await model.footprint())[1] == "cpu"


def test_model_index_names_the_families(tiny_dirs) -> None:
    for kind, folder in tiny_dirs.items():
        assert json.loads((folder / "model_index.json").read_text())["_class_name"] == CLASSES[kind]
