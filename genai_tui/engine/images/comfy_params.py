"""Generation parameters from a ComfyUI PNG, as ImageParams (what an A1111 PNG gives).

ComfyUI's SaveImage writes two JSON text chunks: `prompt`, the graph it ran (API format:
`{node id: {"class_type": ..., "inputs": {...}}}`, an input linked to another node's output
as `[node id, slot]`), and `workflow`, the editor's layout of it. The `prompt` graph is read:
the sampler node (KSampler, KSamplerAdvanced) gives seed, steps, CFG and the sampler; its
`positive`/`negative` links lead to CLIPTextEncode nodes (the prompts), its `latent_image`
to an EmptyLatentImage (the size); the checkpoint loader names the model.

Bad JSON or a graph without a sampler raises GenaiError saying so, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.images.diffusion_params import MAX_SEED
from genai_tui.engine.images.png_params import ImageParams, read_parameters

CHUNK = "prompt"
SAMPLERS = ("KSampler", "KSamplerAdvanced")
# ComfyUI's sampler_name -> the A1111 name (diffusion_params.SAMPLER_NAMES knows those).
SAMPLER_NAMES = {
    "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a", "lms": "LMS", "dpmpp_sde": "DPM++ SDE",
    "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE", "ddim": "DDIM", "ddpm": "DDPM",
    "uni_pc": "UniPC", "uni_pc_bh2": "UniPC", "deis": "DEIS", "lcm": "LCM",
}  # fmt: skip
TEXT_INPUTS = ("text", "text_g", "string", "value", "text_l")
MAX_HOPS = 8  # links followed from the sampler to a prompt's text


def _node(graph: dict[str, Any], ref: Any) -> dict[str, Any] | None:
    """The node a link `[id, slot]` points at."""
    if isinstance(ref, list) and ref:
        node = graph.get(str(ref[0]))
        return node if isinstance(node, dict) else None
    return None


def _inputs(node: dict[str, Any] | None) -> dict[str, Any]:
    inputs = node.get("inputs") if node else None
    return inputs if isinstance(inputs, dict) else {}


def _text(graph: dict[str, Any], ref: Any, hops: int = MAX_HOPS) -> str:
    """The prompt text behind a conditioning link: a text input on the node, or on the
    nodes it links to (a text primitive, a conditioning combine, ...), depth first."""
    if isinstance(ref, str):
        return ref
    inputs = _inputs(_node(graph, ref))
    if hops <= 0 or not inputs:
        return ""
    for key in TEXT_INPUTS:
        if key in inputs:
            text = _text(graph, inputs[key], hops - 1)
            if text:
                return text
    for key, value in inputs.items():
        if key not in TEXT_INPUTS and isinstance(value, list):
            text = _text(graph, value, hops - 1)
            if text:
                return text
    return ""


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


def _sampler(graph: dict[str, Any]) -> dict[str, Any]:
    """The first pass's sampler: the one starting from an empty latent, else the first."""
    samplers = [n for _, n in sorted(graph.items(), key=lambda kv: (len(kv[0]), kv[0]))
                if isinstance(n, dict) and n.get("class_type") in SAMPLERS]  # fmt: skip
    if not samplers:
        raise GenaiError(
            "This ComfyUI PNG's workflow has no KSampler node.",
            "Only text-to-image graphs with a KSampler can be recalled.",
        )
    for node in samplers:
        latent = _inputs(_node(graph, _inputs(node).get("latent_image")))
        if "width" in latent and "height" in latent:
            return node
    return samplers[0]


def params_from_prompt(graph: Any) -> ImageParams:
    """ImageParams from ComfyUI's `prompt` graph (already parsed JSON)."""
    if not isinstance(graph, dict):
        raise GenaiError("This ComfyUI PNG's `prompt` chunk is not a workflow graph.",
                         "Open it in ComfyUI, or pick a PNG that ComfyUI saved.")  # fmt: skip
    inputs = _inputs(_sampler(graph))
    params = ImageParams(extra={"Source": "ComfyUI"})
    params.prompt = _text(graph, inputs.get("positive")).strip()
    params.negative_prompt = _text(graph, inputs.get("negative")).strip()
    params.steps = _number(inputs.get("steps"), int)
    params.guidance = _number(inputs.get("cfg"), float)
    seed = _number(inputs.get("seed", inputs.get("noise_seed")), int)
    if seed is not None and not 0 <= seed <= MAX_SEED:  # ComfyUI seeds are 64-bit
        params.extra["ComfyUI seed"] = str(seed)
        seed %= MAX_SEED + 1
    params.seed = seed
    name = inputs.get("sampler_name")
    if isinstance(name, str):
        params.sampler = SAMPLER_NAMES.get(name, "")
        if not params.sampler:
            params.extra["ComfyUI sampler"] = name
    latent = _inputs(_node(graph, inputs.get("latent_image")))
    width, height = _number(latent.get("width"), int), _number(latent.get("height"), int)
    if width and height:
        params.width, params.height = width, height
    denoise = _number(inputs.get("denoise"), float)
    if denoise is not None and denoise < 1.0:
        params.strength = denoise
    for node in graph.values():
        ckpt = _inputs(node if isinstance(node, dict) else None).get("ckpt_name")
        if isinstance(ckpt, str):
            params.model = Path(ckpt.replace("\\", "/")).stem
            break
    return params


def read_comfy_params(path: Path) -> ImageParams | None:
    """A ComfyUI PNG's parameters; None when it has no `prompt` chunk. Raises GenaiError
    when the chunk is there but not a graph this can read."""
    text = read_parameters(path, CHUNK)
    if text is None:
        return None
    try:
        graph = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenaiError(
            f"{Path(path).name} has a ComfyUI `prompt` chunk that is not valid JSON "
            f"({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            "The file may be damaged; open it in ComfyUI, or pick another PNG.",
        ) from None
    return params_from_prompt(graph)
