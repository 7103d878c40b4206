"""Which GPU a chat model goes to on a box with several: the `device` setting of
`[models."NAME"]`, the device strings residency keeps, and llama.cpp's arguments.

The setting: "auto" (one GPU: that one; several: the one with the most free memory
that fits), a GPU index ("1"), or "split" (layers across all GPUs, in proportion to
their free memory, as llama.cpp does) with an optional share per GPU ("split:3,1").

A model's device string, as `footprint` gives it and residency keeps it: "cpu",
"cuda:N" (one GPU), "cuda:0+1=3,1" (layers split across GPUs 0 and 1, 3:1); before
residency places it also "cuda:auto", "cuda:split" or "cuda:split=3,1".
GPU indices are NVML's (the driver's PCI order); llama.cpp is told the same order
through CUDA_DEVICE_ORDER=PCI_BUS_ID when nothing else set it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from genai_tui.engine.core.errors import GpuBudgetError
from genai_tui.engine.core.text import human_bytes

# NVML numbers GPUs in PCI order, CUDA fastest first: make CUDA use NVML's numbers (read
# when CUDA starts, so set here, on the engine's import, unless the user set it).
os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")

DEVICE_HELP = (
    "auto, a GPU index (0, 1, ...), or split (layers across all GPUs; split:3,1 sets each "
    "GPU's share)"
)
_SETTING = re.compile(r"^(auto|\d+|split(?::(\d+(?:\.\d+)?(?:,\d+(?:\.\d+)?)*))?)$")
_PLACED = re.compile(r"^cuda:(\d+(?:\+\d+)*)(?:=([\d.,]+))?$")
OPEN = ("cuda:auto", "cuda:split")  # what residency still has to place


def parse_device(text: str) -> str:
    """The setting in its canonical form ("auto", "1", "split", "split:3,1"); raises
    ValueError saying what it takes."""
    value = re.sub(r"\s+", "", str(text).lower()).replace("split=", "split:")
    if value and value[0].isdigit() and "," in value:
        value = f"split:{value}"  # "3,1" is a split
    match = _SETTING.match(value)
    if not match:
        raise ValueError(f"'{text}' is not a device: use {DEVICE_HELP}")
    if match.group(2) and not any(float(w) > 0 for w in match.group(2).split(",")):
        raise ValueError(f"'{text}' gives no GPU a share: at least one must be above 0")
    return str(int(value)) if value.isdigit() else value


def requested(setting: str) -> str:
    """The device string a model on the GPU asks residency for (not yet placed)."""
    value = parse_device(setting or "auto")
    if value == "auto":
        return "cuda:auto"
    if value.isdigit():
        return f"cuda:{value}"
    return "cuda:" + value.replace(":", "=")


@dataclass(frozen=True)
class Gpu:
    """One GPU as placement sees it: index, name, free memory now."""

    index: int
    name: str
    free: int


def probe_gpus() -> tuple[Gpu, ...]:
    """The GPUs NVML sees, with their free memory (none without a driver); blocking."""
    from genai_tui.engine.gpu.nvml import NvmlReader

    nvml = NvmlReader()
    try:
        free, names = nvml.memory(free=True), nvml.names()
    finally:
        nvml.close()
    return tuple(Gpu(i, names.get(i, f"GPU {i}"), free.get(i, 0)) for i in sorted(names))


def listing(gpus: tuple[Gpu, ...]) -> str:
    """`GPU0 (NVIDIA H100 80GB HBM3), GPU1 (...)`, or what NVML sees when none."""
    if not gpus:
        return "no NVIDIA GPU that NVML can see"
    return ", ".join(f"GPU{g.index} ({g.name})" for g in gpus)


def no_such_gpu(setting: str, gpus: tuple[Gpu, ...]) -> str:
    """Why `setting` names a GPU this box lacks ("" when it does not)."""
    value = parse_device(setting)
    have = {g.index for g in gpus}
    if value.isdigit() and int(value) not in have:
        return f"there is no GPU {value} on this box; it has {listing(gpus)}"
    if value.startswith("split:"):
        shares = value.split(":")[1].split(",")
        if len(shares) > len(gpus):
            return (f"split:{','.join(shares)} gives shares to {len(shares)} GPUs; this box "
                    f"has {len(gpus)}: {listing(gpus)}")  # fmt: skip
    return ""


def pools_of(device: str) -> dict[str, float]:
    """The pools a placed device draws on, with the fraction of the model in each:
    "cuda:0+1=3,1" -> {"cuda:0": 0.75, "cuda:1": 0.25}; "cuda" is "cuda:0"."""
    device = (device or "cpu").lower()
    if device == "cuda":
        return {"cuda:0": 1.0}
    match = _PLACED.match(device)
    if not match or "+" not in match.group(1):
        return {device: 1.0}
    indices = match.group(1).split("+")
    weights = [float(w) for w in match.group(2).split(",")] if match.group(2) else []
    if len(weights) != len(indices) or sum(weights) <= 0:
        weights = [1.0] * len(indices)
    total = sum(weights)
    return {f"cuda:{i}": w / total for i, w in zip(indices, weights, strict=True)}


def device_label(device: str) -> str:
    """Where a model sits, as the GPU line and the loaded-models table say it: "CPU",
    "GPU1", "GPU0+1"."""
    pools = [p for p in pools_of(device) if p.startswith("cuda:")]
    if not pools:
        return "CPU" if device.lower() == "cpu" else device.upper()
    indices = [p.split(":")[1] for p in pools]
    return "GPU" + "+".join(i if i.isdigit() else "?" for i in indices)


def split_device(weights: dict[int, float]) -> str:
    """The device string for layers split by `weights` (GPU index -> share)."""
    used = {i: w for i, w in sorted(weights.items()) if w > 0}
    if len(used) == 1:
        return f"cuda:{next(iter(used))}"
    shares = ",".join(f"{w:g}" for w in used.values())
    return "cuda:" + "+".join(str(i) for i in used) + f"={shares}"


def place(device: str, need: int, gpus: tuple[Gpu, ...], ours: dict[int, int],
          reserve: int = 0) -> str:  # fmt: skip
    """Where a model of `need` bytes asking for `device` goes, on `gpus` (NVML's view;
    `ours`: bytes our idle models hold per GPU, which residency may unload).

    auto: the GPU with the most free memory that fits; else the one that fits once our
    idle models there are gone; else the one with the most room (residency explains).
    An index must exist; a split covers all GPUs or the ones given a share.
    """
    if device not in OPEN and not device.startswith("cuda:split"):
        index = device.partition(":")[2]
        if gpus and index.isdigit() and int(index) not in {g.index for g in gpus}:
            raise no_gpu_error(index, gpus)
        return device
    if len(gpus) <= 1:
        return f"cuda:{gpus[0].index}" if gpus else "cuda:0"
    if device == "cuda:auto":
        by_free = sorted(gpus, key=lambda g: (-g.free, g.index))
        room = {g.index: g.free + ours.get(g.index, 0) for g in gpus}
        fits = [g for g in by_free if g.free - reserve >= need]
        fits = fits or [g for g in by_free if room[g.index] - reserve >= need]
        best = fits[0] if fits else max(by_free, key=lambda g: (room[g.index], -g.index))
        return f"cuda:{best.index}"
    given = device.partition("=")[2]
    if given:
        shares = [float(w) for w in given.split(",")]
        if len(shares) > len(gpus):
            raise GpuBudgetError(f"split:{given} gives shares to {len(shares)} GPUs; this "
                                 f"box has {len(gpus)}: {listing(gpus)}.", FIX)  # fmt: skip
        return split_device({g.index: w for g, w in zip(gpus, shares, strict=False)})
    # llama.cpp's own default split: by each GPU's free memory (in MiB, for short strings)
    return split_device({g.index: max(g.free, 0) // 1024**2 for g in gpus})


FIX = 'Set the model\'s device (F7, Models) to "auto", a GPU this box has, or "split".'


def no_gpu_error(index: str, gpus: tuple[Gpu, ...]) -> GpuBudgetError:
    return GpuBudgetError(f"The model's device is GPU {index}, but this box has "
                          f"{listing(gpus)}.", FIX)  # fmt: skip


def llama_args(device: str | None) -> dict[str, Any]:
    """`Llama(...)` arguments for a placed device: one GPU -> split_mode none, main_gpu;
    a split -> split_mode layer, tensor_split by index. None or the CPU: nothing."""
    if not device or not device.startswith("cuda:") or device in OPEN:
        return {}
    pools = pools_of(device)
    indices = [int(p.split(":")[1]) for p in pools]
    if len(indices) == 1:
        return {"split_mode": 0, "main_gpu": indices[0]}  # LLAMA_SPLIT_MODE_NONE
    split = [0.0] * (max(indices) + 1)
    for index, share in zip(indices, pools.values(), strict=True):
        split[index] = round(share, 4)
    return {"split_mode": 1, "main_gpu": indices[0], "tensor_split": split}  # LAYER


def describe(need: int, device: str) -> str:
    """`8.0 GiB on GPU0+1 (6.0 GiB + 2.0 GiB)` for messages."""
    pools = pools_of(device)
    each = " + ".join(human_bytes(int(need * f)) for f in pools.values())
    return f"{human_bytes(need)} on {device_label(device)}" + (
        f" ({each})" if len(pools) > 1 else ""
    )
