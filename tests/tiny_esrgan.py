"""Tiny ESRGAN-family upscalers with random weights, saved as real model files.

Built with spandrel's own architecture classes (the ones its loader detects from the
tensor names): an old-layout ESRGAN RRDBNet as a pickled `.pth` state dict (what A1111's
models/ESRGAN folder holds) and a Real-ESRGAN compact SRVGGNet as `.safetensors`. A few
hundred KB each; their output is noise at twice the size.
"""

from __future__ import annotations

from pathlib import Path


def build_rrdb_pth(path: Path, *, scale: int = 2, seed: int = 0) -> Path:
    """An ESRGAN (RRDBNet, old layout: `model.0.weight`, `model.1.sub.N...`) `.pth`."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


def build_compact_safetensors(path: Path, *, scale: int = 2, seed: int = 0) -> Path:
    """A Real-ESRGAN compact (SRVGGNetCompact: `body.N.weight`) `.safetensors`."""
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path
