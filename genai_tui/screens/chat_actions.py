"""The chat screen's conversation keeping: the model and system-prompt pickers, copy,
export, rename, move to a project, delete, compare. A base of ChatScreen
(screens/chat.py); every change goes through the Engine facade."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.store import Message
from genai_tui.engine.core.text import last_code_block, printable
from genai_tui.engine.models.inventory import LocalModel
from genai_tui.screens.chat_branching import ChatBranching, chat_message_class
from genai_tui.screens.chat_params import ChatParamsDialog
from genai_tui.screens.dialogs import (
    ConfirmDialog,
    ModelPicker,
    SystemPromptChoice,
    SystemPromptPicker,
    TextDialog,
)
from genai_tui.widgets.conversation_list import ConversationList

if TYPE_CHECKING:
    from textual.containers import VerticalScroll

    from genai_tui.engine.chat.remote import RemoteModel
    from genai_tui.engine.engine import Engine
    from genai_tui.widgets.chat_status import ChatStatus
    from genai_tui.widgets.message_view import MessageView
    from genai_tui.widgets.prompt_input import PromptInput


def message_view(*args: Any, **kwargs: Any) -> MessageView:
    """A chat message (a MessageView that can be selected and shows its branches);
    imported on first use, since Markdown costs ~30 ms of start-up."""
    return chat_message_class()(*args, **kwargs)


def message_meta(msg: Message) -> str:
    parts = []
    if msg.completion_tokens:
        parts.append(f"{msg.completion_tokens} tokens")
    if msg.tokens_per_s:
        parts.append(f"{msg.tokens_per_s:.1f} tok/s")
    if msg.ttft_s is not None:
        parts.append(f"TTFT {msg.ttft_s:.2f} s")
    if msg.cost is not None:
        from genai_tui.engine.chat.usage import format_cost

        parts.append(format_cost(msg.cost))
    if msg.stopped:
        parts.append("stopped")
    return " · ".join(parts)


class ChatActions(ChatBranching):
    """Actions that keep conversations; ChatScreen supplies the state below."""

    engine: Engine
    conv_id: int | None
    pending_system_prompt: str
    messages: VerticalScroll
    remote_choice: tuple[str, str] | None

    if TYPE_CHECKING:  # ChatScreen's, declared here for readers and checkers

        def refresh_list(self) -> None: ...

        def all_replies(self) -> list[str]: ...

        async def action_new_chat(self) -> None: ...

        def _busy(self) -> bool: ...

        def load_model(self, model: LocalModel) -> object: ...

        @property
        def status(self) -> ChatStatus: ...

        @property
        def prompt(self) -> PromptInput: ...

    def _model_label(self, default: LocalModel | None = None) -> str:
        if self.conv_id is not None:
            if (conv := self.engine.conversation(self.conv_id)).provider:
                return f"{conv.provider}/{conv.model}"
        elif self.remote_choice is not None:
            return "/".join(self.remote_choice)
        if self.engine.model is not None:
            return self.engine.model.name
        if self.conv_id is not None and conv.model:
            return conv.model
        default = default or self.engine.default_model()
        return default.name if default else ""

    def _ensure_conversation(self) -> int:
        """The open chat's id; a new chat (the picked model, the pending system prompt)
        when none is open."""
        if self.conv_id is None:
            provider, model = self.remote_choice or ("", "")
            if not provider:
                model = self.engine.model.name if self.engine.model else ""
            conv = self.engine.new_conversation(model, self.pending_system_prompt, provider)
            self.conv_id = conv.id
        return self.conv_id

    def action_chat_params(self) -> None:
        """Ctrl+F: this chat's generation settings and the presets (a new chat when none
        is open: settings belong to a chat)."""
        new = self.conv_id is None
        conv_id = self._ensure_conversation()
        if new:
            self.refresh_list()

        def applied(changed: bool | None) -> None:
            if changed and self.conv_id == conv_id:
                self.status.set(params=self.engine.sampling.describe(conv_id))

        self.app.push_screen(ChatParamsDialog(self.engine, conv_id), applied)

    def _last_reply(self) -> str | None:
        views = self.messages.query("MessageView")
        replies = [v for v in views if v.role == "assistant" and v.text]
        return replies[-1].text if replies else None

    def action_copy_reply(self) -> None:
        text = self._last_reply()
        if text is None:
            self.notify("No reply to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied the last reply ({len(text):,} characters).")

    def action_copy_code(self) -> None:
        replies = self.all_replies()  # the earlier messages too, drawn or not
        code = next((c for c in map(last_code_block, reversed(replies)) if c is not None), None)
        if code is None:
            self.notify("No code block in this chat.", severity="warning")
            return
        self.app.copy_to_clipboard(code)
        self.notify(f"Copied the last code block ({len(code.splitlines())} lines).")

    def action_export(self) -> None:
        if self.conv_id is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        try:
            md, js = self.engine.export(self.conv_id)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify(f"Exported to {md}\nand {js.name}", title="Export", timeout=8)

    def action_system_prompt(self) -> None:
        current = self.pending_system_prompt
        if self.conv_id is not None:
            current = self.engine.conversation(self.conv_id).system_prompt
        picker = SystemPromptPicker(current, self.engine.system_prompts())
        self.app.push_screen(picker, self._system_prompt_picked)

    def _system_prompt_picked(self, choice: SystemPromptChoice | None) -> None:
        if choice is None:
            return
        if choice.name:
            self.engine.save_system_prompt(choice.name, choice.text)
        if self.conv_id is not None:
            self.engine.set_system_prompt(self.conv_id, choice.text)
        else:
            self.pending_system_prompt = choice.text
        self.notify("System prompt set." if choice.text else "System prompt cleared.")

    def action_focus_list(self) -> None:
        self.query_one(ConversationList).options.focus()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(ConversationList)
        sidebar.display = not sidebar.display

    def action_rename(self) -> None:
        if self.conv_id is None:
            self.notify("Send a message first; then the chat can be renamed.", severity="warning")
            return
        conv_id = self.conv_id
        title = self.engine.conversation(conv_id).title

        def renamed(value: str | None) -> None:
            if value:
                self.engine.rename(conv_id, value)
                self.refresh_list()

        self.app.push_screen(TextDialog("Rename chat", title), renamed)

    def action_move_to_project(self) -> None:
        if self.conv_id is None:
            self.notify("Send a message first; then the chat can be filed.", severity="warning")
            return
        conv_id = self.conv_id
        conv = self.engine.conversation(conv_id)
        projects = self.engine.projects()
        hint = "Existing: " + ", ".join(projects) if projects else "A new project is created."
        hint += " Empty removes it from its project."

        def moved(value: str | None) -> None:
            if value is not None:
                self.engine.move_to_project(conv_id, value)
                self.refresh_list()

        self.app.push_screen(TextDialog("Move chat to project", conv.project or "", hint), moved)

    def action_delete_chat(self) -> None:
        if self.conv_id is not None:
            self.post_message(ConversationList.DeleteRequested(self.conv_id))

    def confirm_delete(self, conv_id: int) -> None:
        """Ask, then delete the chat and its messages (and open a new one if it was open)."""
        conv = self.engine.conversation(conv_id)
        count = len(self.engine.messages(conv_id))

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            self.engine.delete_conversation(conv_id)
            if conv_id == self.conv_id:
                await self.action_new_chat()
            self.refresh_list()
            self.notify(f"Deleted “{conv.title}”.")

        title = printable(conv.title)
        question = f"Delete “{title}” and its {count} messages? This cannot be undone."
        self.app.push_screen(ConfirmDialog(question), confirmed)

    def action_pick_model(self) -> None:
        if self._busy():
            return
        models = self.engine.chat_models()
        label = self._model_label()
        current = label if "/" in label or not self.engine.model else self.engine.model.name
        providers = [p.name for p in self.engine.settings.providers]
        picker = ModelPicker(
            models, current, str(self.engine.settings.models_path),
            load_remote=lambda: self.engine.providers.list_all(retries=0), providers=providers,
        )  # fmt: skip
        self.app.push_screen(picker, self._model_picked)

    def _model_picked(self, model: LocalModel | RemoteModel | None) -> None:
        if isinstance(model, LocalModel):
            self.remote_choice = None
            self.load_model(model)
        elif model is not None:
            self.remote_choice = (model.provider, model.id)
            if self.conv_id is not None:
                self.engine.set_model(self.conv_id, model.id, model.provider)
            self.status.set(model=self._model_label(), context=(0, 0), state="")
            self.notify(f"Replies now come from {model.id} on {model.provider}.", markup=False)

    def action_compare(self) -> None:
        if self._busy():
            return
        from genai_tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.engine, self.prompt.text.strip()))
