"""Compare mode: one prompt to 2-4 models (local and remote) at once, streamed in parallel.

Each model's reply is one chat turn (the same as the chat screen's) in its own
conversation, so it can be continued in the chat screen and counts in usage. Events
come out tagged with the index of the model that produced them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genai_tui.engine.chat.service import ChatModel, chat_turn, title_from
from genai_tui.engine.core.bridge import merge
from genai_tui.engine.core.errors import GenaiError, GenerationError
from genai_tui.engine.core.events import ChatEvent
from genai_tui.engine.models.inventory import LocalModel

if TYPE_CHECKING:
    from genai_tui.engine.chat.local import SamplingParams
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.gpu.residency import Residency

MAX_MODELS = 4

Release = Callable[[], Awaitable[None]]
# (target, its index) -> the model to stream from, and how to let it go after (None: not ours)
OpenModel = Callable[["CompareTarget", int], Awaitable[tuple[ChatModel, Release | None]]]


@dataclass(frozen=True)
class CompareTarget:
    """A local GGUF model, or `model` on the remote `provider`."""

    model: str
    provider: str = ""
    local: LocalModel | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.provider else self.model


async def compare(
    store: Store,
    residency: Residency,
    open_model: OpenModel,
    targets: list[CompareTarget],
    prompt: str,
    params: SamplingParams,
    cancel: threading.Event,
    system_prompt: str = "",
) -> AsyncGenerator[tuple[int, ChatEvent | GenaiError], None]:
    """Stream every target's reply at once; yields (index, event) and (index, error)."""
    if not 2 <= len(targets) <= MAX_MODELS:
        raise GenaiError(f"Compare needs 2 to {MAX_MODELS} models; {len(targets)} chosen.",
                         "Select between two and four models with space.")  # fmt: skip

    async def one(
        index: int, target: CompareTarget
    ) -> AsyncGenerator[ChatEvent | GenaiError, None]:
        release: Release | None = None
        try:
            model, release = await open_model(target, index)
            conv = store.create_conversation(title_from(prompt), target.model, system_prompt)
            if target.provider:
                conv = store.update_conversation(conv.id, provider=target.provider)
            store.add_message(conv.id, "user", prompt)
            turn = chat_turn(store, conv, model, params, cancel, residency,
                             retry_hint="Run the comparison again.")  # fmt: skip
            async with aclosing(turn) as events:
                async for event in events:
                    yield event
        except GenaiError as exc:
            yield exc
        except Exception as exc:  # a backend failure must not take the other columns down
            yield GenerationError(f"{target.label} failed: {exc}.", "The other models go on.")
        finally:
            if release is not None:
                await release()

    streams = [one(i, t) for i, t in enumerate(targets)]
    async with aclosing(merge(streams, on_abandon=cancel.set)) as merged:
        async for index, item in merged:
            yield index, item
