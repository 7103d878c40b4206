"""One model's own settings (`[models."NAME"]`): context length, GPU layers, threads, KV
cache type, flash attention, chat template, device (which GPU), and the sampling preset
its replies start from. Opened from Settings (F7, Models tab); any screen can push it
with a model's name.

The memory the model would need with the form's values is shown as they change, before
anything applies. Ctrl+S saves; if the model is loaded and a load setting changed, it is
loaded again with them (through residency, which makes room first). A bad value is
refused in the form with the config file's message, and nothing changes. Esc cancels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Checkbox, Input, Label, Select, Static

from genai_tui.config_models import KV_CACHE_TYPES
from genai_tui.engine.chat.model_settings import Applied, PerModelSettings, is_remote
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import human_bytes, printable
from genai_tui.widgets.dialog import Dialog

if TYPE_CHECKING:
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.models.inventory import LocalModel

NUMBERS = (("context_length", "context", "default: "), ("gpu_layers", "GPU layers", "default: "),
           ("threads", "threads", "default: "))  # fmt: skip
FIELDS = (*(k for k, _, _ in NUMBERS), "kv_cache", "flash_attn", "chat_template", "device",
          "preset")
TEXTS = ("context_length", "gpu_layers", "threads", "chat_template", "device")
HINT = "ctrl+s saves (and reloads the model if it is loaded) · Esc cancels"


class ModelSettingsDialog(Dialog[Applied]):
    """Dismisses with what saving did (Applied), None when cancelled."""

    DEFAULT_CSS = """
    ModelSettingsDialog {
        & .row { height: 1; align-horizontal: left; }
        & .name { width: 14; color: $text-muted; }
        & .row Input { width: 15; margin-right: 2; }
        & #chat_template { width: 1fr; }
        & Select { width: 24; margin-right: 2; }
        & #flash_attn { width: auto; }
        & .note { width: 1fr; color: $text-muted; }
        & #memory { color: $text-muted; margin-top: 1; }
        & #error { color: $text-error; }
    }
    """
    BINDINGS = [Binding("ctrl+s", "save", "Save", priority=True)]

    def __init__(self, engine: Engine, key: str, model: LocalModel | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.key = key
        self.model = model  # the local model (None: a remote one)
        self.remote = model is None or is_remote(key, engine.settings)

    @property
    def book(self) -> PerModelSettings:
        return self.engine.model_settings

    def compose(self) -> ComposeResult:
        defaults = self.book.defaults()
        presets = [(Content(printable(p.name)), p.name) for p in self.engine.sampling.presets()]
        with VerticalScroll():
            yield Label(Content.assemble("Settings of ", (printable(self.key), "bold")),
                        classes="title")  # fmt: skip
            with Horizontal(classes="row"):
                for key, label, hint in NUMBERS[:2]:
                    yield Label(label, classes="name")
                    yield Input(placeholder=f"{hint}{defaults[key]}", id=key, compact=True,
                                disabled=self.remote)  # fmt: skip
            with Horizontal(classes="row"):
                key, label, hint = NUMBERS[2]
                yield Label(label, classes="name")
                yield Input(placeholder=f"{hint}{defaults[key]}", id=key, compact=True,
                            disabled=self.remote)  # fmt: skip
                yield Checkbox("flash attention", id="flash_attn", compact=True,
                               disabled=self.remote)  # fmt: skip
            with Horizontal(classes="row"):
                yield Label("KV cache", classes="name")
                yield Select([(t, t) for t in KV_CACHE_TYPES], id="kv_cache", compact=True,
                             prompt="f16 (default)", disabled=self.remote)  # fmt: skip
            with Horizontal(classes="row"):
                yield Label("device", classes="name")
                yield Input(placeholder="default: auto", id="device", compact=True,
                            disabled=self.remote)  # fmt: skip
                yield Label("auto, a GPU (0, 1, …), split or split:3,1", classes="note")
            with Horizontal(classes="row"):
                yield Label("chat template", classes="name")
                yield Input(placeholder="the GGUF's own; or chatml, llama-3, … or a .jinja path",
                            id="chat_template", compact=True, disabled=self.remote)  # fmt: skip
            with Horizontal(classes="row"):
                yield Label("preset", classes="name")
                yield Select(presets, id="preset", compact=True, prompt="none: the defaults")
            yield Static("", id="memory")
            yield Static("", id="error")
            yield Label(HINT, classes="hint")

    def on_mount(self) -> None:
        own = self.book.own(self.key)
        for key, _, _ in NUMBERS:
            self.query_one(f"#{key}", Input).value = str(own.get(key, ""))
        self.query_one("#flash_attn", Checkbox).value = bool(own.get("flash_attn"))
        self.query_one("#chat_template", Input).value = own.get("chat_template", "")
        self.query_one("#device", Input).value = own.get("device", "")
        for key in ("kv_cache", "preset"):
            if own.get(key) is not None:
                self.query_one(f"#{key}", Select).value = own[key]
        self.show_error(None)
        if self.remote:
            self.query_one("#memory", Static).update(
                Content("Its server loads it: only the preset applies here."))  # fmt: skip
            self.query_one("#preset", Select).focus()
        else:
            self.query_one("#context_length", Input).focus()
            self.estimate()

    def form_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {k: self.query_one(f"#{k}", Input).value for k in TEXTS}
        values["flash_attn"] = self.query_one("#flash_attn", Checkbox).value or None
        for key in ("kv_cache", "preset"):
            value = self.query_one(f"#{key}", Select).value
            values[key] = None if value is Select.NULL else value
        return values

    def show_error(self, error: GenaiError | None) -> None:
        keys = getattr(error, "keys", ())
        if error is not None and not set(keys) & set(FIELDS):
            keys = ("kv_cache", "flash_attn")  # the table as a whole: the cache's rule
        for key in FIELDS:
            self.query_one(f"#{key}").set_class(key in keys, "-invalid")
        box = self.query_one("#error", Static)
        box.update(Content(f"{error.message}\n{error.hint}" if error else ""))
        box.display = error is not None
        if error is not None:
            self.call_after_refresh(box.scroll_visible)

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        if self.is_mounted and not self.remote:
            self.estimate()

    @work(exclusive=True, group="estimate", exit_on_error=False)
    async def estimate(self) -> None:
        """The memory the model needs with the form's values (from its GGUF header)."""
        if self.model is None:
            return
        line = self.query_one("#memory", Static)
        try:
            need = await self.book.estimate(self.model, self.form_values())
            now = await self.book.estimate(self.model)
        except GenaiError:
            line.update(Content("Memory: -- (a value is not valid yet)"))
            return
        same = "" if need == now else f" (now {human_bytes(now)})"
        line.update(Content(f"Memory with these settings: about {human_bytes(need)}{same}"))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    @work(exclusive=True, group="model-settings", exit_on_error=False)
    async def action_save(self) -> None:
        self.query_one("#memory", Static).update(Content("Saving…"))
        try:
            applied = await self.book.apply(self.engine, self.key, self.form_values())
        except GenaiError as exc:
            self.show_error(exc)  # nothing changed (a failed reload put the old back)
            if not self.remote:
                self.estimate()
            return
        self.dismiss(applied)


def applied_message(key: str, applied: Applied) -> str:
    """The notification after saving: where, and what a reload did."""
    if applied.reloaded is None:
        return f"Saved the settings of {key} to {applied.path}."
    size = applied.reloaded.context_size
    was = f" (was {human_bytes(applied.before_bytes)})" if applied.before_bytes else ""
    need = human_bytes(applied.after_bytes) if applied.after_bytes else "?"
    return (f"Saved the settings of {key} and loaded it again: context {size:,}, "
            f"about {need}{was}.")  # fmt: skip


_SHORT = {"context_length": "ctx {}", "gpu_layers": "{} GPU layers", "threads": "{} threads",
          "kv_cache": "KV {}", "chat_template": "template {}", "device": "device {}",
          "preset": "preset {}"}  # fmt: skip


def summary(own: dict[str, Any]) -> str:
    """A model's own settings in one line: "ctx 1024 · KV q8_0 · flash attn" ("" if none)."""
    parts = [_SHORT[k].format(v) for k, v in own.items() if k in _SHORT]
    if own.get("flash_attn") is not None:
        parts.append("flash attn" if own["flash_attn"] else "no flash attn")
    return " · ".join(parts) or "-"
