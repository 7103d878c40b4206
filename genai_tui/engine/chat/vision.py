"""Images in a message, for a remote vision model: the user's message becomes OpenAI
content parts (its text, then each image as an `image_url` with a base64 data URL whose
MIME type is read from the file's bytes).

`WithImages` wraps a remote chat model so the one chat turn (service.chat_turn) sends the
images with the newest user message; the history saved keeps the text only. A local GGUF
model takes text only (vision GGUFs with an mmproj projector are future work).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from genai_tui.engine.chat.attachments import AttachmentError, display_name, image_mime
from genai_tui.engine.chat.service import add_user_message, chat_turn
from genai_tui.engine.core.text import human_bytes, printable

if TYPE_CHECKING:
    from genai_tui.engine.chat.attachments import AttachHost
    from genai_tui.engine.chat.local import SamplingParams
    from genai_tui.engine.chat.service import ChatModel, Messages, StreamItem
    from genai_tui.engine.core.events import ChatEvent, ChatStats

MAX_IMAGE_BYTES = 20 << 20  # the OpenAI API's limit for one image


def local_takes_no_images(model: str) -> AttachmentError:
    return AttachmentError(
        f"{printable(model)} is a local GGUF model and takes text only: images go to a "
        "remote vision model (-m PROVIDER/MODEL, a provider set up in Settings).",
        "Vision GGUFs (with an mmproj projector) are not supported yet: future work.",
    )


def image_part(path: Path) -> dict[str, Any]:
    """One image as an OpenAI content part: `image_url` with a base64 data URL."""
    path = Path(path).expanduser()
    name = display_name(path)
    if not path.is_file():
        raise AttachmentError(f"No image file at {printable(str(path))}.", "Check the path.")
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise AttachmentError(
                f"{name} is {human_bytes(size)}; an image may be at most "
                f"{human_bytes(MAX_IMAGE_BYTES)}.",
                "Send a smaller one.",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise AttachmentError(
            f"{name} could not be read: {printable(exc.strerror or str(exc))}.",
            "Check the file's permissions.",
        ) from None
    mime = image_mime(data[:16])
    if mime is None:
        raise AttachmentError(
            f"{name} is not a PNG, JPEG, GIF or WebP image.", "Text files go in with --file."
        )
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}


def with_parts(messages: Messages, parts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with the newest user message as content parts: its text, then `parts`."""
    out: list[dict[str, Any]] = [dict(m) for m in messages]
    last = next((m for m in reversed(out) if m["role"] == "user"), None)
    if last is not None:
        last["content"] = [{"type": "text", "text": last["content"]}, *parts]
    return out


class WithImages:
    """A chat model whose newest user message carries images (ChatModel's shape)."""

    def __init__(self, model: ChatModel, parts: Sequence[dict[str, Any]]) -> None:
        self.model, self.parts = model, list(parts)
        self.name = model.name
        self.context_size = model.context_size
        self.residency_key = model.residency_key

    @property
    def loaded(self) -> bool:
        return self.model.loaded

    async def count_prompt(self, messages: Messages) -> tuple[int, str]:
        return await self.model.count_prompt(cast("Messages", with_parts(messages, self.parts)))

    def stream(
        self,
        messages: Messages,
        params: SamplingParams,
        cancel: threading.Event,
        prompt_tokens: int = 0,
    ) -> AsyncGenerator[StreamItem, None]:
        parts = cast("Messages", with_parts(messages, self.parts))
        return self.model.stream(parts, params, cancel, prompt_tokens)

    def cost(self, stats: ChatStats) -> float | None:
        return self.model.cost(stats)


async def reply_with_images(
    host: AttachHost, conv_id: int, text: str, images: Sequence[Path]
) -> AsyncGenerator[ChatEvent, None]:
    """Add the user's message and stream the reply of the chat's remote model, the images
    sent with the message (the one chat turn; the history keeps the text)."""
    conv = host.conversation(conv_id)
    if not conv.provider:
        raise local_takes_no_images(conv.model or "The local model")
    parts = [image_part(p) for p in images]
    async with host.busy():
        model = await host.providers.chat_model(conv.provider, conv.model)
        add_user_message(host.store, conv, text)
        conv = host.conversation(conv_id)
        turn = chat_turn(
            host.store, conv, WithImages(model, parts), host.params_for(conv), host.cancel_event
        )
        async with aclosing(turn) as events:
            async for event in events:
                yield event
