"""Compare mode: one prompt to 2-4 models (local and remote) at once, streamed in parallel.

Each model's reply is saved as its own conversation (so it can be continued in
the chat screen and counts in usage). Events come out tagged with the index of
the model that produced them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genai_tui.engine.core.errors import GenaiError, GenerationError
from genai_tui.engine.core.events import ChatDone, ChatEvent, ChatStats, ThinkingDelta, TokenDelta
from genai_tui.engine.models.inventory import LocalModel
from genai_tui.engine.chat.local import LocalChatModel, SamplingParams
from genai_tui.engine.chat.thinking import ThinkSplitter

if TYPE_CHECKING:
    from genai_tui.engine.engine import Engine
    from genai_tui.engine.chat.remote import RemoteChatModel

MAX_MODELS = 4
_END = object()


@dataclass(frozen=True)
class CompareTarget:
    """A local GGUF model, or `model` on the remote `provider`."""

    model: str
    provider: str = ""
    local: LocalModel | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.provider else self.model


async def _open(engine: Engine, target: CompareTarget, index: int) -> tuple[Any, str | None]:
    """The model to stream from, and its residency key when it is ours to unload after.

    A local model other than the chat's loaded one is loaded for this run, through
    residency like any other (it may make room by unloading idle models).
    """
    if target.provider:
        return await engine.providers.chat_model(target.provider, target.model), None
    local = target.local or engine.resolve_model(target.model)
    current = engine.model
    if current is not None and current.loaded and current.path == local.path:
        return current, None
    from genai_tui.engine.engine import _chat_device
    from genai_tui.engine.models.gguf_info import read_gguf
    from genai_tui.engine.chat.local import memory_needed

    gen = engine.settings.generation
    info = await asyncio.to_thread(read_gguf, local.path)
    model = LocalChatModel(local.path, local.name, context_length=gen.context_length,
                           gpu_layers=gen.gpu_layers, threads=gen.threads)  # fmt: skip
    key = f"{local.name} (compare {index + 1})"
    estimate = memory_needed(info, gen.context_length or info.context_length or 4096)
    device = await asyncio.to_thread(_chat_device, gen.gpu_layers)
    try:
        async with engine.residency.admitting(key, "chat", estimate, device, model.close):
            await model.load()
    except BaseException:
        await model.close()
        raise
    return model, key


async def _one(
    engine: Engine, target: CompareTarget, index: int, prompt: str, params: SamplingParams,
    cancel: threading.Event,
) -> AsyncIterator[ChatEvent]:  # fmt: skip
    model: LocalChatModel | RemoteChatModel
    model, owned = await _open(engine, target, index)
    store = engine.store
    conv = engine.new_conversation(target.model, None, target.provider)
    from genai_tui.engine.engine import title_from

    store.update_conversation(conv.id, title=title_from(prompt))
    store.add_message(conv.id, "user", prompt)
    messages = [{"role": "user", "content": prompt}]
    if conv.system_prompt:
        messages.insert(0, {"role": "system", "content": conv.system_prompt})
    answer: list[str] = []
    thinking: list[str] = []
    stats: list[ChatStats] = []
    saved = False

    def save(s: ChatStats | None) -> int:
        nonlocal saved
        saved = True
        fields: dict[str, Any] = {"thinking": "".join(thinking).strip(), "model": model.name,
                                  "provider": target.provider}  # fmt: skip
        if s is None:
            fields.update(finish_reason="error", stopped=1)
        else:
            fields.update(prompt_tokens=s.prompt_tokens, completion_tokens=s.completion_tokens,
                          ttft_s=s.ttft_s, tokens_per_s=s.tokens_per_s, duration_s=s.duration_s,
                          finish_reason=s.finish_reason, stopped=int(s.stopped),
                          cost=model.cost(s) if target.provider else None)  # type: ignore[union-attr]  # fmt: skip
        return store.add_message(conv.id, "assistant", "".join(answer), **fields).id

    turn = contextlib.nullcontext() if target.provider else engine.residency.gpu_slot(
        owned or model.name)  # fmt: skip
    try:
        async with turn:
            if not model.loaded:
                raise GenerationError(f"{model.name} was unloaded to make room for another model.",
                                      "Run the comparison again.")  # fmt: skip
            prompt_tokens, prompt_text = await model.count_prompt(messages)
            splitter = ThinkSplitter(start_thinking=prompt_text.rstrip().endswith("<think>"))
            deltas = model.stream(messages, params, cancel, stats, prompt_tokens)
            async for delta in deltas:
                pieces = ([(True, delta.text)] if isinstance(delta, ThinkingDelta)
                          else splitter.feed(delta.text))  # fmt: skip
                for is_thinking, piece in pieces:
                    (thinking if is_thinking else answer).append(piece)
                    yield ThinkingDelta(piece) if is_thinking else TokenDelta(piece)
        for is_thinking, piece in splitter.flush():
            (thinking if is_thinking else answer).append(piece)
            yield ThinkingDelta(piece) if is_thinking else TokenDelta(piece)
        message_id = save(stats[0])
        yield ChatDone("".join(answer), "".join(thinking).strip(), stats[0], message_id)
    finally:
        if not saved and (answer or thinking):
            save(None)
        if owned:
            engine.residency.forget(owned)
            await model.close()


async def compare(
    engine: Engine, targets: list[CompareTarget], prompt: str, cancel: threading.Event
) -> AsyncIterator[tuple[int, ChatEvent | GenaiError]]:
    """Stream every target's reply at once; yields (index, event) and (index, error)."""
    if not 2 <= len(targets) <= MAX_MODELS:
        raise GenaiError(f"Compare needs 2 to {MAX_MODELS} models; {len(targets)} chosen.",
                         "Select between two and four models with space.")  # fmt: skip
    params = SamplingParams.from_mapping(engine.settings.generation.model_dump())
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

    async def run(index: int, target: CompareTarget) -> None:
        try:
            async for event in _one(engine, target, index, prompt, params, cancel):
                queue.put_nowait((index, event))
        except GenaiError as exc:
            queue.put_nowait((index, exc))
        except Exception as exc:  # a backend failure must not take the other columns down
            queue.put_nowait((index, GenerationError(f"{target.label} failed: {exc}.",
                                                     "The other models go on.")))  # fmt: skip
        finally:
            queue.put_nowait((index, _END))

    tasks = [asyncio.create_task(run(i, t)) for i, t in enumerate(targets)]
    running = len(tasks)
    try:
        while running:
            index, item = await queue.get()
            if item is _END:
                running -= 1
                continue
            yield index, item
    finally:
        if running:
            cancel.set()
        for task in tasks:
            if not task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(task), 10)
