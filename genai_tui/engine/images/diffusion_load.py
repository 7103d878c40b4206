"""Loading a diffusers pipeline: checks of the files, offline loading (folder or single
file), the memory savers, the device and dtype, and the model hash A1111 records.

Helpers of engine/diffusion.py; torch and diffusers are imported inside functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genai_tui.engine.core.errors import PipelineError

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")


def quiet_libraries() -> None:
    """No progress bars or warnings on stderr: they would scribble over the TUI."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_hash(path: Path) -> str:
    """A1111's short model hash: the first 10 hex digits of the file's sha256.

    For a diffusers folder: the same of its UNet (or transformer) weights file,
    the first in name order when sharded; in the HF cache the blob's name is
    that sha256 already, so nothing is read.
    """
    if path.is_file():
        return file_sha256(path)[:10]
    for sub in ("unet", "transformer"):
        files = sorted((path / sub).glob("*.safetensors")) or sorted((path / sub).glob("*.bin"))
        if files:
            real = files[0].resolve()
            if real.parent.name == "blobs" and len(real.name) == 64:
                return real.name[:10]
            return file_sha256(real)[:10]
    return ""


def pick_device(setting: str, torch: Any, placed: str | None = None) -> str:
    """"cuda" or "cpu" for image.device; with `placed` (the GPU residency chose, "cuda:1")
    that GPU becomes this thread's current CUDA device, where the pipeline then goes."""
    from genai_tui.engine.images.families import cuda_index

    has_cuda = bool(torch.cuda.is_available())
    if setting == "cuda" and not has_cuda:
        raise PipelineError(
            f"image.device is 'cuda', but this torch ({torch.__version__}) sees no CUDA GPU.",
            "Set image.device = \"auto\" to use the CPU, or install a CUDA build of torch.",
        )
    device = "cuda" if has_cuda and setting != "cpu" else "cpu"
    if device == "cuda" and (index := cuda_index(placed)) is not None:
        torch.cuda.set_device(index)  # each model has its own thread: this is its GPU
    return device


def pick_dtype(setting: str, device: str, torch: Any) -> Any:
    if setting != "auto":
        return getattr(torch, setting)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def module_bytes(pipe: Any, largest: bool = False) -> int:
    """Bytes of the weights and buffers of every torch module in the pipeline (or of
    the largest one: what a GPU holds at a time under model CPU offload)."""
    import torch

    sizes = [0]
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            tensors = (*component.parameters(), *component.buffers())
            sizes.append(sum(t.numel() * t.element_size() for t in tensors))
    return max(sizes) if largest else sum(sizes)


def check_source(path: Path) -> None:
    """Raise PipelineError (with what to do) unless `path` looks like a loadable model."""
    if not path.exists():
        raise PipelineError(
            f"No image model at {path}.",
            "Pick one from the list (ctrl+o in the studio), or download one from the "
            "Models screen (F2, kind: diffusers).",
        )
    if path.is_file():
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise PipelineError(
                f"{path.name} is not a diffusers model or a .safetensors checkpoint.",
                "Pick a folder with model_index.json or a .safetensors file.",
            )
        return
    index = path / "model_index.json"
    if not index.is_file():
        raise PipelineError(
            f"{path} has no model_index.json: it is not a diffusers pipeline folder.",
            "Pick the folder that holds model_index.json (with unet/, vae/, ...).",
        )
    try:
        components = json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(
            f"{index} cannot be read: {exc}.", "Download the model again."
        ) from exc
    missing = [
        name for name, value in components.items()
        if not name.startswith("_") and isinstance(value, list) and value[0] is not None
        and not (path / name).is_dir()
    ]  # fmt: skip
    if missing:
        raise PipelineError(
            f"{path.name} lacks the folders {', '.join(missing)} that model_index.json names.",
            "The download is incomplete: download the model again.",
        )

_FORCE_SAFE, _FORCE_UNSAFE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_guard_lock = threading.Lock()
_guard_depth = 0
_guard_saved: dict[str, str | None] = {}


@contextmanager
def weights_only_loads() -> Iterator[None]:
    """Every torch.load in the block (diffusers', transformers', whatever they pass)
    unpickles tensors and plain containers only, never other Python objects: a pickled
    checkpoint (.ckpt, .bin) can run code when loaded otherwise. Torch reads
    TORCH_FORCE_WEIGHTS_ONLY_LOAD at each load; nested and concurrent blocks share it."""
    global _guard_depth
    with _guard_lock:
        if _guard_depth == 0:
            _guard_saved.update({k: os.environ.get(k) for k in (_FORCE_SAFE, _FORCE_UNSAFE)})
            os.environ[_FORCE_SAFE] = "1"
            os.environ.pop(_FORCE_UNSAFE, None)
        _guard_depth += 1
    try:
        yield
    finally:
        with _guard_lock:
            _guard_depth -= 1
            if _guard_depth == 0:
                for key, value in _guard_saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def _refuse_pickle(name: str, exc: BaseException) -> PipelineError | None:
    """A clear refusal when loading failed because a pickle held more than tensors."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, pickle.UnpicklingError):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    found = re.search(r"GLOBAL ([\w.]+)", str(seen))
    what = f" ({found.group(1)})" if found else ""
    return PipelineError(
        f"{name} was not loaded: besides weights it holds pickled Python objects{what}, "
        "which could run code on this machine. Only plain weights are loaded from pickle "
        "files; nothing in it was run.",
        "Use the model's .safetensors file instead (most checkpoints are published as "
        "one). Converting this file means unpickling it: do that only if you trust where "
        "it came from.",
    )


def from_disk(path: Path, name: str, dtype: Any, config: Path | None = None) -> Any:
    """The text-to-image pipeline at `path` (a diffusers folder or a single file), offline;
    `config`: the diffusers folder a single file takes its config from (named by the user).

    Pickled weights (.ckpt, .bin) are loaded with torch's weights_only unpickler only."""
    import torch
    from diffusers import AutoPipelineForText2Image

    if path.suffix.lower() == ".ckpt" and torch.__version__ < "2.6":
        raise PipelineError(
            f"{name} is a pickled checkpoint, and this torch ({torch.__version__}) is older "
            "than 2.6, which genai-tui needs to load pickles as plain weights.",
            "Install torch 2.6 or newer, or use the model's .safetensors file.",
        )
    # `torch_dtype` works on every diffusers we accept; newer ones warn it is renamed.
    warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
    try:
        with weights_only_loads():
            if path.is_file():
                return _from_single_file(path, name, dtype, config)
            return AutoPipelineForText2Image.from_pretrained(
                path, torch_dtype=dtype, local_files_only=True, safety_checker=None
            )
    except PipelineError:
        raise
    except ValueError as exc:
        if "AutoPipeline can't find a pipeline" in str(exc) or "not supported" in str(exc):
            kind = json.loads((path / "model_index.json").read_text())["_class_name"]
            raise PipelineError(
                f"{name} is a {kind}, which is not a text-to-image pipeline we can run.",
                "Pick a Stable Diffusion, SDXL, SD3, Flux or similar text-to-image model.",
            ) from exc
        raise _damaged(name, exc) from exc
    except (OSError, RuntimeError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise _refuse_pickle(name, exc) or _damaged(name, exc) from exc

def _damaged(name: str, exc: Exception) -> PipelineError:
    detail = " ".join(str(exc).split())[:300]
    return PipelineError(
        f"{name} could not be loaded: {detail}",
        "Its files are missing or damaged: download the model again.",
    )

def _from_single_file(path: Path, name: str, dtype: Any, config: Path | None = None) -> Any:
    """A single-file checkpoint, its family told by its tensor names, its config from
    `config` (named by the user), a diffusers folder beside it named like it, or the
    family's repo in the HF cache; never fetched from the Hub here (offline)."""
    import diffusers

    from genai_tui.engine.images.families import (
        LABELS,
        PIPELINES,
        a_label,
        base_repo,
        checkpoint_shapes,
        config_class,
        family,
        family_of_keys,
        find_config,
    )

    shapes = checkpoint_shapes(path)
    kind = family_of_keys(shapes)
    if config is not None and not (config / "model_index.json").is_file():
        raise PipelineError(
            f"The config named for {name}, {config}, is not a diffusers pipeline folder.",
            "Name the folder that holds model_index.json (a diffusers copy of the same "
            "model family), or remove the setting to use the one beside the file.",
        )
    if kind is None and config is None:
        raise PipelineError(
            f"{path.name} is not a checkpoint of a family genai-tui knows (SD 1.x/2.x, "
            "SDXL, SD3, Flux): none of their tensor names are in it.",
            "Use the model's diffusers folder, or name its config folder: "
            f'[models."{name}"] config = "/path/to/diffusers-folder".',
        )
    repo = base_repo(shapes, kind or "sd1")
    sibling = path.with_suffix("")
    found = find_config(path, repo, config)
    if found is None:
        assert kind is not None
        more = (" (with its text encoders and VAE, which a single file of this family often "
                f"lacks): `genai-tui pull {repo}`" if kind in ("sd3", "flux") else
                f": `genai-tui pull {repo} --include '*.json' '*.txt'`")  # fmt: skip
        raise PipelineError(
            f"{path.name} is {a_label(kind)} checkpoint; loading it offline needs its "
            f"pipeline's config ({repo}), which is not on this machine.",
            f"Fetch it once{more}; or name a local diffusers folder of the same model: "
            f'[models."{name}"] config = "/path/to/folder" in the config file, or put it '
            f"beside the file as {sibling.name}/.",
        )
    wanted = config_class(found) or PIPELINES[kind or "sd1"]
    if kind is not None and family(wanted) != kind:
        raise PipelineError(
            f"{path.name} is {a_label(kind)} checkpoint, but its config {found} is a "
            f"{wanted} ({LABELS[family(wanted)]}).",
            f"Name a diffusers folder of {a_label(kind)} model as its config.",
        )
    cls = getattr(diffusers, wanted, None) or getattr(diffusers, PIPELINES[kind or "sd1"])
    try:
        return cls.from_single_file(
            str(path), config=str(found), torch_dtype=dtype, local_files_only=True
        )
    except Exception as exc:
        if refused := _refuse_pickle(name, exc):
            raise refused from exc
        detail = " ".join(str(exc).split())[:200]
        raise PipelineError(
            f"The checkpoint {path.name} could not be loaded as a {cls.__name__} with the "
            f"config in {found}: {detail}",
            "The config must be of the same model (a different variant has other sizes). "
            "A damaged file must be downloaded again.",
        ) from exc


def apply_memory(pipe: Any, device: str, mode: str, torch: Any) -> str:
    """Turn on the memory savers asked for (auto: chosen for the pipeline's family and the
    GPU's free memory, see families.choose_savers); returns their label. On a GPU, the
    torch thread's current device is the one residency placed the model on."""
    from genai_tui.engine.images.families import choose_savers, family

    free = torch.cuda.mem_get_info()[0] if device == "cuda" and mode == "auto" else None
    dtype = getattr(pipe, "dtype", None)
    width = dtype.itemsize if dtype is not None and hasattr(dtype, "itemsize") else 2
    savers = choose_savers(family(type(pipe).__name__), device, mode, module_bytes(pipe),
                           free, width)  # fmt: skip
    if savers.attention_slicing:
        pipe.enable_attention_slicing()
    vae: Any = getattr(pipe, "vae", None)
    if savers.vae_tiling and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if savers.vae_slicing and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
    if savers.offload:
        # The GPU residency chose; a later enable_model_cpu_offload() (a retry after
        # running out of memory) reuses it too.
        pipe._offload_gpu_id = torch.cuda.current_device()
        pipe.enable_model_cpu_offload(gpu_id=pipe._offload_gpu_id)
    return savers.label


_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}  # fmt: skip


def _safetensors_elements(path: Path) -> int | None:
    """Number of tensor elements in a .safetensors file, from its header alone."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 100_000_000:
                return None
            header = json.loads(f.read(size))
    except (OSError, ValueError):
        return None
    total = 0
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        count = 1
        for dim in info.get("shape", []):
            count *= int(dim)
        total += count
    return total


def _weight_files(folder: Path) -> list[Path]:
    """What `from_pretrained` loads from a diffusers folder: per component, the
    .safetensors without a variant (else with one, else .bin)."""
    chosen: list[Path] = []
    for component in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(component.glob("*.safetensors")) or sorted(component.glob("*.bin"))
        plain = [f for f in files if len(f.name.split(".")) == 2]  # no ".fp16." variant
        chosen += plain or files[:1]
    return chosen


def estimate_bytes(path: Path, dtype_bytes: int) -> int:
    """Memory the pipeline's weights will take once loaded at `dtype_bytes` per element
    (2 for float16/bfloat16, 4 for float32); read from file headers, nothing loaded."""
    path = Path(path)
    files = [path] if path.is_file() else _weight_files(path) if path.is_dir() else []
    total = 0
    for f in files:
        elements = _safetensors_elements(f) if f.suffix == ".safetensors" else None
        if elements is None:  # .bin / .ckpt: assume float32 on disk
            try:
                elements = f.stat().st_size // 4
            except OSError:
                elements = 0
        total += elements * dtype_bytes
    return total
