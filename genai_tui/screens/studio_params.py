"""The studio's parameters: the line that shows them, the keys that change them, and the
parameter list (F8) that reaches each one from any terminal. A base of StudioScreen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import printable
from genai_tui.engine.images.diffusion_params import (
    SEED_MODES,
    ImageRequest,
    sampler_name,
    with_field,
)
from genai_tui.screens.dialogs import TextDialog
from genai_tui.widgets.dialog import Dialog

if TYPE_CHECKING:
    from genai_tui.engine.images.studio import ImageModel, ImageStudio

# Offered by alt+c before a model is loaded (then: the model's compatible ones).
COMMON_SCHEDULERS = ("", "EulerAncestralDiscreteScheduler", "EulerDiscreteScheduler",
                     "DPMSolverMultistepScheduler", "DDIMScheduler", "UniPCMultistepScheduler")

# (action, label, shortcut) for each line of the parameter list
PARAMETERS = (
    ("ask('size')", "Size", "alt+s"),
    ("ask('steps')", "Steps", "alt+t"),
    ("ask('guidance')", "Guidance (CFG)", "alt+g"),
    ("ask('seed')", "Seed", "alt+e"),
    ("cycle_seed_mode", "Seed mode", "alt+m"),
    ("cycle_scheduler", "Sampler", "alt+c"),
    ("ask('variations')", "Images per request", "alt+v"),
    ("ask('init')", "Image-to-image: init image", "alt+i"),
    ("ask('strength')", "Image-to-image: strength", "alt+r"),
    ("ask('mask')", "Inpainting: mask", "alt+k"),
    ("ask('hires_scale')", "Hires fix: upscale", "alt+h"),
    ("ask('hires_strength')", "Hires fix: strength", "alt+d"),
)
# Alt+letter shortcuts, where the terminal sends them; priority: never typed as text.
PARAMETER_KEYS = [Binding(key, action, label, show=False, priority=True, tooltip=f"{label} (F8)")
                  for action, label, key in PARAMETERS]  # fmt: skip


def parameter_values(r: ImageRequest) -> dict[str, str]:
    seed = "random" if r.seed is None or r.seed < 0 else str(r.seed)
    return {
        "ask('size')": f"{r.width}x{r.height}",
        "ask('steps')": str(r.steps),
        "ask('guidance')": f"{r.guidance:g}",
        "ask('seed')": seed,
        "cycle_seed_mode": r.seed_mode,
        "cycle_scheduler": sampler_name(r.scheduler) if r.scheduler else "model's sampler",
        "ask('variations')": str(r.variations),
        "ask('init')": Path(r.init_image).name if r.init_image else "off",
        "ask('strength')": f"{r.strength:g}",
        "ask('mask')": Path(r.mask_image).name if r.mask_image else "off",
        "ask('hires_scale')": f"×{r.hires_scale:g}" if r.hires_scale else "off",
        "ask('hires_strength')": f"{r.hires_strength:g}",
    }


class ParameterList(Dialog[str | None]):
    """Arrows pick a parameter, Enter edits it (or moves to the next choice); Esc closes."""

    def __init__(self, request: ImageRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        values = parameter_values(self.request)
        width = max(len(label) for _, label, _ in PARAMETERS)
        options = []
        for action, label, key in PARAMETERS:
            text = Text(f"{label:<{width}}  ")
            text.append(printable(values[action]), style="bold")
            text.append(f"  {key}", style="dim")
            options.append(Option(text, id=action))
        with Vertical():
            yield Label("Parameters (Enter edits, Esc closes)", classes="title")
            yield OptionList(*options, id="parameter-list")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class StudioParams(Screen[None]):
    """The parameter keys; StudioScreen supplies the state below."""

    images: ImageStudio
    request: ImageRequest
    model: ImageModel | None
    offload_next: bool

    if TYPE_CHECKING:  # StudioScreen's

        def say(self, text: str, error: bool = False) -> None: ...

    def action_parameters(self) -> None:
        def picked(action: str | None) -> None:
            if action:
                self.call_later(self.run_action, action)

        self.app.push_screen(ParameterList(self.request), picked)

    def _show_params(self) -> None:
        r = self.request
        model = self.model.name if self.model else "no model"
        seed = "random" if r.seed is None or r.seed < 0 else str(r.seed)
        sampler = sampler_name(r.scheduler) if r.scheduler else "model's sampler"
        parts = [model, f"{r.width}x{r.height}", f"{r.steps} steps", f"CFG {r.guidance:g}",
                 f"seed {seed} ({r.seed_mode})", sampler, f"×{r.variations}"]  # fmt: skip
        if r.init_image is not None:
            parts.append(f"img2img {Path(r.init_image).name} @ {r.strength:g}")
        if r.mask_image is not None:
            parts.append(f"mask {Path(r.mask_image).name}")
        if r.hires_scale:
            parts.append(f"hires ×{r.hires_scale:g} @ {r.hires_strength:g}")
        if self.offload_next:
            parts.append("offload")
        self.query_one("#params", Static).update(Text(printable(" · ".join(parts))))

    # -- parameters -----------------------------------------------------------

    def action_focus(self, target: str) -> None:
        self.query_one(f"#{target}", Input).focus()

    def action_cycle_seed_mode(self) -> None:
        modes = list(SEED_MODES)
        self.request = self.request.replace(
            seed_mode=modes[(modes.index(self.request.seed_mode) + 1) % len(modes)]
        )
        self._show_params()

    def action_cycle_scheduler(self) -> None:
        loaded = self.images.model
        if loaded is not None and loaded.loaded:
            names = ["", *loaded.schedulers[1:]]
        else:
            names = list(COMMON_SCHEDULERS)
        at = names.index(self.request.scheduler) if self.request.scheduler in names else 0
        self.request = self.request.replace(scheduler=names[(at + 1) % len(names)])
        self._show_params()

    def action_ask(self, what: str) -> None:
        r = self.request
        questions = {
            "size": ("Image size, WxH (multiples of 8)", f"{r.width}x{r.height}", ""),
            "steps": ("Denoising steps", str(r.steps), "20-30 is typical"),
            "guidance": ("Guidance (CFG scale)", f"{r.guidance:g}", "7 is typical for SD 1.x"),
            "seed": ("Seed", str(r.seed if r.seed is not None else -1), "-1: a random seed"),
            "variations": ("Images per request", str(r.variations), "1 to 16"),
            "init": ("Image-to-image: path of the init image",
                     str(r.init_image or ""), "empty turns image-to-image off"),  # fmt: skip
            "strength": ("Image-to-image strength (0-1)", f"{r.strength:g}",
                         "0.3 keeps most of the picture, 0.8 changes most of it"),  # fmt: skip
            "mask": ("Inpainting: path of the mask (white = repaint)", str(r.mask_image or ""),
                     "needs an init image; empty turns inpainting off"),  # fmt: skip
            "hires_scale": ("Hires fix: upscale each result by (1-4)", f"{r.hires_scale:g}",
                            "2 doubles the size; 0 turns the hires fix off"),  # fmt: skip
            "hires_strength": ("Hires fix: strength of the second pass (0-1)",
                               f"{r.hires_strength:g}", "0.3-0.5 adds detail"),  # fmt: skip
        }
        title, value, hint = questions[what]

        def answered(text: str | None) -> None:
            if text is None:
                return
            try:
                self.request = with_field(self.request, what, text)
            except GenaiError as exc:
                self.say(str(exc), error=True)
                return
            self.say("")
            self._show_params()

        self.app.push_screen(TextDialog(title, value, hint), answered)
