"""LoRAs on the tiny real SD pipeline: found by the scanner, applied by tag or pick,
refused for another family, recorded in the PNG as A1111 does, restored by a recall."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from genai_tui.engine.core.errors import ImageRequestError, ModelNotFoundError, PipelineError
from genai_tui.engine.core.events import ImageReady
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.diffusion_params import validate
from genai_tui.engine.images.gallery import Gallery
from genai_tui.engine.images.loras import LoraPick, picks_of, split_tags
from genai_tui.engine.images.png_params import format_parameters, parse_parameters, read_params
from genai_tui.engine.models.inventory import scan_local_models
from genai_tui.engine.models.lora_info import header_info, lora_hash


@pytest.fixture(scope="module")
def lora_files(tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real LoRA for the tiny pipeline, and an SDXL one in kohya's layout."""
    from tiny_lora import build_tiny_lora, write_kohya_lora

    root = tmp_path_factory.mktemp("loras")
    return {
        "tiny": build_tiny_lora(tiny_sd_dir, root / "tiny.safetensors"),
        "xl-style": write_kohya_lora(root / "xl-style.safetensors", {
            "ss_network_module": "networks.lora", "ss_base_model_version": "sdxl_base_v1-0",
            "ss_sd_model_name": "sd_xl_base_1.0.safetensors"}),  # fmt: skip
    }


@pytest.fixture
async def engine(settings, tiny_sd_dir: Path, lora_files: dict[str, Path]):
    folder = settings.models_path
    (folder / "loras").mkdir(parents=True)
    (folder / "tiny-sd").symlink_to(tiny_sd_dir)
    for name, path in lora_files.items():
        shutil.copyfile(path, folder / "loras" / f"{name}.safetensors")
    eng = Engine(settings.model_copy(update={"image": settings.image.model_copy(
        update={"threads": 1, "preview_every": 0})}))  # fmt: skip
    yield eng
    await eng.aclose()


async def make(engine: Engine, prompt: str, **changes) -> ImageReady:
    request = engine.images.request_defaults(prompt, width=64, height=64, steps=2,
                                             variations=1, seed=7, **changes)  # fmt: skip
    ready = [e async for e in engine.images.generate(request) if isinstance(e, ImageReady)]
    assert len(ready) == 1
    return ready[0]


def pixels(event: ImageReady) -> bytes:
    return event.image.convert("RGB").tobytes()


async def test_a_lora_changes_the_picture_and_leaves_no_trace(engine: Engine) -> None:
    plain = await make(engine, "a red barn")
    tagged = await make(engine, "a red barn <lora:tiny:0.9>")
    assert pixels(tagged) != pixels(plain)
    # The next request without a tag is the model alone; so is weight 0 (the tag never
    # reaches the text encoder, or these would differ too).
    assert pixels(await make(engine, "a red barn")) == pixels(plain)
    assert pixels(await make(engine, "a red barn, <lora:tiny:0>")) == pixels(plain)
    # A pick made outside the prompt (gen --lora) is the same as the tag.
    picked = await make(engine, "a red barn", loras=(LoraPick("tiny", 0.9),))
    assert pixels(picked) == pixels(tagged)
    # The file was loaded once: repeating a request does not load it again.
    adapters = engine.images.model._pipe.get_list_adapters()
    assert [len(names) for names in adapters.values()] == [1]

    # The PNG records it as A1111 does: the tag in the prompt, its hash in "Lora hashes".
    params = read_params(tagged.path)
    digest = lora_hash(engine.settings.models_path / "loras" / "tiny.safetensors")
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    assert params.prompt == "a red barn <lora:tiny:0.9>"
    assert params.lora_hashes == {"tiny": digest}
    assert f'Lora hashes: "tiny: {digest}"' in tagged.path.read_bytes().decode("latin-1")
    assert read_params(picked.path).prompt == "a red barn <lora:tiny:0.9>"
    # ... and a recall of the file makes the same picture again.
    recalled = Gallery.request_from_file(tagged.path)
    again = [e async for e in engine.images.generate(recalled) if isinstance(e, ImageReady)]
    assert pixels(again[0]) == pixels(tagged)


async def test_a_lora_of_another_family_or_name_is_refused(engine: Engine) -> None:
    plain = await make(engine, "a red barn")
    with pytest.raises(PipelineError) as refused:
        await make(engine, "a red barn <lora:xl-style:0.8>")
    assert str(refused.value) == (
        "xl-style is an SDXL LoRA; the loaded model is Stable Diffusion 1.x. "
        "Pick an SD 1.x LoRA or an SDXL model."
    )
    with pytest.raises(ModelNotFoundError) as unknown:
        await make(engine, "a red barn <lora:tinny>")
    assert "No LoRA named 'tinny'. Did you mean tiny?" in str(unknown.value)
    # A LoRA of no known family that does not fit the model says so when it loads.
    from tiny_lora import write_kohya_lora

    write_kohya_lora(engine.settings.models_path / "loras" / "odd.safetensors", width=32)
    with pytest.raises(PipelineError, match="The LoRA odd does not fit StableDiffusionPipeline"):
        await make(engine, "a red barn <lora:odd>")
    # Refused requests leave the model as it was.
    assert pixels(await make(engine, "a red barn")) == pixels(plain)


def test_the_scanner_lists_loras_with_their_family(
    tmp_path: Path, lora_files: dict[str, Path]
) -> None:
    from store_layouts import hf_cache_repo
    from tiny_lora import write_kohya_lora

    models = tmp_path / "models"
    (models / "loras").mkdir(parents=True)
    shutil.copyfile(lora_files["tiny"], models / "loras" / "tiny.safetensors")
    shutil.copyfile(lora_files["xl-style"], models / "loras" / "xl-style.safetensors")
    write_kohya_lora(models / "old-sd15.safetensors", {"ss_network_module": "networks.lora"},
                     width=768)  # no family in the metadata: the key shapes say SD 1.x
    cache = tmp_path / "hf"
    hf_cache_repo(cache, "someone/pixel-art-lora",
                  {"pytorch_lora_weights.safetensors": lora_files["tiny"], "README.md": b"x"})
    entries = scan_local_models(models, hf_cache=cache, lmstudio_dirs=[], ollama_dir=tmp_path)
    loras = {e.name: (e.kind, e.architecture, e.kind_label) for e in entries if e.kind == "lora"}
    assert loras == {
        "loras/tiny.safetensors": ("lora", None, "lora"),
        "loras/xl-style.safetensors": ("lora", "SDXL", "lora SDXL"),
        "old-sd15.safetensors": ("lora", "SD 1.x", "lora SD 1.x"),
        "someone/pixel-art-lora": ("lora", None, "lora"),
    }
    from genai_tui.engine.images.loras import loras_of

    assert [f.name for f in loras_of(entries)] == ["old-sd15", "pixel-art-lora", "tiny",
                                                  "xl-style"]  # fmt: skip


@pytest.mark.parametrize(
    ("metadata", "width", "family"),
    [
        ({"modelspec.architecture": "stable-diffusion-xl-v1-base/lora"}, 768, "sdxl"),
        ({"modelspec.architecture": "stable-diffusion-v1/lora"}, 2048, "sd1"),
        ({"ss_base_model_version": "sd_v2"}, 768, "sd2"),
        ({"ss_base_model_version": "flux1"}, 768, "flux"),
        ({"ss_network_module": "networks.lora"}, 1024, "sd2"),
        ({"ss_network_module": "networks.lora"}, 2048, "sdxl"),
        ({"ss_sd_model_name": "sd_xl_base_1.0.safetensors"}, 32, "sdxl"),
        ({}, 32, None),
    ],
)
def test_family_from_metadata_then_key_shapes(metadata, width, family) -> None:
    block = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
    header = {"__metadata__": metadata,
              f"{block}.lora_down.weight": {"dtype": "F16", "shape": [4, width]}}  # fmt: skip
    info = header_info(header)
    assert info.is_lora and info.family == family
    assert not header_info({"model.diffusion_model.out.0.weight": {"shape": [4]}}).is_lora


def test_tags_in_the_prompt_and_lora_hashes_in_the_text() -> None:
    text, picks = split_tags("a cat <lora:ink:0.6>, <LORA:x> studio light <lora:b>")
    assert text == "a cat, <LORA:x> studio light"  # A1111's tag is lower case
    assert picks == [LoraPick("ink", 0.6), LoraPick("b", 1.0)]
    with pytest.raises(ImageRequestError, match=r"The weight 'strong' in <lora:ink:strong>"):
        validate(_request("a <lora:ink:strong>"))
    with pytest.raises(ImageRequestError, match="outside -10..10"):
        validate(_request("a", loras=(LoraPick("ink", 40.0),)))
    # A1111's own line reads back, and a hash without a tag is recalled as a pick.
    params = parse_parameters(
        'a cat <lora:ink:0.6>\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, '
        'Size: 512x512, Lora hashes: "ink: 0123456789ab, glow: ba9876543210", Version: v1.9'
    )
    assert params.lora_hashes == {"ink": "0123456789ab", "glow": "ba9876543210"}
    assert 'Lora hashes: "ink: 0123456789ab, glow: ba9876543210"' in format_parameters(params)
    from genai_tui.engine.images.gallery import request_from_params

    request = request_from_params(params)
    assert request.prompt == "a cat <lora:ink:0.6>" and request.loras == (LoraPick("glow"),)
    # A request read back from its JSON (the queue, the gallery row) keeps its picks.
    picked = _request("a", loras=(LoraPick("ink", 0.5, "/l/ink.safetensors"),))
    data = json.loads(json.dumps(picked.to_json()))
    assert picks_of(_request("a", loras=data["loras"])) == [*picked.loras]


def _request(prompt: str, **changes):
    from genai_tui.engine.images.diffusion_params import ImageRequest

    return ImageRequest(prompt, **changes)


def test_gen_takes_loras_by_flag(
    tmp_path: Path, tiny_sd_dir: Path, lora_files: dict[str, Path], capsys
) -> None:
    from genai_tui.cli import main

    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny-sd").symlink_to(tiny_sd_dir)
    shutil.copyfile(lora_files["tiny"], models / "tiny.safetensors")
    shutil.copyfile(lora_files["xl-style"], models / "xl-style.safetensors")

    def gen(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(tmp_path / "data"), "--models-dir", str(models), "gen",
                     "a red barn", "-n", "1", "--size", "64", "--steps", "2", "--seed", "3",
                     *args])  # fmt: skip
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = gen("--lora", "tiny:0.7", "--lora", "tiny")
    assert code == 0, err
    params = read_params(Path(out.strip()))
    assert params.prompt == "a red barn <lora:tiny:1>"  # the last pick of a name wins
    assert list(params.lora_hashes) == ["tiny"]
    code, _, err = gen("--lora", "xl-style:0.5")
    assert code == 1 and "xl-style is an SDXL LoRA; the loaded model is Stable Diffusion " \
        "1.x." in err
    with pytest.raises(SystemExit) as usage:
        gen("--lora", "tiny:lots")
    assert usage.value.code == 2 and "expected NAME or NAME:WEIGHT" in capsys.readouterr().err
