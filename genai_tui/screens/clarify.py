"""One clarifying question before drawing: 2-4 suggested answers picked by number (or
Enter), or an answer typed in the box (Tab goes there). Esc draws the request as it is."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from genai_tui.engine.core.text import printable
from genai_tui.widgets.dialog import Dialog


class ClarifyDialog(Dialog[str | None]):
    """Dismissed with the chosen or typed answer; None (Esc) means draw it as asked."""

    BINDINGS = [Binding(str(n), f"pick({n - 1})", str(n), show=False) for n in range(1, 5)]

    def __init__(self, question: str, suggestions: tuple[str, ...]) -> None:
        super().__init__()
        self.question = question
        self.suggestions = suggestions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(printable(self.question), classes="title", markup=False)
            yield OptionList(*[Option(f"{n}. {printable(s)}", id=str(n - 1))
                               for n, s in enumerate(self.suggestions, 1)], id="suggestions")
            yield Input(placeholder="or type an answer · Enter", id="answer")
            yield Label("1-4 picks · Tab to type · Esc draws it as asked", classes="hint")

    def on_mount(self) -> None:
        (self.query_one(OptionList) if self.suggestions else self.query_one(Input)).focus()

    def action_pick(self, index: int) -> None:
        if index < len(self.suggestions) and not self.query_one(Input).has_focus:
            self.dismiss(self.suggestions[index])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.suggestions[int(event.option.id or 0)])

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())
