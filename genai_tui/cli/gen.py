"""`genai-tui gen`: make images headless, with a progress bar on stderr; prints the paths.

Standard library only at the top, like the rest of cli/: torch and diffusers load when the
command runs. Images go to the gallery (or -o DIR) with their A1111 parameters,
and into the history the studio shows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genai_tui.config import Settings

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_OOM = 3
EXIT_INTERRUPTED = 130


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    try:
        return int(w), int(h or w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 512x768, not {text!r}") from None


def add_parser(sub: Any) -> None:
    gen = sub.add_parser(
        "gen",
        help="generate images from a prompt (diffusers)",
        description="Generate images with a local diffusers model (a folder, a repo in the "
        "Hugging Face cache, or a .safetensors file). A progress bar goes to stderr; the "
        "saved PNG paths (A1111 parameters inside) go to stdout, one per line. Unset "
        "options take the [image] settings.",
    )
    gen.add_argument("prompt", help="what to draw")
    gen.add_argument("-m", "--model", dest="gen_model", metavar="MODEL",
                     help="name from `genai-tui models`, repo id, folder or .safetensors "
                     "(default: image.default_model, else the newest image's model, "
                     "else the first found)")  # fmt: skip
    gen.add_argument("-n", "--variations", type=int, metavar="N", help="images to make")
    gen.add_argument("--steps", dest="gen_steps", type=int, metavar="N", help="denoising steps")
    gen.add_argument("--guidance", type=float, metavar="G", help="CFG scale, e.g. 7")
    gen.add_argument("--seed", dest="gen_seed", type=int, metavar="N",
                     help="seed of the first image (default: random)")  # fmt: skip
    gen.add_argument("--seed-mode", choices=("increment", "random", "fixed"),
                     default="increment", help="seeds of the other images (default: increment)")
    gen.add_argument("--size", type=_size, metavar="WxH", help="e.g. 512x512 (multiples of 8)")
    gen.add_argument("--negative", default="", metavar="TEXT", help="negative prompt")
    gen.add_argument("--scheduler", default="", metavar="NAME",
                     help="diffusers scheduler class or A1111 sampler name, e.g. 'DPM++ 2M'")
    gen.add_argument("--init", type=Path, metavar="IMAGE",
                     help="image-to-image: the picture to transform")  # fmt: skip
    gen.add_argument("--strength", type=float, default=0.75, metavar="S",
                     help="image-to-image: 0 keeps the picture, 1 ignores it (default 0.75)")
    gen.add_argument("--offload", action="store_true",
                     help="CPU offload (CUDA): slower, for when GPU memory runs out")  # fmt: skip
    gen.add_argument("-o", "--output", type=Path, metavar="DIR",
                     help="save here instead of the gallery folder")  # fmt: skip
    gen.add_argument("--json", action="store_true", help="print one JSON object at the end")


class StepBar:
    """One line on stderr, redrawn in place (only on a terminal)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._drawn = 0.0

    def say(self, text: str) -> None:
        if self.tty:  # text may name a model file: made printable
            from genai_tui.cli.common import cell

            self.stream.write("\r\x1b[K" + cell(text))
            self.stream.flush()

    def step(self, ev: Any) -> None:
        now = time.monotonic()
        if not self.tty or (now - self._drawn < 0.1 and ev.step != ev.total):
            return
        self._drawn = now
        width = max(10, min(30, shutil.get_terminal_size((80, 24)).columns - 50))
        done = (ev.index * ev.total + ev.step) / (ev.total * ev.count)
        bar = "█" * round(done * width) + "░" * (width - round(done * width))
        eta = f" · ETA {ev.eta_s:.0f}s" if ev.eta_s is not None else ""
        self.say(f"{bar} image {ev.index + 1}/{ev.count} · step {ev.step}/{ev.total}{eta}")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _request(args: argparse.Namespace, studio: Any) -> Any:
    from genai_tui.engine.images.diffusion_params import fit_size, scheduler_class

    changes: dict[str, Any] = {
        "negative_prompt": args.negative,
        "seed": args.gen_seed,
        "seed_mode": args.seed_mode,
        "scheduler": scheduler_class(args.scheduler) if args.scheduler else "",
        "offload": args.offload,
    }
    for key, value in (("variations", args.variations), ("steps", args.gen_steps),
                       ("guidance", args.guidance)):  # fmt: skip
        if value is not None:
            changes[key] = value
    if args.init is not None:
        changes |= {"init_image": args.init, "strength": args.strength}
        if args.size is None and args.init.is_file():
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(args.init) as im:
                    changes["width"], changes["height"] = fit_size(*im.size)
            except (OSError, UnidentifiedImageError):
                pass  # the engine says the file is unreadable
    if args.size is not None:
        changes["width"], changes["height"] = args.size
    return studio.request_defaults(args.prompt, **changes)


async def _gen(args: argparse.Namespace, settings: Settings) -> int:
    from asyncio import CancelledError

    from genai_tui.cli.common import for_stream
    from genai_tui.engine.core.errors import GenaiError, ImageOutOfMemoryError, ImageRequestError
    from genai_tui.engine.core.events import ImageReady, ImagesDone, PipelineLoaded, StepProgress
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.images.gallery import Gallery

    engine = Engine(settings)
    studio = engine.images
    if args.output is not None:
        studio.gallery = Gallery(engine.store, args.output)
    progress = StepBar(sys.stderr)
    ready: list[Any] = []
    done: Any = None
    loaded: Any = None
    error: tuple[str, int] | None = None
    code = 0
    try:
        request = _request(args, studio)
        model = args.gen_model or None
        progress.say(f"loading {model or 'the default image model'}…")
        async for event in studio.generate(request, model):
            if isinstance(event, StepProgress):
                progress.step(event)
            elif isinstance(event, ImageReady):
                ready.append(event)
                if not args.json:
                    progress.close()
                    print(for_stream(str(event.path), sys.stdout), flush=True)
            elif isinstance(event, PipelineLoaded):
                loaded = event
                progress.say(f"{event.name} loaded on {event.device} in {event.load_s:.1f} s")
            elif isinstance(event, ImagesDone):
                done = event
    except (KeyboardInterrupt, CancelledError):
        studio.cancel()
        code = EXIT_INTERRUPTED
    except ImageRequestError as exc:
        error = (str(exc), EXIT_USAGE)
    except ImageOutOfMemoryError as exc:
        error = (f"{exc.message} Run again with --offload, a smaller --size or fewer -n.",
                 EXIT_OOM)  # fmt: skip
    except GenaiError as exc:
        error = (str(exc), EXIT_ERROR)
    finally:
        progress.close()
        await engine.aclose()
    if error is not None:
        from genai_tui.cli.common import fail as _fail

        return _fail(*error)
    if args.json:
        json.dump({
            "model": loaded.name if loaded else (studio.model.name if studio.model else None),
            "paths": [str(e.path) for e in ready],
            "seeds": [e.seed for e in ready],
            "images": [{"path": str(e.path), "seed": e.seed, "duration_s": e.duration_s,
                        "id": e.image_id} for e in ready],
            "duration_s": done.duration_s if done else None,
            "cancelled": bool(done.cancelled) if done else code == EXIT_INTERRUPTED,
            "request": request.to_json(),
        }, sys.stdout)  # fmt: skip
        sys.stdout.write("\n")
    elif done is not None and sys.stderr.isatty():
        n = len(ready)
        print(f"{n} image{'s' * (n != 1)} in {done.duration_s:.1f} s", file=sys.stderr)
    return code


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    try:
        return asyncio.run(_gen(args, settings))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
