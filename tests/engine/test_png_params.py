"""The A1111 `parameters` chunk: our writing matches A1111's format; A1111's text reads back."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from genai_tui.engine.images.png_params import (
    ImageParams,
    format_parameters,
    parse_parameters,
    png_info,
    read_parameters,
    read_params,
)

# Written by AUTOMATIC1111 v1.10 (txt2img, a LoRA, hires fix): prompt and negative
# over several lines, commas everywhere, quoted values holding commas and colons.
A1111_TEXT = (
    "masterpiece, best quality, a castle on a hill, (sunset:1.2),\n"
    "volumetric light <lora:detail:0.6>\n"
    "Negative prompt: lowres, bad anatomy,\n"
    "watermark\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3938251, "
    "Size: 768x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    'Denoising strength: 0.45, Hires upscale: 2, Lora hashes: "detail: 62e1dd9f1a2b, '
    'other: 0123456789ab", Version: v1.10.1'
)


def test_format_is_exactly_a1111s() -> None:
    p = ImageParams(prompt="prompt", negative_prompt="neg", steps=20, sampler="Euler a",
                    guidance=7.0, seed=1, width=512, height=512, model_hash="abcd1234ef",
                    model="name")  # fmt: skip
    assert format_parameters(p) == (
        "prompt\nNegative prompt: neg\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, "
        "Size: 512x512, Model hash: abcd1234ef, Model: name"
    )
    p.guidance, p.negative_prompt = 7.5, ""
    assert format_parameters(p).startswith("prompt\nSteps: 20, Sampler: Euler a, CFG scale: 7.5,")


def test_reads_a1111_text_with_commas_newlines_and_quoted_values() -> None:
    p = parse_parameters(A1111_TEXT)
    assert p.prompt == (
        "masterpiece, best quality, a castle on a hill, (sunset:1.2),\n"
        "volumetric light <lora:detail:0.6>"
    )
    assert p.negative_prompt == "lowres, bad anatomy,\nwatermark"
    assert (p.steps, p.sampler, p.guidance, p.seed) == (30, "DPM++ 2M", 6.5, 3938251)
    assert (p.width, p.height) == (768, 512)
    assert (p.model_hash, p.model, p.strength) == ("6ce0161689", "v1-5-pruned-emaonly", 0.45)
    assert p.lora_hashes == {"detail": "62e1dd9f1a2b", "other": "0123456789ab"}
    assert p.extra["Schedule type"] == "Karras" and p.extra["Version"] == "v1.10.1"


def test_round_trip_of_awkward_prompts() -> None:
    p = ImageParams(prompt="a cat, a dog\nsecond line: with colon", negative_prompt="blur,\nnoise",
                    steps=4, sampler="DDIM", guidance=0.0, seed=0, width=64, height=96,
                    model="org/some model, v2", model_hash="0123456789", strength=0.3,
                    extra={"Note": "x, y"})  # fmt: skip
    back = parse_parameters(format_parameters(p))
    assert back == p


def test_prompt_only_text_has_no_settings_line() -> None:
    p = parse_parameters("just a prompt, with a comma")
    assert p.prompt == "just a prompt, with a comma" and p.steps is None and p.extra == {}


def test_png_chunk_written_and_read(tmp_path: Path) -> None:
    path = tmp_path / "ours.png"
    text = format_parameters(ImageParams(prompt="ünïcode ✓ prompt", steps=2, seed=5,
                                         sampler="Euler", guidance=3, width=8, height=8))
    Image.new("RGB", (8, 8)).save(path, pnginfo=png_info(text))
    assert read_parameters(path) == text
    params = read_params(path)
    assert params is not None and params.prompt == "ünïcode ✓ prompt" and params.seed == 5


def test_reads_a_png_written_the_way_a1111_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "00012-3938251.png"
    info = PngInfo()
    info.add_text("parameters", A1111_TEXT)  # A1111: modules/images.py, same PIL call
    Image.new("RGB", (16, 16), "white").save(path, pnginfo=info)
    params = read_params(path)
    assert params is not None and params.seed == 3938251 and params.width == 768


def test_png_without_parameters(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(path)
    assert read_parameters(path) is None and read_params(path) is None


def bomb_png(path: Path, parameters: str | None = None) -> Path:
    """A PNG whose header claims 100000x100000 pixels (a decompression bomb to PIL),
    with a `parameters` chunk after its (tiny, damaged) pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    if parameters is not None:
        body += chunk(b"tEXt", b"parameters\0" + parameters.encode("latin-1"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))
    return path


def test_parameters_of_a_huge_foreign_png_are_read_without_decoding_it(tmp_path: Path) -> None:
    png = bomb_png(tmp_path / "huge.png", "a castle\nSteps: 20, Seed: 7, Size: 512x512")
    assert read_parameters(png) == "a castle\nSteps: 20, Seed: 7, Size: 512x512"
    params = read_params(png)
    assert params is not None and params.seed == 7
    assert read_parameters(bomb_png(tmp_path / "plain.png")) is None
    (tmp_path / "not.png").write_bytes(b"GIF89a....")
    assert read_parameters(tmp_path / "not.png") is None


def test_parameters_in_compressed_itxt_are_read(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_itxt("parameters", "ünïcode prompt\nSteps: 5, Seed: 1, Size: 64x64", zip=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "i.png", pnginfo=info)
    assert read_parameters(tmp_path / "i.png") == "ünïcode prompt\nSteps: 5, Seed: 1, Size: 64x64"
