"""A modal form to add or edit a remote provider: name, base URL, key or key env var, prices."""

from __future__ import annotations

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Label

from genai_tui.config import ProviderSettings
from genai_tui.widgets.dialog import Dialog


def parse_headers(text: str) -> dict[str, str]:
    """`Name: value; Other: value` -> a dict. Raises ValueError on a part without a colon."""
    headers: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"header '{part}' needs the form Name: value")
        headers[name.strip()] = value.strip()
    return headers


class ProviderForm(Dialog[ProviderSettings | None]):
    """ctrl+s (or Enter on the last field) saves; Esc cancels. Nothing is written until saved."""

    DEFAULT_CSS = """
    ProviderForm > VerticalScroll { width: 76; max-width: 98%; max-height: 95%; }
    ProviderForm .title { margin-bottom: 0; }
    ProviderForm Label { color: $text-muted; margin-top: 0; }
    ProviderForm Input { margin: 0; }
    ProviderForm #form-error { color: $error; }
    """

    BINDINGS = [Binding("ctrl+s", "save", "Save", priority=True)]

    FIELDS = (
        ("name", "Name (shown in the model picker)", "e.g. vllm, groq, ollama"),
        ("base_url", "Base URL (OpenAI-style, usually ending in /v1)", "http://127.0.0.1:8000/v1"),
        ("api_key", "API key (stored in the config file, mode 0600)",
         "empty: none, or use an env var"),  # fmt: skip
        ("api_key_env", "…or the name of an env var holding the key", "e.g. OPENAI_API_KEY"),
        ("price_in", "Price per million input tokens (optional)", "e.g. 0.15"),
        ("price_out", "Price per million output tokens (optional)", "e.g. 0.60"),
        ("headers", "Extra headers (optional)", "Name: value; Other: value"),
    )

    def __init__(self, provider: ProviderSettings | None = None) -> None:
        super().__init__()
        self.provider = provider

    def _value(self, key: str) -> str:
        p = self.provider
        if p is None:
            return ""
        if key == "headers":
            return "; ".join(f"{k}: {v}" for k, v in p.headers.items())
        value = getattr(p, key)
        return "" if value is None else str(value)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            title = "Edit provider" if self.provider else "Add a provider"
            yield Label(f"{title} · ctrl+s saves · Esc cancels", classes="title")
            for key, label, placeholder in self.FIELDS:
                with Vertical(classes="field"):
                    yield Label(label)
                    yield Input(self._value(key), placeholder=placeholder, id=key,
                                password=key in ("api_key", "headers"), compact=True)  # fmt: skip
            yield Label("", id="form-error")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == self.FIELDS[-1][0]:
            self.action_save()
        else:
            self.focus_next()

    def _build(self) -> ProviderSettings:
        values = {key: self.query_one(f"#{key}", Input).value.strip() for key, _, _ in self.FIELDS}
        kept = {"image_models", "image_extras"}  # the config file's, not in this form
        data: dict[str, object] = {
            **(self.provider.model_dump(include=kept, exclude_none=True) if self.provider else {}),
            "name": values["name"],
            "base_url": values["base_url"],
            "api_key": values["api_key"] or None,
            "api_key_env": values["api_key_env"] or None,
            "headers": parse_headers(values["headers"]),
        }
        for key in ("price_in", "price_out"):
            if values[key]:
                try:
                    data[key] = float(values[key])
                except ValueError:
                    raise ValueError(f"{key.replace('_', ' ')} must be a number") from None
        if not str(data["base_url"]).startswith(("http://", "https://")):
            raise ValueError("the base URL must start with http:// or https://")
        return ProviderSettings.model_validate(data)

    def action_save(self) -> None:
        try:
            provider = self._build()
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}"
                               for e in exc.errors())  # fmt: skip
            self.query_one("#form-error", Label).update(Content(f"Not saved: {fields}"))
            return
        except ValueError as exc:
            self.query_one("#form-error", Label).update(Content(f"Not saved: {exc}"))
            return
        self.dismiss(provider)

