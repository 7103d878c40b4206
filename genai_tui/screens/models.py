"""The Models screen: search the Hub, see what fits, download; every model on disk.
Thin: each key calls one ModelLibrary method; workers render the results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Input,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import human_count, printable
from genai_tui.engine.engine import Engine
from genai_tui.engine.models.downloads import DownloadJob
from genai_tui.engine.models.hub_files import HubFile, ModelDetail, QuantGroup
from genai_tui.engine.models.inventory import InventoryEntry
from genai_tui.screens.dialogs import ConfirmDialog, TextDialog
from genai_tui.widgets.downloads_line import DownloadsLine, human_bytes, human_eta
from genai_tui.widgets.gpu_line import GpuLine
from genai_tui.workbench import ReportsWorkerErrors

KINDS = ("all", "gguf", "diffusers")
SORTS = ("downloads", "likes", "trending", "updated")
OTHER_STORES = ("LM Studio", "Ollama")


@dataclass(frozen=True)
class Choice:
    """One download choice in the detail pane: a GGUF quant or a diffusers variant."""

    label: str
    files: tuple[HubFile, ...]
    size: int
    group: QuantGroup | None = None
    variant: str | None = None


def choices_for(detail: ModelDetail) -> list[Choice]:
    found = [Choice(g.quant, g.files, g.size, group=g) for g in detail.gguf]
    if detail.diffusers is not None:
        for variant in detail.diffusers.variants:
            files = tuple(detail.diffusers.fetch_files(variant))
            name = f"diffusers {variant or 'default'}"
            found.append(Choice(name, files, sum(f.size for f in files), variant=variant))
    return found


class ModelsScreen(ReportsWorkerErrors, Screen[None]):
    CSS_PATH = "models.tcss"

    BINDINGS = [
        Binding("ctrl+f", "hub", "Hub", tooltip="Search the Hugging Face Hub"),
        Binding("ctrl+l", "local", "Local", tooltip="Models on disk"),
        Binding("ctrl+g", "downloads", "Downloads", tooltip="The download queue"),
        Binding("ctrl+t", "cycle_kind", "Kind", tooltip="Hub: GGUF / diffusers / all"),
        Binding("ctrl+s", "cycle_sort", "Sort",
                tooltip="Hub: downloads / likes / trending / updated"),  # fmt: skip
        Binding("ctrl+n", "page(1)", "Next page", show=False, tooltip="Hub: next page"),
        Binding("ctrl+b", "page(-1)", "Prev page", show=False, tooltip="Hub: previous page"),
        Binding("c", "to_chat", "To chat", show=False, tooltip="Local: chat with this model"),
        Binding("delete", "delete", "Delete", show=False, tooltip="Local: delete (asks first)"),
        Binding("p", "pause", "Pause/resume", show=False, tooltip="Downloads: pause or resume"),
        Binding("x", "cancel", "Cancel", show=False, tooltip="Downloads: cancel"),
    ]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.library = engine.library
        self.kind = "all"
        self.sort = "downloads"
        self.page = 0
        self.has_more = False
        self.results: list[Any] = []
        self.detail: ModelDetail | None = None
        self.choices: list[Choice] = []
        self.entries: list[InventoryEntry] = []
        self.jobs: list[DownloadJob] = []

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            with TabPane("Hub", id="hub"):
                yield Input(placeholder="search the Hub · author:NAME filters", id="hub-query")
                yield Static(id="hub-filters")
                yield DataTable(id="hub-results", cursor_type="row", zebra_stripes=True)
                with Vertical(id="hub-detail"):
                    yield Static(Content("Enter on a result shows its files."), id="detail-text")
                    yield OptionList(id="choices")
            with TabPane("Local", id="local"):
                yield DataTable(id="local-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Downloads", id="downloads"):
                yield DataTable(id="downloads-table", cursor_type="row")
        yield DownloadsLine()
        yield GpuLine()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#hub-results", DataTable).add_columns(
            "model", "↓", "♥", "updated", "notes"
        )
        self.query_one("#local-table", DataTable).add_columns(
            "name", "kind", "quant", "ctx", "size", "source"
        )
        self.query_one("#downloads-table", DataTable).add_columns(
            "model", "state", "progress", "speed", "ETA"
        )
        self._show_filters()
        self.app.downloads_signal.subscribe(self, self._show_jobs)  # type: ignore[attr-defined]
        if (queue := self.library.queue) is not None:  # news come on change: show jobs now
            self._show_jobs(queue.jobs())
        self.query_one("#hub-query", Input).focus()

    # -- tabs -----------------------------------------------------------------

    def action_hub(self) -> None:
        self.query_one(TabbedContent).active = "hub"
        self.query_one("#hub-query", Input).focus()

    def action_local(self) -> None:
        self.query_one(TabbedContent).active = "local"
        self.query_one("#local-table", DataTable).focus()
        self.scan_local()

    def action_downloads(self) -> None:
        self.query_one(TabbedContent).active = "downloads"
        self.query_one("#downloads-table", DataTable).focus()

    @on(TabbedContent.TabActivated)
    def _tab(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "local" and not self.entries:
            self.scan_local()

    # -- Hub search -----------------------------------------------------------

    def _show_filters(self) -> None:
        more = " · ctrl+n more" if self.has_more else ""
        text = (f"kind: {self.kind} (ctrl+t) · sort: {self.sort} (ctrl+s) · "
                f"page {self.page + 1}{more}")  # fmt: skip
        self.query_one("#hub-filters", Static).update(Content(text))

    def action_cycle_kind(self) -> None:
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self._search(0)

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._search(0)

    def action_page(self, step: int) -> None:
        if step > 0 and not self.has_more or step < 0 and self.page == 0:
            return
        self._search(self.page + step)

    @on(Input.Submitted, "#hub-query")
    def _query(self) -> None:
        self._search(0)

    def _search(self, page: int) -> None:
        self.page = page
        self._show_filters()
        self.search(self.query_one("#hub-query", Input).value, page)

    @work(exclusive=True, group="hub-search", exit_on_error=False)
    async def search(self, text: str, page: int) -> None:
        words = text.split()
        author = next((w.split(":", 1)[1] for w in words if w.startswith("author:")), None)
        query = " ".join(w for w in words if not w.startswith("author:"))
        table = self.query_one("#hub-results", DataTable)
        self.query_one("#hub-filters", Static).update(Content("searching…"))
        try:
            result = await self.library.search(query, self.kind, self.sort, author, page)  # type: ignore[arg-type]
        except GenaiError as exc:
            self.notify(str(exc), title="Hub", severity="error", timeout=10)
            self._show_filters()
            return
        self.results, self.has_more = result.items, result.has_more
        table.clear()
        for m in result.items:
            notes = []
            if m.gated:
                notes.append("gated")
            if m.license:
                notes.append(m.license)
            updated = m.last_modified.strftime("%Y-%m-%d") if m.last_modified else ""
            table.add_row(
                Text(printable(m.repo_id)), human_count(m.downloads), human_count(m.likes), updated,
                Text(printable(" ".join(notes))),
            )  # fmt: skip
        self._show_filters()
        if result.items:
            table.focus()
        else:
            self.notify("No models match.", title="Hub")

    @on(DataTable.RowSelected, "#hub-results")
    def _result_chosen(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.results):
            self.show_detail(self.results[event.cursor_row].repo_id)

    @work(exclusive=True, group="hub-detail", exit_on_error=False)
    async def show_detail(self, repo_id: str) -> None:
        text = self.query_one("#detail-text", Static)
        options = self.query_one("#choices", OptionList)
        text.update(Content(f"loading {printable(repo_id)}…"))
        options.clear_options()
        try:
            detail = await self.library.detail(repo_id)
        except GenaiError as exc:
            text.update(Content(str(exc)))
            return
        self.detail, self.choices = detail, choices_for(detail)
        total = sum(f.size for f in detail.files)
        head = f"{detail.model.repo_id} · {len(detail.files)} files · {human_bytes(total)}"
        if detail.diffusers is not None:
            names = ", ".join(c.name for c in detail.diffusers.components)
            head += f"\ndiffusers components: {names}"
        text.update(Content(printable(f"{head}\n{detail.summary}".strip())))
        options.add_options([self._choice_option(c, None) for c in self.choices])
        if self.choices:
            options.highlighted = 0
            options.focus()
            self.estimate_fits(detail)
        else:
            options.add_option(Option("nothing to download that we can run", disabled=True))

    def _choice_option(self, choice: Choice, fit: str | None) -> Option:
        parts = [(choice.label.ljust(14), "bold"), f" {human_bytes(choice.size):>9}"]
        if (group := choice.group) is not None:  # its own files; the projector is said apart
            if (own := len(choice.files) - (group.projector is not None)) > 1:
                parts.append(f" ({own} files)")
            if group.note:
                parts.append((f" {printable(group.note)}", "dim"))
        if fit:
            parts.append((f"  {fit}", "dim"))
        return Option(Content.assemble(*parts))

    @work(exclusive=True, group="hub-fit", exit_on_error=False)
    async def estimate_fits(self, detail: ModelDetail) -> None:
        options = self.query_one("#choices", OptionList)
        for index, choice in enumerate(self.choices):
            try:
                if choice.group is not None:
                    est = await self.library.fit_gguf(detail, choice.group)
                else:
                    est = await self.library.fit_diffusers(detail, choice.variant or "")
            except GenaiError:
                continue
            if self.detail is not detail:
                return
            free = f"{human_bytes(est.vram_free)} VRAM" if est.vram_free is not None else (
                f"{human_bytes(est.ram_free)} RAM"
            )
            short = f"{est.verdict} · needs {human_bytes(est.need_bytes)}, {free} free"
            options.replace_option_prompt_at_index(index, self._choice_option(choice, short).prompt)

    @on(OptionList.OptionSelected, "#choices")
    async def _choice_chosen(self, event: OptionList.OptionSelected) -> None:
        if self.detail is None or not 0 <= event.option_index < len(self.choices):
            return
        choice = self.choices[event.option_index]
        try:
            await self.library.download(self.detail, list(choice.files))
        except GenaiError as exc:
            self.notify(str(exc), title="Download", severity="error", timeout=10)
            return
        self.notify(
            f"Queued {self.detail.model.repo_id} {choice.label} ({human_bytes(choice.size)}). "
            "ctrl+g shows the queue.",
            title="Download",
        )

    # -- Local models ---------------------------------------------------------

    @work(exclusive=True, group="local-scan", exit_on_error=False)
    async def scan_local(self) -> None:
        table = self.query_one("#local-table", DataTable)
        try:
            self.entries = await self.library.local_models()
        except GenaiError as exc:
            self.notify(str(exc), title="Local models", severity="error")
            return
        table.clear()
        for e in self.entries:
            table.add_row(
                Text(printable(e.name)), e.kind_label + (" (!)" if e.error else ""),
                e.quantization or "", f"{e.context_length:,}" if e.context_length else "",
                human_bytes(e.size), e.source,
            )  # fmt: skip

    def _entry(self) -> InventoryEntry | None:
        table = self.query_one("#local-table", DataTable)
        if not table.has_focus or not 0 <= table.cursor_row < len(self.entries):
            return None
        return self.entries[table.cursor_row]

    @on(DataTable.RowSelected, "#local-table")
    def _entry_chosen(self) -> None:
        self.action_to_chat()

    def action_to_chat(self) -> None:
        entry = self._entry()
        if entry is None:
            return
        if entry.error:
            self.notify(f"{entry.name}: {entry.error}", severity="error", timeout=10)
            return
        if not entry.can_chat:
            self.notify(f"{entry.name} is a {entry.kind} model, not a chat model.",
                        severity="warning")  # fmt: skip
            return
        self.app.switch_mode("chat")
        chat = self.app.screen
        load = getattr(chat, "load_model", None)
        if load is not None:
            load(entry.to_local_model())

    def action_delete(self) -> None:
        entry = self._entry()
        if entry is None:
            return
        if entry.source in OTHER_STORES:
            question = (
                f"{entry.name} lives in {entry.source}'s own store. Type {entry.source} to "
                "delete it there."
            )
            self.app.push_screen(
                TextDialog(question, "", f"It frees {human_bytes(entry.size)}."),
                lambda typed: typed is not None and self.delete(entry, typed),
            )
            return
        question = f"Delete {printable(entry.name)} ({human_bytes(entry.size)}, {entry.source})?"
        self.app.push_screen(
            ConfirmDialog(question), lambda yes: bool(yes) and self.delete(entry, None)
        )

    @work(group="local-delete", exit_on_error=False)
    async def delete(self, entry: InventoryEntry, confirm_store: str | None) -> None:
        try:
            freed = await self.library.delete(entry, confirm_store)
        except GenaiError as exc:
            self.notify(str(exc), title="Delete", severity="error", timeout=10)
            return
        self.notify(f"Deleted {entry.name}; {human_bytes(freed)} freed.")
        self.scan_local()

    # -- Downloads ------------------------------------------------------------

    def _show_jobs(self, jobs: list[DownloadJob]) -> None:
        self.jobs = list(reversed(jobs))
        table = self.query_one("#downloads-table", DataTable)
        row = table.cursor_row
        table.clear()
        for j in self.jobs:
            pct = f"{100 * j.done / j.total:.0f}% of {human_bytes(j.total)}" if j.total else ""
            speed = f"{human_bytes(j.speed_bps)}/s" if j.state == "running" else ""
            state = j.state + (f": {j.error}" if j.error else "")
            table.add_row(
                Text(printable(j.repo_id)), Text(printable(state)), pct, speed,
                human_eta(j.eta_s) if j.state == "running" else "",
            )  # fmt: skip
        if self.jobs:
            table.move_cursor(row=min(row, len(self.jobs) - 1))

    def _job(self) -> DownloadJob | None:
        table = self.query_one("#downloads-table", DataTable)
        if not table.has_focus or not 0 <= table.cursor_row < len(self.jobs):
            return None
        return self.jobs[table.cursor_row]

    async def action_pause(self) -> None:
        if (job := self._job()) is None:
            return
        queue = await self.library.downloads()
        if job.state == "paused":
            queue.resume(job.id)
        elif job.state in ("queued", "running"):
            queue.pause(job.id)

    async def action_cancel(self) -> None:
        job = self._job()
        if job is not None and job.state not in ("done", "cancelled"):
            (await self.library.downloads()).cancel(job.id)
