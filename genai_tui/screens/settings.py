"""Settings (F7): remote providers (add, edit, test, remove, discover), usage, the
`[generation]` defaults (settings_generation) and each model's own settings (Models tab;
model_settings).

Thin: the provider list lives in Settings and the config file (engine/providers.py);
tests and listings go through the engine's ProviderRegistry.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from genai_tui.config import ProviderSettings
from genai_tui.engine.chat.model_settings import Applied
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import printable
from genai_tui.engine.engine import Engine
from genai_tui.engine.models.inventory import LocalModel
from genai_tui.screens.dialogs import ConfirmDialog
from genai_tui.screens.model_settings import ModelSettingsDialog, applied_message, summary
from genai_tui.screens.settings_generation import GenerationForm
from genai_tui.widgets.downloads_line import DownloadsLine
from genai_tui.widgets.gpu_line import GpuLine
from genai_tui.widgets.provider_form import ProviderForm
from genai_tui.widgets.usage_view import DAYS, UsageView, money
from genai_tui.workbench import ReportsWorkerErrors

HELP = (
    "a add · e/Enter edit · t test · x remove · d discover local servers · "
    "u usage · keys: config file (0600) or an env var"
)
DISCOVER_TIP = "Look for Ollama, LM Studio, vLLM, llama.cpp servers on this machine"
MODELS_HELP = "Enter edits the selected model's settings · r reads the model list again"
PROVIDER_ACTIONS = {"add", "edit", "test", "remove", "discover"}
PLAIN_KEY_ACTIONS = PROVIDER_ACTIONS | {"show_tab", "refresh_usage", "models_edit"}


def key_source(p: ProviderSettings) -> str:
    if p.api_key:
        return "in config"
    if p.api_key_env:
        return f"${p.api_key_env}"
    return "none"


class SettingsScreen(ReportsWorkerErrors, Screen[None]):
    CSS_PATH = "settings.tcss"

    BINDINGS = [
        Binding("a", "add", "Add", tooltip="Add a remote provider"),
        Binding("e", "edit", "Edit", tooltip="Edit the selected provider"),
        Binding("t", "test", "Test", tooltip="Test the selected provider (list its models)"),
        Binding("x,delete", "remove", "Remove",
                tooltip="Remove the selected provider (asks first)"),  # fmt: skip
        Binding("d", "discover", "Discover", tooltip=DISCOVER_TIP),
        Binding("u", "show_tab('usage')", "Usage", tooltip="Usage: tokens, cost, speed"),
        Binding("p", "show_tab('providers')", "Providers", show=False,
                tooltip="Remote providers"),  # fmt: skip
        Binding("r", "refresh_usage", "Refresh", show=False, tooltip="Usage: read it again"),
        Binding("g", "show_tab('generation')", "Generation",
                tooltip="Generation defaults ([generation] in the config file)"),  # fmt: skip
        Binding("m", "show_tab('models')", "Models", tooltip="Each model's own settings"),
    ]

    discovery_ports: dict[int, str] | None = None  # None: the well-known ports

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.status: dict[str, str] = {}
        self._models: dict[str, LocalModel] = {}

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="providers"):
            with TabPane("Providers", id="providers"):
                yield DataTable(id="provider-table", cursor_type="row", zebra_stripes=True)
                yield Static(Content(HELP), id="provider-help")
                yield Static("", id="provider-note")
            with TabPane("Usage", id="usage"):
                yield UsageView(id="usage-view")
            with TabPane("Generation", id="generation"):
                yield GenerationForm(self.engine, id="generation-form")
            with TabPane("Models", id="models"):
                yield DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
                yield Static(Content(MODELS_HELP), id="model-help")
        yield DownloadsLine()
        yield GpuLine()
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#provider-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("name", "base URL", "key", "price in/out", "status")
        self.query_one("#model-table", DataTable).add_columns("model", "from", "own settings")
        self.refresh_providers()
        self.table.focus()
        self.refresh_usage()
        # No probing on a visit: on a shared box, whatever answers on a well-known port
        # may be anyone's. `d` looks, and says what answered.

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.refresh_usage()

    @work(exclusive=True, group="usage", exit_on_error=False)
    async def refresh_usage(self) -> None:
        """Read usage off the event loop (a long history is a big sum), then show it."""
        self.query_one(UsageView).show(await self.engine.usage(DAYS))

    def refresh_providers(self, select: str | None = None) -> None:
        table = self.table
        table.clear()
        providers = self.engine.settings.providers
        for p in providers:
            prices = "-" if p.price_in is None and p.price_out is None else (
                f"{money(p.price_in or 0)}/{money(p.price_out or 0)} per M")  # fmt: skip
            status = Text(printable(self.status.get(p.name, "not tested")))
            table.add_row(Text(printable(p.name)), Text(printable(p.base_url)), key_source(p),
                          prices, status, key=p.name)  # fmt: skip
        if select is not None and select in {p.name for p in providers}:
            table.move_cursor(row=table.get_row_index(select))
        note = "" if providers else (
            "No providers yet. Press a to add one, or d to look for local servers.")
        self.query_one("#provider-note", Static).update(Content(note))

    def _selected(self) -> ProviderSettings | None:
        providers = self.engine.settings.providers
        if not providers or self.table.cursor_row < 0:
            self.notify("No provider selected. Press a to add one.", severity="warning")
            return None
        return providers[min(self.table.cursor_row, len(providers) - 1)]

    # -- actions --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in PLAIN_KEY_ACTIONS:
            return True
        if isinstance(self.focused, Input):
            return False  # a letter typed in a field is the field's
        tab = self.query_one(TabbedContent).active
        if action in PROVIDER_ACTIONS:
            return tab == "providers"
        if action == "refresh_usage":
            return tab in ("usage", "models")
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()
        if self.query_one(TabbedContent).active == "models":
            self.refresh_models()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "usage":
            self.refresh_usage()
        elif tab == "generation":
            self.query_one(GenerationForm).field("temperature").focus()
        elif tab == "models":
            self.refresh_models()
            self.query_one("#model-table", DataTable).focus()
        else:
            self.table.focus()

    def action_refresh_usage(self) -> None:
        if self.query_one(TabbedContent).active == "models":
            self.refresh_models()
        else:
            self.refresh_usage()

    # -- each model's own settings --------------------------------------------------

    def refresh_models(self, select: str | None = None) -> None:
        """Local chat models, then any other model with settings (a remote one)."""
        table = self.query_one("#model-table", DataTable)
        table.clear()
        self._models = {m.name: m for m in self.engine.chat_models()}
        book = self.engine.model_settings
        keys = list(self._models) + [k for k in book.keys() if k not in self._models]
        for key in keys:
            model = self._models.get(key)
            where = model.source if model is not None else "remote"
            table.add_row(Text(printable(key)), where, Text(printable(summary(book.own(key)))),
                          key=key)  # fmt: skip
        if select in keys:
            table.move_cursor(row=keys.index(select))

    @on(DataTable.RowSelected, "#model-table")
    def action_models_edit(self) -> None:
        table = self.query_one("#model-table", DataTable)
        if table.row_count == 0 or table.cursor_row < 0:
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.edit_model(key)

    def edit_model(self, key: str) -> None:
        """Open `key`'s settings form (a local model's name, or PROVIDER/MODEL)."""

        def saved(applied: Applied | None) -> None:
            if applied is not None:
                self.notify(applied_message(key, applied), title="Model settings", markup=False)
            self.refresh_models(select=key)

        dialog = ModelSettingsDialog(self.engine, key, self._models.get(key))
        self.app.push_screen(dialog, saved)

    def _save(self, provider: ProviderSettings, replacing: str | None = None) -> bool:
        from genai_tui.engine.chat.providers import save_provider

        try:
            path = save_provider(self.engine.settings, provider, replacing)
        except GenaiError as exc:
            self.notify(str(exc), title="Providers", severity="error", timeout=10, markup=False)
            return False
        self.status.pop(replacing or provider.name, None)
        self.refresh_providers(select=provider.name)
        self.notify(f"Saved {provider.name} to {path}.", title="Providers")
        return True

    def action_add(self) -> None:
        def added(provider: ProviderSettings | None) -> None:
            if provider is not None and self._save(provider):
                self.test_provider(provider.name)

        self.app.push_screen(ProviderForm(), added)

    @on(DataTable.RowSelected, "#provider-table")
    def action_edit(self) -> None:
        current = self._selected()
        if current is None:
            return

        def edited(provider: ProviderSettings | None) -> None:
            if provider is not None and self._save(provider, replacing=current.name):
                self.test_provider(provider.name)

        self.app.push_screen(ProviderForm(current), edited)

    def action_test(self) -> None:
        current = self._selected()
        if current is not None:
            self.test_provider(current.name)

    @work(group="provider-test", exit_on_error=False)
    async def test_provider(self, name: str) -> None:
        self.status[name] = "testing…"
        self.refresh_providers(select=name)
        try:
            models = await self.engine.providers.get(name).list_models(force=True, retries=0)
        except GenaiError as exc:
            self.status[name] = f"✗ {exc.message}"
            self.notify(str(exc), title=f"Test of {name}", severity="error", timeout=10,
                        markup=False)  # fmt: skip
        else:
            names = ", ".join(m.id for m in models[:3]) + (" …" if len(models) > 3 else "")
            self.status[name] = f"✓ {len(models)} models" + (f": {names}" if names else "")
            self.notify(f"{name} answers: {len(models)} models.", title="Test", markup=False)
        if name in {p.name for p in self.engine.settings.providers}:
            self.refresh_providers(select=name)

    def action_remove(self) -> None:
        current = self._selected()
        if current is None:
            return
        from genai_tui.engine.chat.providers import remove_provider

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                remove_provider(self.engine.settings, current.name)
            except GenaiError as exc:
                self.notify(str(exc), title="Providers", severity="error", timeout=10, markup=False)
                return
            self.status.pop(current.name, None)
            self.refresh_providers()
            self.notify(f"Removed {current.name}. Its past replies stay in the usage figures.",
                        markup=False)  # fmt: skip

        question = f"Remove the provider “{printable(current.name)}” from the config file?"
        self.app.push_screen(ConfirmDialog(question), confirmed)

    @work(exclusive=True, group="discover", exit_on_error=False)
    async def action_discover(self) -> None:
        from genai_tui.engine.chat.providers import KNOWN_PORTS, discover

        ports = self.discovery_ports or KNOWN_PORTS
        self.query_one("#provider-note", Static).update(Content("Looking for local servers…"))
        found = await discover(ports)
        known = {p.base_url.rstrip("/") for p in self.engine.settings.providers}
        new = [f for f in found if f.base_url not in known]
        self.refresh_providers()
        if not new:
            where = ", ".join(str(p) for p in ports)
            said = "only ones already added" if found else "none"
            self.notify(f"Local servers on ports {where}: {said}.", title="Discover")
            return
        for server in new:
            count = len(server.models)
            shown = ", ".join(printable(m) for m in server.models[:3]) + (
                ", …" if count > 3 else "")  # fmt: skip
            question = (
                f"A server answered at {server.base_url} (the port {server.label} uses), "
                f"listing {count} model{'' if count == 1 else 's'}{': ' if count else ''}"
                f"{shown}. Unverified: any user of this machine can run a server on that "
                "port, and it would see your chats. Add it as a provider?"
            )
            if await self.app.push_screen_wait(ConfirmDialog(question)):
                name = self._free_name(server.label)
                self._save(ProviderSettings(name=name, base_url=server.base_url))

    def _free_name(self, label: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "local"
        taken = {p.name for p in self.engine.settings.providers}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name
