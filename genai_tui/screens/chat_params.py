"""The chat's generation settings: a form over the chat (temperature, top-p, top-k, min-p,
repeat penalty, max tokens, seed, stop strings, JSON mode) and the named presets.

Ctrl+S (or Enter in a field) applies the form to the chat; a bad value is refused in
the form with the config file's message, and the chat keeps its settings. Esc cancels.
Enter on a preset fills the form with it; Delete there deletes one you saved; a name
typed below the form and Enter saves the form as a preset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from genai_tui.engine.chat.sampling import (
    LABELS,
    format_stops,
    format_value,
    parse_stops,
)
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.store import SamplingPreset
from genai_tui.engine.core.text import printable
from genai_tui.screens.dialogs import ConfirmDialog
from genai_tui.widgets.dialog import Dialog

if TYPE_CHECKING:
    from genai_tui.engine.engine import Engine

# The number fields, two a row, as (key, placeholder hint).
NUMBER_ROWS = (
    (("temperature", "0-5"), ("top_p", "0-1")),
    (("top_k", "0 = off"), ("min_p", "0-1")),
    (("repeat_penalty", "1 = off"), ("max_tokens", "tokens")),
    (("seed", "-1 random"),),
)
NUMBER_KEYS = tuple(key for row in NUMBER_ROWS for key, _ in row)
HINT = "ctrl+s or Enter applies · ctrl+r fills in the defaults · Esc cancels"


class ChatParamsDialog(Dialog[bool]):
    """Dismisses with True when the chat's settings were changed, None when cancelled."""

    DEFAULT_CSS = """
    ChatParamsDialog {
        & > VerticalScroll { width: 72; }
        & #presets { max-height: 4; border: none; padding: 0; margin-bottom: 1; }
        & .row { height: 1; align-horizontal: left; }
        & .name { width: 15; color: $text-muted; }
        & .row Input { width: 12; margin-right: 3; }
        & #stop { width: 1fr; }
        & #save-name { width: 1fr; }
        & #json_mode { width: auto; }
        & #error { color: $text-error; }
    }
    """
    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", priority=True),
        Binding("ctrl+r", "defaults", "Defaults", priority=True),
        Binding("delete", "delete_preset", "Delete preset"),
    ]

    def __init__(self, engine: Engine, conv_id: int) -> None:
        super().__init__()
        self.engine = engine
        self.conv_id = conv_id
        self.presets: list[SamplingPreset] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label("Generation settings for this chat", classes="title")
            yield Label("Presets: Enter fills the form with one · Delete deletes yours",
                        classes="hint")  # fmt: skip
            yield OptionList(id="presets")
            for row in NUMBER_ROWS:
                with Horizontal(classes="row"):
                    for key, hint in row:
                        yield Label(LABELS[key], classes="name")
                        yield Input(placeholder=hint, id=key, compact=True, select_on_focus=True)
                    if len(row) == 1:  # beside the seed
                        yield Checkbox("JSON mode", id="json_mode", compact=True)
            with Horizontal(classes="row"):
                yield Label(LABELS["stop"], classes="name")
                yield Input(placeholder=r"comma-separated; \n newline, \, comma", id="stop",
                            compact=True)  # fmt: skip
            with Horizontal(classes="row"):
                yield Label("save as preset", classes="name")
                yield Input(placeholder="a name, then Enter", id="save-name", compact=True)
            yield Static("", id="error")
            yield Label(HINT, classes="hint")

    def on_mount(self) -> None:
        self._fill(self.engine.sampling.values(self.conv_id))
        self._show_presets()
        self._show_error(None)
        self.query_one("#temperature", Input).focus()

    # -- the form -------------------------------------------------------------

    def _fill(self, values: dict[str, Any]) -> None:
        for key in NUMBER_KEYS:
            self.query_one(f"#{key}", Input).value = format_value(values[key])
        self.query_one("#stop", Input).value = format_stops(values.get("stop") or [])
        self.query_one("#json_mode", Checkbox).value = bool(values.get("json_mode"))

    def form_values(self) -> dict[str, Any]:
        """What the form says; an empty number field means the default (None)."""
        values: dict[str, Any] = {
            key: self.query_one(f"#{key}", Input).value.strip() or None for key in NUMBER_KEYS
        }
        values["stop"] = parse_stops(self.query_one("#stop", Input).value)
        values["json_mode"] = self.query_one("#json_mode", Checkbox).value
        return values

    def _show_error(self, error: GenaiError | None) -> None:
        keys = getattr(error, "keys", ())
        for key in (*NUMBER_KEYS, "stop"):
            self.query_one(f"#{key}", Input).set_class(key in keys, "-invalid")
        self.query_one("#save-name", Input).set_class("preset" in keys, "-invalid")
        box = self.query_one("#error", Static)
        box.update(Content(f"{error.message}\n{error.hint}".strip() if error else ""))
        box.display = error is not None
        if error is not None:
            self.call_after_refresh(box.scroll_visible)
        first = next((k for k in (*NUMBER_KEYS, "stop") if k in keys), None)
        if first is not None:
            self.query_one(f"#{first}", Input).focus()

    def action_apply(self) -> None:
        try:
            self.engine.sampling.set(self.conv_id, self.form_values())
        except GenaiError as exc:
            self._show_error(exc)  # the chat keeps what it had
            return
        self.dismiss(True)

    def action_defaults(self) -> None:
        self._fill(self.engine.sampling.defaults())
        self._show_error(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "save-name":
            self._save_preset(event.value)
        else:
            self.action_apply()

    # -- presets --------------------------------------------------------------

    def _show_presets(self, highlight: str | None = None) -> None:
        self.presets = self.engine.sampling.presets()
        options = self.query_one("#presets", OptionList)
        options.clear_options()
        describe = self.engine.sampling.describe_values
        options.add_options([
            Option(Content.assemble(printable(p.name), (" · built in" if p.builtin else "", "dim"),
                                    (f"  {describe(p.params)}", "$text-muted")), id=str(i))
            for i, p in enumerate(self.presets)
        ])  # fmt: skip
        names = [p.name for p in self.presets]
        if highlight in names:
            options.highlighted = names.index(highlight)

    def _highlighted_preset(self) -> SamplingPreset | None:
        options = self.query_one("#presets", OptionList)
        index = options.highlighted
        return self.presets[index] if index is not None and index < len(self.presets) else None

    @on(OptionList.OptionSelected, "#presets")
    def _preset_picked(self, event: OptionList.OptionSelected) -> None:
        preset = self.presets[int(event.option.id or 0)]
        self._fill(self.engine.sampling.defaults() | preset.params)
        self._show_error(None)
        self.query_one("#temperature", Input).focus()
        self.notify(f"Preset '{preset.name}' is in the form: ctrl+s applies it.", markup=False)

    def _save_preset(self, name: str) -> None:
        try:
            preset = self.engine.sampling.save_preset(name, self.form_values())
        except GenaiError as exc:
            self._show_error(exc)
            return
        self._show_error(None)
        self.query_one("#save-name", Input).value = ""
        self._show_presets(highlight=preset.name)
        self.notify(f"Saved preset '{preset.name}'.", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "delete_preset":  # Delete edits text in a field: only on the list
            return self.focused is self.query_one("#presets", OptionList) or None
        return True

    def action_delete_preset(self) -> None:
        preset = self._highlighted_preset()
        if preset is None:
            return
        if preset.builtin:
            self.notify(f"'{preset.name}' is built in and cannot be deleted.",
                        severity="warning", markup=False)  # fmt: skip
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.engine.sampling.delete_preset(preset.name)
                self._show_presets()
                self.notify(f"Deleted preset '{preset.name}'.", markup=False)

        question = f"Delete the preset '{printable(preset.name)}'?"
        self.app.push_screen(ConfirmDialog(question), answered)
