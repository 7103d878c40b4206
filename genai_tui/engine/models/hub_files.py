"""What the Hub lists, understood: search results and model details as the UI shows
them, GGUF files grouped by quantization, diffusers repos by component and variant,
model-card summaries, and whether a choice fits this machine."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal

from genai_tui.engine.models.gguf_info import GGUFInfo
from genai_tui.engine.models.names import (
    SPLIT_SUFFIX,
    WEIGHT_SHARD,
    is_projector_name,
    projector_preference,
    quant_in_name,
)

GIB = 1024**3
MIB = 1024**2


# -- what the UI shows ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HubModel:
    repo_id: str
    author: str | None
    downloads: int
    likes: int
    last_modified: datetime | None
    gated: bool | str  # False, "auto" or "manual"
    license: str | None
    pipeline_tag: str | None
    library: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[HubModel]
    page: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # LFS files only; None for small files kept in git


@dataclass(frozen=True, slots=True)
class QuantGroup:
    """One download choice: a quantization, possibly split over several files; in a
    vision repo its files end with the repo's projector (mmproj), fetched with it."""

    quant: str
    files: tuple[HubFile, ...]  # the model's files (part 1 first), then the projector
    size: int  # all of them: the projector is loaded with the model
    projector: HubFile | None = None

    @property
    def note(self) -> str:
        """"+ vision projector (mmproj-F16.gguf, 595.9 MB)", or ""."""
        if self.projector is None:
            return ""
        from genai_tui.engine.core.text import human_bytes

        name = PurePosixPath(self.projector.path).name
        return f"+ vision projector ({name}, {human_bytes(self.projector.size)})"


@dataclass(frozen=True, slots=True)
class DiffusersComponent:
    name: str  # the folder: unet, vae, text_encoder, tokenizer, scheduler, ...
    files: tuple[HubFile, ...]


@dataclass(frozen=True, slots=True)
class DiffusersLayout:
    components: tuple[DiffusersComponent, ...]
    variants: tuple[str, ...]  # "" is the default (no variant), e.g. ("", "fp16")
    root_files: tuple[HubFile, ...]  # model_index.json

    def fetch_files(self, variant: str = "", prefer_safetensors: bool = True) -> list[HubFile]:
        """What diffusers would fetch for `variant`: one weight format per component."""
        files = list(self.root_files)
        formats = ["safetensors", "bin"] if prefer_safetensors else ["bin", "safetensors"]
        order = [(v, ext) for ext in formats for v in dict.fromkeys([variant, ""])]
        for comp in self.components:
            weights: dict[tuple[str, str], list[HubFile]] = {}
            for f in comp.files:
                key = _weight_key(f.path)
                if key is None:
                    if not f.path.endswith(_OTHER_FORMATS):
                        files.append(f)  # configs, tokenizer files
                else:
                    weights.setdefault(key, []).append(f)
            chosen = next((weights[k] for k in order if k in weights), [])
            files += chosen
        return files

    def fetch_size(self, variant: str = "", prefer_safetensors: bool = True) -> int:
        return sum(f.size for f in self.fetch_files(variant, prefer_safetensors))

    @staticmethod
    def file_dtype(variant: str) -> str:
        """The dtype the files of `variant` hold (default files are taken as fp32)."""
        return variant if variant in _DTYPE_BYTES else "fp32"


@dataclass(frozen=True, slots=True)
class ModelDetail:
    model: HubModel
    sha: str | None  # the commit
    summary: str  # plain text from the model card, <= 600 chars
    files: tuple[HubFile, ...]
    gguf: tuple[QuantGroup, ...]
    diffusers: DiffusersLayout | None


@dataclass(frozen=True, slots=True)
class FitEstimate:
    verdict: Literal["fits", "partly offloaded", "does not fit"]
    need_bytes: int
    vram_free: int | None
    ram_free: int
    text: str


# -- file names ------------------------------------------------------------------------



def group_gguf(files: list[HubFile] | tuple[HubFile, ...]) -> tuple[QuantGroup, ...]:
    """GGUF files grouped by quantization, smallest first; split parts form one group.

    Vision projectors (an "mmproj" in the name) are not a choice of their own: the repo's
    projector (`hub_projector`) comes with every choice, its last file.
    """
    groups: dict[str, list[HubFile]] = {}
    projectors: list[HubFile] = []
    for f in files:
        name = PurePosixPath(f.path).name
        if not name.lower().endswith(".gguf"):
            continue
        if is_projector_name(name):
            projectors.append(f)
            continue
        label = quant_in_name(f.path) or SPLIT_SUFFIX.sub("", name).removesuffix(".gguf")
        groups.setdefault(label, []).append(f)
    projector = hub_projector(projectors)
    extra = (projector,) if projector else ()
    result = [
        QuantGroup(q, (*sorted(fs, key=lambda f: f.path), *extra),
                   sum(f.size for f in (*fs, *extra)), projector)
        for q, fs in groups.items()
    ]  # fmt: skip
    return tuple(sorted(result, key=lambda g: (g.size, g.quant)))


def hub_projector(projectors: list[HubFile]) -> HubFile | None:
    """The projector a repo's GGUF choices come with: f16 if there is one, else bf16,
    else the smallest (names.projector_preference)."""
    if not projectors:
        return None
    return min(projectors, key=lambda f: projector_preference(f.path, f.size))


_WEIGHT_RE = re.compile(
    rf"^[^.]+?(?:\.(?P<v>[A-Za-z0-9_]+))?(?:{WEIGHT_SHARD})?\.(?P<ext>safetensors|bin)$"
)
_INDEX_RE = re.compile(r"^[^.]+\.(?P<ext>safetensors|bin)\.index(?:\.(?P<v>[A-Za-z0-9_]+))?\.json$")
_OTHER_FORMATS = (".onnx", ".onnx_data", ".msgpack", ".ckpt", ".pb", ".h5", ".pt", ".pth", ".gguf")
_DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}


def _weight_key(path: str) -> tuple[str, str] | None:
    """(variant, format) of a diffusers weight or shard-index file; None for other files."""
    name = PurePosixPath(path).name
    m = _WEIGHT_RE.match(name) or _INDEX_RE.match(name)
    return (m.group("v") or "", m.group("ext")) if m else None


def diffusers_layout(
    files: list[HubFile] | tuple[HubFile, ...], component_names: list[str] | None = None
) -> DiffusersLayout | None:
    """The layout of a diffusers repo (model_index.json at the top), else None."""
    by_path = {f.path: f for f in files}
    if "model_index.json" not in by_path:
        return None
    folders: dict[str, list[HubFile]] = {}
    for f in files:
        top, _, rest = f.path.partition("/")
        if rest and not top.startswith("."):
            folders.setdefault(top, []).append(f)
    names = [n for n in component_names if n in folders] if component_names else sorted(folders)
    components = tuple(DiffusersComponent(n, tuple(folders[n])) for n in names)
    variants = {key[0] for c in components for f in c.files if (key := _weight_key(f.path))}
    ordered = tuple(sorted(variants, key=lambda v: (v != "", v)))
    return DiffusersLayout(components, ordered, (by_path["model_index.json"],))


# -- model cards -----------------------------------------------------------------------

_CTRL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


_BLOCKS = (("<!--", "-->"), ("```", "```"), ("~~~", "~~~"))


def _without_blocks(text: str) -> str:
    """`text` without HTML comments and fenced code, in one pass (an unclosed one runs to
    the end, as Markdown renders it): no regex backtracking over a hostile card."""
    out: list[str] = []
    pos = 0
    while True:
        starts = [(i, close) for opening, close in _BLOCKS if (i := text.find(opening, pos)) >= 0]
        if not starts:
            out.append(text[pos:])
            return "".join(out)
        at, close = min(starts)
        out.append(text[pos:at])
        end = text.find(close, at + 3)
        if end < 0:
            return "".join(out)
        pos = end + len(close)


def card_summary(text: str, limit: int = 600) -> str:
    """The first paragraph(s) of a model card as plain text (no front matter or markdown).

    Linear in the card's length: every step is a single pass or a bounded pattern."""
    text = text.lstrip("\ufeff")
    if text.startswith("---"):  # YAML front matter
        end = text.find("\n---", 3)
        if end >= 0:
            after = text.find("\n", end + 4)
            text = text[after + 1 :] if after >= 0 else ""
    text = _without_blocks(text)
    text = re.sub(r"<[^>\n]+>", "", text)
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para[:4 * limit]  # more than a summary needs; keeps each step short
        lines = [ln.strip() for ln in para.strip().splitlines()]
        lines = [ln for ln in lines if ln and not re.match(r"^(#|\||[-*_=]{3,}$|!\[|\[!\[)", ln)]
        if not lines:
            continue
        plain = " ".join(re.sub(r"^([-*+]|\d+[.)])\s+|^>\s*", "", ln) for ln in lines)
        plain = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", plain)
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain)
        plain = re.sub(r"\*\*|__|[*`]", "", plain)  # emphasis and code marks
        plain = " ".join(_CTRL_RE.sub(" ", plain).split())
        if plain:
            out.append(plain)
        if sum(len(p) for p in out) >= 200:
            break
    summary = "\n\n".join(out)
    if len(summary) > limit:
        summary = summary[: limit - 1].rsplit(" ", 1)[0] + "…"
    return summary


# -- fit estimates ---------------------------------------------------------------------


def free_vram() -> int | None:
    """Free memory of the emptiest NVIDIA GPU, from NVML; None without a GPU or driver."""
    from genai_tui.engine.gpu.nvml import free_vram as nvml_free_vram

    return nvml_free_vram()


def free_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def estimate_gguf_need(group: QuantGroup, header: GGUFInfo | None, context_length: int) -> int:
    """Bytes to run a GGUF choice: weights + f16 KV cache at `context_length` + overhead.

    Without a readable header the KV cache is unknown and only weights + overhead count.
    `context_length` 0 means the model's own context (from the header).
    """
    need = group.size + 256 * MIB + group.size // 20  # compute buffers, scratch
    per_token = header.kv_bytes_per_token() if header else None
    ctx = context_length or (header.context_length if header else None) or 0
    if per_token:
        need += per_token * ctx
    return need


def estimate_diffusers_need(size_bytes: int, dtype: str = "fp16", file_dtype: str = "fp32") -> int:
    """Bytes to run a diffusers pipeline whose files hold `size_bytes` at `file_dtype`,
    loaded at `dtype` ("fp32", "fp16", "bf16"): weights plus room for activations."""
    weights = size_bytes * _DTYPE_BYTES.get(dtype, 4) // _DTYPE_BYTES.get(file_dtype, 4)
    return weights + max(512 * MIB, weights // 5)


def _gb(n: int) -> str:
    return f"{n / GIB:.1f} GB"


def fit(need_bytes: int, *, vram_free: int | None, ram_free: int) -> FitEstimate:
    """Does `need_bytes` fit in free VRAM, VRAM + RAM (partly offloaded), or not at all?"""
    need = f"needs {_gb(need_bytes)}"
    verdict: Literal["fits", "partly offloaded", "does not fit"]
    if vram_free is not None and need_bytes <= vram_free:
        verdict, text = "fits", f"Fits: {need}, {_gb(vram_free)} free on the GPU."
    elif vram_free is not None and need_bytes <= vram_free + ram_free:
        verdict = "partly offloaded"
        text = (
            f"Partly offloaded: {need}, {_gb(vram_free)} free on the GPU "
            f"+ {_gb(ram_free)} free RAM; expect slower generation."
        )
    elif vram_free is None and need_bytes <= ram_free:
        verdict, text = "fits", f"Fits in RAM (no GPU seen): {need}, {_gb(ram_free)} free."
    else:
        where = f"{_gb(vram_free)} free on the GPU + " if vram_free is not None else ""
        verdict = "does not fit"
        text = (
            f"Does not fit: {need}, only {where}{_gb(ram_free)} free RAM. "
            "Pick a smaller quantization or a shorter context."
        )
    return FitEstimate(verdict, need_bytes, vram_free, ram_free, text)
