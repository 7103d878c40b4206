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

from genai_tui.cli import gen_hires

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


def _lora(text: str) -> Any:
    """NAME or NAME:WEIGHT, as a LoraPick (the engine finds the file)."""
    from genai_tui.engine.images.loras import LoraPick

    name, _, weight = text.rpartition(":")
    try:
        return LoraPick(name.strip(), float(weight)) if name else LoraPick(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME or NAME:WEIGHT, not {text!r}") from None


def add_parser(sub: Any) -> None:
    gen = sub.add_parser(
        "gen",
        help="generate images from a prompt (diffusers)",
        description="Generate images with a local diffusers model (a folder, a repo in the "
        "Hugging Face cache, or a .safetensors file). A progress bar goes to stderr; the "
        "saved PNG paths (A1111 parameters inside) go to stdout, one per line. Unset "
        "options take the [image] settings (or, with --from, the PNG's parameters).",
    )
    gen.add_argument("prompt", nargs="?", help="what to draw (default with --from: its prompt)")
    gen.add_argument("--from", dest="gen_from", type=Path, metavar="PNG",
                     help="start from the parameters in a PNG (genai-tui's, AUTOMATIC1111's "
                     "or ComfyUI's): prompt, negative, seed, size, steps, CFG, sampler, model; "
                     "options given here win")  # fmt: skip
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
                     help="seeds of the other images (default: increment)")
    gen.add_argument("--size", type=_size, metavar="WxH", help="e.g. 512x512 (multiples of 8)")
    gen.add_argument("--negative", metavar="TEXT", help="negative prompt")
    gen.add_argument("--scheduler", metavar="NAME",
                     help="diffusers scheduler class or A1111 sampler name, e.g. 'DPM++ 2M'")
    gen.add_argument("--init", type=Path, metavar="IMAGE",
                     help="image-to-image: the picture to transform")  # fmt: skip
    gen.add_argument("--strength", type=float, metavar="S",
                     help="image-to-image: 0 keeps the picture, 1 ignores it (default 0.75)")
    gen.add_argument("--lora", dest="gen_loras", action="append", type=_lora, default=[],
                     metavar="NAME[:WEIGHT]", help="apply a LoRA (repeatable; weight 1 unless "
                     "given), as <lora:NAME:WEIGHT> in the prompt does; kind lora in "
                     "`genai-tui models`")  # fmt: skip
    gen.add_argument("--offload", action="store_true",
                     help="CPU offload (CUDA): slower, for when GPU memory runs out")  # fmt: skip
    gen.add_argument("-o", "--output", type=Path, metavar="DIR",
                     help="save here instead of the gallery folder")  # fmt: skip
    gen.add_argument("--json", action="store_true", help="print one JSON object at the end")
    gen_hires.add_arguments(gen)  # --upscale, --hires-strength/-steps, --upscaler, --mask
    gen.add_argument("--queue", action="store_true", help="add to the app's image queue "
                     "(the studio's Queue tab) instead of running now; prints the job id")


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

    recalled = _recalled(args, studio) if args.gen_from is not None else {}
    png_prompt = recalled.pop("prompt", "")
    prompt = png_prompt if args.prompt is None else args.prompt
    changes: dict[str, Any] = {
        "negative_prompt": "", "seed": None, "seed_mode": "increment", "scheduler": "",
        **recalled, "offload": args.offload,
    }  # fmt: skip
    for key, value in (("variations", args.variations), ("steps", args.gen_steps),
                       ("guidance", args.guidance), ("negative_prompt", args.negative),
                       ("seed", args.gen_seed), ("seed_mode", args.seed_mode)):  # fmt: skip
        if value is not None:
            changes[key] = value
    if args.scheduler is not None:
        changes["scheduler"] = scheduler_class(args.scheduler) if args.scheduler else ""
    if args.init is not None:
        strength = args.strength if args.strength is not None else 0.75
        changes |= {"init_image": args.init, "strength": strength}
        if args.size is None and args.init.is_file():
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(args.init) as im:
                    changes["width"], changes["height"] = fit_size(*im.size)
            except (OSError, UnidentifiedImageError):
                pass  # the engine says the file is unreadable
    if args.size is not None:
        changes["width"], changes["height"] = args.size
    if args.gen_loras:  # after the --from PNG's, which its prompt's tags already name
        changes["loras"] = (*changes.get("loras", ()), *args.gen_loras)
    changes |= gen_hires.changes(args)
    return studio.request_defaults(prompt, **changes)


def _recalled(args: argparse.Namespace, studio: Any) -> dict[str, Any]:
    """The request fields in the --from PNG (one image unless -n says more). Its model is
    used when no -m is given and it is here; else a note says the default is used."""
    from genai_tui.engine.core.errors import GenaiError
    from genai_tui.engine.images.gallery import Gallery, recalled_values

    params = Gallery.params_from_file(args.gen_from)
    if params.model and not args.gen_model:
        try:
            studio.resolve(params.model)
            args.gen_model = params.model  # the name (as the gallery records it)
        except GenaiError:
            from genai_tui.cli.common import cell

            print(f"The PNG's model {cell(params.model)} is not here: using the default image "
                  "model (pick one with -m).", file=sys.stderr)  # fmt: skip
    return {"variations": 1, **recalled_values(params)}


async def _gen(args: argparse.Namespace, settings: Settings) -> int:
    from asyncio import CancelledError

    from genai_tui.cli.common import for_stream
    from genai_tui.engine.core.errors import GenaiError, ImageOutOfMemoryError, ImageRequestError
    from genai_tui.engine.core.events import ImageReady, ImagesDone, PipelineLoaded, StepProgress
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.images.gallery import Gallery

    engine = Engine(settings)
    studio = engine.images
    if args.queue:
        return await _queue(args, engine)
    if args.output is not None:
        studio.gallery = Gallery(engine.store, args.output)
    if gen_hires.plain_upscale_asked(args):  # --init PIC --upscale F --strength 0
        return await gen_hires.plain_upscale(args, engine)
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
                gen_hires.after_load(args, studio, progress)  # --mask: an inpainting model?
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


async def _queue(args: argparse.Namespace, engine: Any) -> int:
    """--queue: the request joins the image queue; the app runs it (now if it is open)."""
    import asyncio

    from genai_tui.cli.common import fail
    from genai_tui.engine.core.errors import GenaiError, ImageRequestError
    from genai_tui.engine.images.queue import runner_active

    studio = engine.images
    try:
        if args.output is not None:
            raise ImageRequestError("--queue saves to the gallery.", "Leave out -o.")
        request = _request(args, studio)
        model = await asyncio.to_thread(studio.resolve, args.gen_model) if args.gen_model else None
        job_id = studio.queue.add(request, model, source="cli")
        position = studio.queue.job(job_id).position
    except GenaiError as exc:
        return fail(str(exc), EXIT_USAGE if isinstance(exc, ImageRequestError) else EXIT_ERROR)
    finally:
        await engine.aclose()
    if args.json:
        print(json.dumps({"job": job_id, "position": position}))
    else:
        when = ("the running app starts it in turn" if runner_active(engine.store.path)
                else "it runs when genai-tui next starts")  # fmt: skip
        print(f"Queued image job {job_id} at position {position}: {when} "
              "(F3, the Queue tab).")  # fmt: skip
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    try:
        return asyncio.run(_gen(args, settings))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
