"""The base of every modal dialog: a centred box over the dimmed screen; Esc cancels."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import ModalScreen, ScreenResultType

from genai_tui.workbench import ReportsWorkerErrors


class Dialog(ReportsWorkerErrors, ModalScreen[ScreenResultType]):
    """A centred box (its first Vertical or VerticalScroll child); Esc dismisses with None.

    Subclasses set their own keys in BINDINGS (Textual merges them with these)."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
        & > Vertical, & > VerticalScroll {
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
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)
