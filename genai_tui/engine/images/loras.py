"""LoRAs: `<lora:NAME:WEIGHT>` in a prompt (as in AUTOMATIC1111), picks by name, the
files behind them, their family checked against the loaded model, and applying them to
a diffusers pipeline for one request.

The request's prompt keeps its tags (the PNG's `parameters` record them, as A1111's
do); the text the model sees has them removed. Picks made elsewhere (`gen --lora`,
`ImageRequest.loras`) are written into the prompt as tags when the request is
resolved, so the record and a recall carry every LoRA that was used.

Applying: `load_lora_weights(path, adapter_name=...)` once per file version (the
adapter stays on the pipeline for the next request), `set_adapters(names, weights)`
for this request, and `disable_lora()` for a request without LoRAs. torch, diffusers
and peft are imported by the pipeline's own calls, never here.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import ImageRequestError, ModelNotFoundError, PipelineError
from genai_tui.engine.images.families import family as pipeline_family
from genai_tui.engine.models.lora_info import CONTEXT_WIDTHS, family_name, lora_hash, lora_info

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.images.diffusion_params import ImageRequest
    from genai_tui.engine.models.local_stores import InventoryEntry

# <lora:NAME> or <lora:NAME:WEIGHT>; A1111's further fields (<lora:n:te:unet>) are read
# for the first weight and kept in the prompt as written.
TAG = re.compile(r"<lora:([^:<>]+)(?::([^:<>]*))?(?::[^<>]*)?>")
MAX_WEIGHT = 10.0
MAX_ADAPTERS = 8  # adapters kept on a pipeline; beyond, the ones not in use are deleted
GENERIC_STEMS = {"pytorch_lora_weights", "adapter_model", "lora", "model"}


@dataclass(frozen=True, slots=True)
class LoraPick:
    """One LoRA for a request: its name (as a tag says it), its weight, and, once the
    request is resolved, the file (`path`, "" before)."""

    name: str
    weight: float = 1.0
    path: str = ""

    @property
    def tag(self) -> str:
        return f"<lora:{self.name}:{self.weight:g}>"


@dataclass(frozen=True, slots=True)
class LoraFile:
    """A LoRA on disk, as the picker lists it."""

    name: str  # what `<lora:NAME>` says: the file's stem (an HF repo's name for a generic one)
    path: Path
    family: str | None  # lora_info.FAMILIES key, None when unknown
    source: str
    size: int = 0

    @property
    def family_label(self) -> str:
        return family_name(self.family) or "family unknown"


def _weight(text: str | None, tag: str) -> float:
    if text is None or not text.strip():
        return 1.0
    try:
        value = float(text)
    except ValueError:
        raise ImageRequestError(
            f"The weight '{text}' in {tag} is not a number.", "Write e.g. <lora:name:0.8>."
        ) from None
    return value


def split_tags(prompt: str) -> tuple[str, list[LoraPick]]:
    """The prompt without its `<lora:...>` tags (spaces tidied), and the tags' picks."""
    picks = [LoraPick(m[1].strip(), _weight(m[2], m[0])) for m in TAG.finditer(prompt)]
    text = TAG.sub(" ", prompt)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\s+([,.;])", r"\1", text)
    return text.strip(" ,\t"), picks


def picks_of(request: ImageRequest) -> list[LoraPick]:
    """`request.loras` as LoraPicks (a request read back from JSON holds dicts or lists)."""
    out = []
    for item in request.loras or ():
        if isinstance(item, LoraPick):
            out.append(item)
        elif isinstance(item, dict):
            out.append(LoraPick(str(item.get("name", "")), float(item.get("weight", 1.0)),
                                str(item.get("path") or "")))  # fmt: skip
        else:
            name, weight, *rest = [*item, 1.0] if len(item) == 1 else item
            out.append(LoraPick(str(name), float(weight), str(rest[0]) if rest else ""))
    return out


def check_loras(request: ImageRequest) -> None:
    """Raise ImageRequestError for a tag or pick whose name is empty or weight unusable."""
    _, tagged = split_tags(request.prompt)
    for pick in [*tagged, *picks_of(request)]:
        if not pick.name:
            raise ImageRequestError("A LoRA has no name.", "Write <lora:NAME:WEIGHT>.")
        if not math.isfinite(pick.weight) or abs(pick.weight) > MAX_WEIGHT:
            raise ImageRequestError(
                f"The LoRA weight {pick.weight:g} for {pick.name} is outside "
                f"-{MAX_WEIGHT:g}..{MAX_WEIGHT:g}.", "0.5 to 1 is typical.",
            )  # fmt: skip


def merged(request: ImageRequest) -> list[LoraPick]:
    """Every LoRA a request asks for, once each by name: its picks, then the prompt's
    tags (a tag wins over a pick of the same name: the prompt is what the person sees)."""
    by_name: dict[str, LoraPick] = {}
    for pick in picks_of(request):
        by_name[pick.name.lower()] = pick
    for pick in split_tags(request.prompt)[1]:
        known = by_name.get(pick.name.lower())
        by_name[pick.name.lower()] = LoraPick(pick.name, pick.weight, known.path if known else "")
    return list(by_name.values())


# -- finding ------------------------------------------------------------------


def lora_name(entry: InventoryEntry) -> str:
    """What `<lora:NAME>` calls a scanned LoRA: the file's stem, or its HF repo's name when
    the stem is a generic one (diffusers saves `pytorch_lora_weights.safetensors`)."""
    stem = entry.path.stem
    if stem.lower() in GENERIC_STEMS and entry.repo_id:
        return entry.repo_id.rsplit("/", 1)[-1]
    return stem


def loras_of(entries: list[InventoryEntry]) -> list[LoraFile]:
    """The LoRAs among scanned entries, by name."""
    found = [
        LoraFile(lora_name(e), e.path, lora_info(e.path).family, e.source, e.size)
        for e in entries
        if e.kind == "lora"
    ]
    return sorted(found, key=lambda f: f.name.lower())


def list_loras(settings: Settings, family: str | None = None) -> list[LoraFile]:
    """LoRAs in the models dir and the HF cache (the one scanner); with `family`, those
    made for it and those whose family is unknown."""
    from genai_tui.engine.models.inventory import scan_for

    found = loras_of(scan_for(settings))
    if family is None:
        return found
    return [f for f in found if f.family in (family, None)]


def find_lora(name: str, loras: list[LoraFile]) -> LoraFile:
    """A LoRA by name (exact, then any case, then its file name or a path). Raises
    ModelNotFoundError naming the close ones."""
    for match in (
        lambda f: f.name == name,
        lambda f: f.name.lower() == name.lower(),
        lambda f: f.path.name.lower() == name.lower(),
    ):
        hits = [f for f in loras if match(f)]
        if hits:
            return hits[0]
    path = Path(name).expanduser()
    if path.suffix.lower() == ".safetensors" and path.is_file():
        info = lora_info(path)
        if info.is_lora:
            return LoraFile(path.stem, path, info.family, "path", path.stat().st_size)
    names = [f.name for f in loras]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    close += [n for n in names if name.lower() in n.lower() and n not in close][: 5 - len(close)]
    if close:
        hint = (f"Did you mean {', '.join(close)}? The studio's F12 and `genai-tui models` "
                "list the LoRAs.")  # fmt: skip
    elif names:
        hint = "LoRAs found: " + ", ".join(names[:8]) + ("…" if len(names) > 8 else "") + "."
    else:
        hint = ("No LoRA found: put .safetensors LoRA files in the models dir, or download "
                "one into the Hugging Face cache.")  # fmt: skip
    raise ModelNotFoundError(f"No LoRA named '{name}'.", hint)


def resolve(request: ImageRequest, settings: Settings) -> ImageRequest:
    """The request with every LoRA found on disk (`loras` holds each one's file) and
    written in the prompt as a tag (picks made outside the prompt are appended).
    A request without LoRAs is returned as it is, without a scan."""
    wanted = merged(request)
    if not wanted:
        return request
    available: list[LoraFile] | None = None
    found = []
    for pick in wanted:
        if pick.path and Path(pick.path).is_file():
            found.append(pick)
            continue
        if available is None:
            available = list_loras(settings)
        file = find_lora(pick.name, available)
        found.append(LoraPick(pick.name, pick.weight, str(file.path)))
    tagged = {p.name.lower() for p in split_tags(request.prompt)[1]}
    extra = " ".join(p.tag for p in found if p.name.lower() not in tagged)
    prompt = f"{request.prompt.rstrip()} {extra}".strip() if extra else request.prompt
    return request.replace(prompt=prompt, loras=tuple(found))


def lora_hashes(request: ImageRequest) -> dict[str, str]:
    """Name -> A1111's short hash, for the resolved LoRAs of a request (PNG `Lora hashes`)."""
    out = {}
    for pick in picks_of(request):
        if not pick.path:
            continue
        try:  # A1111 drops these from the alias (the text is "name: hash, name: hash")
            out[pick.name.replace(":", "").replace(",", "")] = lora_hash(Path(pick.path))
        except OSError:
            continue  # gone since it was applied: the prompt's tag still names it
    return out


# -- applying -----------------------------------------------------------------


def model_family(pipe: Any) -> str:
    """The family of a loaded diffusers pipeline, as LoRAs name theirs."""
    kind = pipeline_family(type(pipe).__name__)
    if kind != "sd1":
        return kind
    if getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl"
    # SD 1.x and 2.x share pipeline classes; LoRAs tell them apart by the UNet's width.
    width = getattr(getattr(getattr(pipe, "unet", None), "config", None), "cross_attention_dim",
                    None)  # fmt: skip
    return CONTEXT_WIDTHS.get(width, "sd1") if isinstance(width, int) else "sd1"


def _a(name: str) -> str:
    return f"a {name}" if name.startswith("Flux") else f"an {name}"


def check_family(name: str, lora_family: str | None, family: str) -> None:
    """Refuse a LoRA made for another family than the loaded model's (unknown: allowed)."""
    if lora_family is None or lora_family == family:
        return
    theirs, ours = family_name(lora_family), family_name(family)
    raise PipelineError(
        f"{name} is {_a(theirs)} LoRA; the loaded model is {family_name(family, long=True)}.",
        f"Pick {_a(ours)} LoRA or {_a(theirs)} model.",
    )


def adapter_name(path: Path) -> str:
    """One adapter name per file version (a changed file loads again)."""
    try:
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        key = str(path)
    return "lora_" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]


def _loaded(pipe: Any) -> set[str]:
    lister = getattr(pipe, "get_list_adapters", None)
    if lister is None:
        return set()
    try:
        return {n for names in lister().values() for n in names}
    except (ValueError, AttributeError):
        return set()


def disable(pipe: Any) -> None:
    """The pipeline as without LoRAs (its adapters stay loaded for a later request)."""
    if _loaded(pipe):
        pipe.disable_lora()


def _load(pipe: Any, pick: LoraPick, adapter: str) -> None:
    try:
        pipe.load_lora_weights(pick.path, adapter_name=adapter)
    except (ValueError, RuntimeError, KeyError, OSError, TypeError) as exc:
        if adapter in _loaded(pipe):
            pipe.delete_adapters(adapter)
        detail = " ".join(str(exc).split())[:300]
        if "peft" in detail.lower() and "required" in detail.lower():
            raise PipelineError("LoRAs need the peft package, which is not installed.",
                                "Install it: pip install peft") from exc  # fmt: skip
        raise PipelineError(
            f"The LoRA {pick.name} does not fit {type(pipe).__name__}: {detail}",
            "Check that it was made for this model's family; generate without it meanwhile.",
        ) from exc


def apply(pipe: Any, request: ImageRequest) -> ImageRequest:
    """Set `pipe`'s LoRAs to the request's (none: disabled) and return the request with
    its prompt free of tags: what the model is given. Runs on the pipeline's thread."""
    prompt, _ = split_tags(request.prompt)
    picks = [p for p in picks_of(request) if p.path]
    missing = [p.name for p in merged(request) if not p.path]
    if missing:  # a request that did not go through `resolve`
        raise PipelineError(f"The LoRA {missing[0]} was not looked up.", "Generate again.")
    if not picks:
        disable(pipe)
        return request.replace(prompt=prompt)
    if not hasattr(pipe, "load_lora_weights"):
        raise PipelineError(f"{type(pipe).__name__} cannot take LoRAs.",
                            "Remove the <lora:...> tags, or pick another model.")  # fmt: skip
    family = model_family(pipe)
    by_adapter: dict[str, float] = {}
    for pick in picks:
        check_family(pick.name, lora_info(Path(pick.path)).family, family)
    loaded = _loaded(pipe)
    for pick in picks:
        adapter = adapter_name(Path(pick.path))
        if adapter not in loaded:
            _load(pipe, pick, adapter)
            loaded.add(adapter)
        by_adapter[adapter] = pick.weight
    unused = sorted(loaded - set(by_adapter))
    if len(loaded) > MAX_ADAPTERS and unused:
        pipe.delete_adapters(unused)
    pipe.enable_lora()
    pipe.set_adapters(list(by_adapter), list(by_adapter.values()))
    return request.replace(prompt=prompt)


def recalled(prompt: str, hashes: dict[str, str]) -> tuple[LoraPick, ...]:
    """The LoRAs a PNG's `Lora hashes` names that its prompt has no tag for (weight 1):
    a recall restores those too (the tagged ones come back with the prompt)."""
    tagged = {m[1].strip().lower() for m in TAG.finditer(prompt)}
    return tuple(LoraPick(name) for name in hashes if name.lower() not in tagged)


def toggle_tag(prompt: str, name: str) -> tuple[str, bool]:
    """The prompt with `<lora:NAME:1>` appended, or, when it has a tag for NAME, without
    that tag; and whether it was added."""
    tag = re.compile(rf"[ \t]*<lora:{re.escape(name)}(?::[^<>]*)?>", re.IGNORECASE)
    if tag.search(prompt):
        return tag.sub("", prompt).strip(), False
    return f"{prompt.rstrip()} {LoraPick(name).tag}".strip(), True


def loaded_family(model: Any) -> str | None:
    """The family of a DiffusionModel's loaded pipeline (None when none is loaded)."""
    pipe = getattr(model, "_pipe", None)
    return model_family(pipe) if pipe is not None else None
