"""The TUI's first frame: the chat screen's layout and keys, drawn before the settings,
the engine and the screens are imported.

`genai-tui` opens on `StartupScreen`: the chat screen's own widgets (chat list, status
line, prompt box, footer with the chat's keys), nothing that needs pydantic, SQLite or
the engine. Just after its first frame the App imports the rest on a thread (`preload`),
builds the settings and the engine, opens the real chat screen and hands over what the
user did meanwhile (`hand_over`): the text typed, an Enter, the chat keys pressed, in
order. A bad settings file ends the App with the settings' own message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from genai_tui.screens.chat_keys import (
    ATTACH_KEYS,
    BRANCH_KEYS,
    CHAT_KEYS,
    CREATE_KEYS,
    PROMPT_PLACEHOLDER,
)
from genai_tui.widgets.chat_status import ChatStatus

if TYPE_CHECKING:
    from genai_tui.screens.chat import ChatScreen


def _later(binding: Binding) -> Binding:
    """The same key and footer entry; pressing it is remembered for the chat screen."""
    action = f"later({binding.action!r})"
    return Binding(binding.key, action, binding.description, show=binding.show,
                   priority=binding.priority, tooltip=binding.tooltip)  # fmt: skip


class StartupScreen(Screen[None]):
    """Looks like the chat screen and takes its keys until the chat screen is there."""

    CSS_PATH = "screens/chat.tcss"
    DEFAULT_CSS = """
    StartupScreen #sidebar { width: 28; border-right: vkey $foreground 20%; }
    StartupScreen #startup-search { height: 1fr; background: $surface; color: $text-disabled; }
    StartupScreen #prompt { height: 3; background: $surface; }
    """
    # In the chat screen's order (its mixins' keys come first in the footer).
    BINDINGS = [_later(b) for b in (*ATTACH_KEYS, *CREATE_KEYS, *BRANCH_KEYS, *CHAT_KEYS)]

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []  # chat keys pressed, in order
        self.submitted = False  # Enter was pressed in the prompt box

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-main"):
            with Vertical(id="sidebar"):  # the chat list's look: its search box, empty
                yield Static("/ search chats", id="startup-search")
            with Vertical(id="chat-pane"):
                yield VerticalScroll(id="messages")
                yield ChatStatus(id="status")
                with Vertical(id="prompt"):
                    yield StartupPrompt(placeholder=PROMPT_PLACEHOLDER, compact=True)
        yield StartupFooter()

    def on_mount(self) -> None:
        self.query_one(StartupPrompt).focus()
        self.query_one(ChatStatus).set(state="starting…")

    def action_later(self, action: str) -> None:
        self.actions.append(action)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submitted = True


class StartupPrompt(Input):
    """The chat's prompt box as it looks when empty (a TextArea: importing it alone
    costs more than a tenth of the first frame). Takes what is typed until the chat
    screen is there; a newline (Ctrl+J) has to wait for the real box."""

    DEFAULT_CSS = """
    StartupPrompt.-textual-compact {
        height: 1; padding: 0 1; background: $surface;
        &:focus { background-tint: 0%; }
        & > .input--placeholder { color: $text 40%; }
    }
    """


class StartupFooter(Widget):
    """The footer the chat screen will have, drawn as one line: Textual's Footer builds
    a widget per key, and two frames (it waits for the screen's bindings), which cost
    more than the rest of the first frame. Keys and palette look the same (a test
    compares them cell by cell); the keys themselves are the screen's bindings."""

    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "startup-footer--edge"}
    DEFAULT_CSS = """
    StartupFooter {
        dock: bottom; height: 1;
        color: $footer-foreground; background: $footer-background;
        & > .footer-key--key {
            color: $footer-key-foreground; background: $footer-key-background;
            text-style: bold;
        }
        & > .footer-key--description {
            color: $footer-description-foreground; background: $footer-description-background;
        }
        & > .startup-footer--edge { color: $foreground 20%; }
    }
    """

    def render(self) -> Text:
        key = self.get_component_rich_style("footer-key--key")
        description = self.get_component_rich_style("footer-key--description")
        line = Text(no_wrap=True, overflow="crop")
        for binding in self.screen.BINDINGS:
            if isinstance(binding, Binding) and binding.show:
                line.append(f" {self.app.get_key_display(binding)} ", key)
                line.append(f"{binding.description} ", description)
        palette = Text.assemble(
            ("▏", self.get_component_rich_style("startup-footer--edge")),
            (self.app.get_key_display(Binding(self.app.COMMAND_PALETTE_BINDING, "")), key),
            (" palette", description), " ",
        )  # fmt: skip
        line.truncate(max(0, self.size.width - palette.cell_len), pad=True)
        return line + palette


def preload() -> None:
    """What the first frame does without (run on a thread just after it): pydantic and
    the settings, the engine, the chat screen."""
    import genai_tui.config
    import genai_tui.engine.engine
    import genai_tui.screens.chat  # noqa: F401


async def hand_over(startup: StartupScreen, chat: ChatScreen) -> None:
    """Give the chat screen what the user typed and pressed during start-up."""
    from genai_tui.widgets.prompt_input import PromptInput

    prompt = chat.prompt
    typed = startup.query_one(StartupPrompt).value
    if typed:
        prompt.load_text(typed + prompt.text)
        prompt.move_cursor(prompt.document.end)
    if startup.submitted and typed.strip():
        await chat.open_newest()  # the message goes where it would have: the newest chat
        prompt.post_message(PromptInput.Submitted(prompt, prompt.text))
    for action in startup.actions:
        await chat.run_action(action)
