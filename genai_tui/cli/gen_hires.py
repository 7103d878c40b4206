"""`genai-tui gen`'s hires fix, upscaling and inpainting flags (hooks of cli/gen.py).

    --upscale F              hires fix: each result upscaled by F and refined (A1111's
                             "Hires. fix"); with --init PIC --strength 0: PIC upscaled
                             only, no model run (A1111's Extras tab)
    --hires-strength S       the refining pass's denoising strength (default 0.5)
    --hires-steps N          its steps (default: as many as --steps)
    --upscaler NAME          an upscaler model (ESRGAN .pth/.safetensors) or Lanczos
    --mask PATH              inpainting with --init: white = repaint

Standard library only at the top, like the rest of cli/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(gen: Any) -> None:
    gen.add_argument("--upscale", type=float, metavar="F",
                     help="hires fix: upscale each result by F (e.g. 2) and refine it with "
                     "image-to-image; with --init PIC --strength 0, only upscale PIC (no "
                     "model runs)")  # fmt: skip
    gen.add_argument("--hires-strength", type=float, metavar="S",
                     help="hires fix: denoising strength of the refining pass (default 0.5)")
    gen.add_argument("--hires-steps", type=int, metavar="N",
                     help="hires fix: steps of the refining pass (default: --steps)")
    gen.add_argument("--upscaler", metavar="NAME",
                     help="upscaler model (an ESRGAN .pth/.safetensors: name or path) or "
                     "Lanczos (default: the first upscaler model found, else Lanczos)")
    gen.add_argument("--mask", type=Path, metavar="PATH",
                     help="inpainting (needs --init): a mask picture, white where the init "
                     "picture is repainted, black where it is kept")  # fmt: skip


def changes(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the flags set (those not given keep the --from PNG's or the
    defaults)."""
    found: dict[str, Any] = {}
    for key, value in (("hires_scale", args.upscale), ("hires_strength", args.hires_strength),
                       ("hires_steps", args.hires_steps), ("upscaler", args.upscaler),
                       ("mask_image", args.mask)):  # fmt: skip
        if value is not None:
            found[key] = value
    return found


def plain_upscale_asked(args: argparse.Namespace) -> bool:
    """--init PIC --upscale F --strength 0: upscale PIC only (no model, no prompt)."""
    return args.init is not None and args.upscale is not None and args.strength == 0


async def plain_upscale(args: argparse.Namespace, engine: Any) -> int:
    """Upscale the --init picture into the gallery (or -o DIR); prints the new path."""
    from genai_tui.cli.common import cell, fail, for_stream
    from genai_tui.engine.core.errors import GenaiError, ImageRequestError

    try:
        done = await engine.images.upscale(args.init, args.upscale, args.upscaler)
    except GenaiError as exc:
        return fail(str(exc), 2 if isinstance(exc, ImageRequestError) else 1)
    finally:
        await engine.aclose()
    if args.json:
        json.dump({"paths": [str(done.path)], "upscaler": done.upscaler, "note": done.note,
                   "size": [done.width, done.height], "id": done.image_id}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(for_stream(str(done.path), sys.stdout), flush=True)
        if done.note:
            print(cell(done.note), file=sys.stderr)
    return 0


def after_load(args: argparse.Namespace, studio: Any, progress: Any) -> None:
    """Once the model is loaded: for --mask with a model that is not an inpainting one,
    a note on stderr (below the progress line)."""
    if args.mask is None or studio.model is None:
        return
    from genai_tui.cli.common import cell
    from genai_tui.engine.images.inpaint import inpaint_note

    if note := inpaint_note(studio.model):
        progress.close()
        print(f"note: {cell(note)}", file=sys.stderr)
