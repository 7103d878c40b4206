"""The `parameters` text chunk AUTOMATIC1111 writes in PNGs: build it, parse it back.

Format (one image):

    <prompt, any lines>
    Negative prompt: <negative, any lines>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: 0a1b2c3d4e,
    Model: name    (one line in the file)

The last line is `key: value` pairs separated by ", "; a value holding a comma
or a quote is written as a JSON string (as A1111 does). A1111 reads the prompt
as everything before the line starting "Negative prompt:", and the negative
prompt as everything from there to the last line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK = "parameters"
NEGATIVE = "Negative prompt:"
# key: value pairs of the last line (values may be JSON-quoted), as A1111's own parser.
_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass
class ImageParams:
    """How an image was made, as far as the A1111 text says."""

    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str = ""
    guidance: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model: str = ""
    model_hash: str = ""
    strength: float | None = None  # A1111's "Denoising strength" (img2img)
    lora_hashes: dict[str, str] = field(default_factory=dict)  # "Lora hashes": name -> hash
    extra: dict[str, str] = field(default_factory=dict)  # every other key, as written


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False) if any(c in value for c in ",:\n") else value


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def format_parameters(p: ImageParams) -> str:
    """The A1111 `parameters` text for `p`."""
    pairs: list[tuple[str, str]] = []
    if p.steps is not None:
        pairs.append(("Steps", str(p.steps)))
    if p.sampler:
        pairs.append(("Sampler", p.sampler))
    if p.guidance is not None:
        pairs.append(("CFG scale", _number(p.guidance)))
    if p.seed is not None:
        pairs.append(("Seed", str(p.seed)))
    if p.width and p.height:
        pairs.append(("Size", f"{p.width}x{p.height}"))
    if p.model_hash:
        pairs.append(("Model hash", p.model_hash))
    if p.model:
        pairs.append(("Model", p.model))
    if p.strength is not None:
        pairs.append(("Denoising strength", _number(p.strength)))
    if p.lora_hashes:  # as A1111: Lora hashes: "name: 0123456789ab, other: ..."
        pairs.append(("Lora hashes", ", ".join(f"{k}: {v}" for k, v in p.lora_hashes.items())))
    pairs += list(p.extra.items())
    text = p.prompt.strip()
    if p.negative_prompt.strip():
        text += f"\n{NEGATIVE} {p.negative_prompt.strip()}"
    last = ", ".join(f"{k}: {_quote(v)}" for k, v in pairs)
    return f"{text}\n{last}" if last else text


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def _to(kind: type, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def parse_parameters(text: str) -> ImageParams:
    """Read A1111 `parameters` text (ours or A1111's own) back into ImageParams."""
    lines = text.strip().split("\n")
    pairs: dict[str, str] = {}
    # The last line holds the settings when it has at least a few `key: value` pairs.
    if lines and len(_PAIR.findall(lines[-1])) >= 3:
        pairs = {k.strip(): _unquote(v) for k, v in _PAIR.findall(lines[-1])}
        lines = lines[:-1]
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if not in_negative and line.startswith(NEGATIVE):
            in_negative = True
            line = line[len(NEGATIVE) :].lstrip()
        (negative if in_negative else prompt).append(line)
    params = ImageParams(
        prompt="\n".join(prompt).strip(), negative_prompt="\n".join(negative).strip()
    )
    known = {"Steps", "Sampler", "CFG scale", "Seed", "Size", "Model hash", "Model",
             "Denoising strength", "Lora hashes"}  # fmt: skip
    params.steps = _to(int, pairs.get("Steps"))
    params.sampler = pairs.get("Sampler", "")
    params.guidance = _to(float, pairs.get("CFG scale"))
    params.seed = _to(int, pairs.get("Seed"))
    if (size := _SIZE.match(pairs.get("Size", ""))) is not None:
        params.width, params.height = int(size.group(1)), int(size.group(2))
    params.model_hash = pairs.get("Model hash", "")
    params.model = pairs.get("Model", "")
    params.strength = _to(float, pairs.get("Denoising strength"))
    hashes = [item.rpartition(":") for item in pairs.get("Lora hashes", "").split(",")]
    params.lora_hashes = {k.strip(): v.strip() for k, _, v in hashes if k.strip()}
    params.extra = {k: v for k, v in pairs.items() if k not in known}
    return params


def png_info(parameters: str) -> Any:
    """A PngInfo holding the `parameters` chunk: tEXt when Latin-1 can hold it, else iTXt
    (what A1111 writes, through the same PIL call)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(CHUNK, parameters)
    return info


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_BYTES = 1 << 20  # a `parameters` chunk is a few KB; more is not ours to read


def read_parameters(path: Path, name: str = CHUNK) -> str | None:
    """The `parameters` text (or the text chunk `name`) of a PNG, or None when it has none
    (or is not a PNG).

    Reads the chunks, skipping the pixel data (IDAT) unread: a foreign PNG of any
    size costs a few small reads, never a decode (no decompression bomb).
    """
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return None
        while len(header := f.read(8)) == 8:
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"IEND":
                return None
            if kind not in (b"tEXt", b"iTXt", b"zTXt") or length > MAX_TEXT_BYTES:
                f.seek(length + 4, 1)  # the data and its CRC
                continue
            text = _text_chunk(kind, f.read(length), name)
            f.seek(4, 1)
            if text is not None:
                return text
    return None


def _text_chunk(kind: bytes, data: bytes, name: str = CHUNK) -> str | None:
    """The text of a tEXt/zTXt/iTXt chunk whose keyword is `name`, else None."""
    import zlib

    keyword, _, rest = data.partition(b"\0")
    if keyword != name.encode():
        return None
    try:
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":  # method byte, then zlib data
            return _inflate(zlib, rest[1:]).decode("latin-1")
        flag, rest = rest[0], rest[2:]  # iTXt: compression flag, method
        _lang, _, rest = rest.partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        return (_inflate(zlib, text) if flag else text).decode("utf-8", "replace")
    except (IndexError, zlib.error):
        return None  # a damaged chunk: as if there were none


def _inflate(zlib: Any, data: bytes) -> bytes:
    out = zlib.decompressobj()
    text = out.decompress(data, MAX_TEXT_BYTES)
    if out.unconsumed_tail:
        raise zlib.error("text chunk too large")
    return bytes(text)


def read_params(path: Path) -> ImageParams | None:
    text = read_parameters(path)
    return parse_parameters(text) if text is not None else None
