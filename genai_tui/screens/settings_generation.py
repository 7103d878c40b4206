"""Settings (F7), Generation tab: the config file's `[generation]` defaults in a form.

Ctrl+S (or Enter in a field) checks the values with the config file's rules and words,
writes them into the file's `[generation]` table (its comments and other keys kept) and
into the running settings, which new replies and the next model load use. A bad value
is refused in the form with the file's message; the form keeps what was typed and
nothing is saved. Ctrl+R puts the saved values back in the form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Label, Static

from genai_tui.engine.chat.sampling import format_value
from genai_tui.engine.core.errors import GenaiError

if TYPE_CHECKING:
    from genai_tui.engine.engine import Engine

# (key, label, placeholder), two a row.
ROWS = (
    (("temperature", "temperature", "0-5, 0 greedy"), ("top_p", "top-p", "0-1")),
    (("top_k", "top-k", "0 = off"), ("repeat_penalty", "repeat penalty", "1 = off")),
    (("max_tokens", "max tokens", "per reply"), ("seed", "seed", "-1 random")),
    (("context_length", "context", "0 = model's"), ("gpu_layers", "GPU layers", "-1 all")),
    (("threads", "threads", "0 = auto"),),
)
KEYS = tuple(key for row in ROWS for key, _, _ in row)
HINT = "ctrl+s or Enter saves to the config file · ctrl+r undoes edits"
NOTE = ("Defaults for every chat (a chat's own settings win: ctrl+f in the chat). "
        "Context, GPU layers and threads apply when a model is next loaded.")  # fmt: skip


class GenerationForm(VerticalScroll):
    """The `[generation]` form (the Generation tab's content)."""

    DEFAULT_CSS = """
    GenerationForm {
        padding: 0 1;
        & .row { height: 1; }
        & .name { width: 15; color: $text-muted; }
        & .row Input { width: 15; margin-right: 4; }
        & #generation-note, #generation-hint { color: $text-muted; }
        & #generation-error { color: $text-error; }
    }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", tooltip="Save the defaults to the config file"),
        Binding("ctrl+r", "revert", "Undo edits", tooltip="Put the saved values back"),
    ]

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield Static(Content(NOTE), id="generation-note")
        for row in ROWS:
            with Horizontal(classes="row"):
                for key, label, hint in row:
                    yield Label(label, classes="name")
                    yield Input(placeholder=hint, id=f"gen-{key}", compact=True,
                                select_on_focus=True)  # fmt: skip
        yield Static("", id="generation-error")
        yield Static(Content(HINT), id="generation-hint")

    def on_mount(self) -> None:
        self.action_revert()

    def field(self, key: str) -> Input:
        return self.query_one(f"#gen-{key}", Input)

    def form_values(self) -> dict[str, str]:
        return {key: self.field(key).value for key in KEYS}

    def action_revert(self) -> None:
        values = self.engine.settings.generation.model_dump()
        for key in KEYS:
            self.field(key).value = format_value(values[key])
        self.show_error(None)

    def show_error(self, error: GenaiError | None) -> None:
        keys = getattr(error, "keys", ())
        for key in KEYS:
            self.field(key).set_class(key in keys, "-invalid")
        box = self.query_one("#generation-error", Static)
        box.update(Content(f"{error.message}\n{error.hint}" if error else ""))
        box.display = error is not None
        first = next((k for k in KEYS if k in keys), None)
        if first is not None:
            self.field(first).focus()

    def action_save(self) -> None:
        from genai_tui.config_write import save_generation

        try:
            path = save_generation(self.engine.settings, self.form_values())
        except GenaiError as exc:
            self.show_error(exc)  # the form keeps what was typed; nothing is saved
            return
        self.action_revert()  # shows the values as saved ("0.30" -> "0.3")
        self.notify(f"Saved the generation defaults to {path}.", title="Generation",
                    markup=False)  # fmt: skip

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()
