"""Images in a message: the user's message becomes OpenAI content parts (its text, then
each image as an `image_url` with a base64 data URL whose MIME type is read from the
file's bytes), for a remote vision model or a local GGUF with its projector (mmproj),
whose llama-cpp-python multimodal handler (vision_local) takes the same parts.

`WithImages` wraps a chat model so the one chat turn (service.chat_turn) sends the
images with the newest user message; the history saved keeps the text only. A local
model without a projector is refused before it loads (`no_projector`).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from genai_tui.engine.chat.attachments import (
    AttachHost,
    Attachment,
    AttachmentError,
    Counter,
    Fit,
    display_name,
    image_mime,
)
from genai_tui.engine.chat.service import DEFAULT_TITLE, chat_turn, title_from
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import human_bytes, printable

if TYPE_CHECKING:
    from genai_tui.engine.chat.local import SamplingParams
    from genai_tui.engine.chat.service import ChatModel, Messages, StreamItem
    from genai_tui.engine.core.events import ChatEvent, ChatStats
    from genai_tui.engine.core.store import Conversation
    from genai_tui.engine.gpu.residency import Residency
    from genai_tui.engine.models.local_stores import LocalModel

MAX_IMAGE_BYTES = 20 << 20  # the OpenAI API's limit for one image
# What one image takes in a local model's context, for fitting the prompt: LLaVA 1.5
# takes 576 tokens, Gemma 3 256, Qwen2.5-VL and LLaVA 1.6 more for large images.
IMAGE_TOKENS = 768
IMAGES_META = "attached_images"  # the user message's meta: the images' paths, in order


class VisionHost(AttachHost, Protocol):
    """What `reply_with_images` needs of the Engine."""

    @property
    def residency(self) -> Residency: ...

    def resolve_model(self, ref: str) -> LocalModel: ...

    def default_model(self) -> LocalModel | None: ...

    def open_chat_model(
        self, conv: Conversation, into: list[ChatModel]
    ) -> AsyncGenerator[ChatEvent, None]: ...


def no_projector(model: str) -> AttachmentError:
    """The refusal for a local model that cannot see: it has no projector file."""
    return AttachmentError(
        f"{printable(model)} has no vision projector (mmproj); it takes text only.",
        "Put the model's mmproj*.gguf beside it (`genai-tui pull REPO --quant QUANT` brings "
        "it with a vision repo's model), or send images to a remote vision model "
        "(-m PROVIDER/MODEL, a provider set up in Settings).",
    )


local_takes_no_images = no_projector  # the name cli/chat used before vision GGUFs


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

    def __init__(
        self, model: ChatModel, parts: Sequence[dict[str, Any]], image_tokens: int = 0
    ) -> None:
        self.model, self.parts = model, list(parts)
        # A local model counts the text with its tokenizer and `image_tokens` per image
        # (its formatter takes text only); a remote one estimates the parts it sends.
        self.image_tokens = image_tokens
        self.name = model.name
        self.context_size = model.context_size
        self.residency_key = model.residency_key

    @property
    def loaded(self) -> bool:
        return self.model.loaded

    async def count_prompt(self, messages: Messages) -> tuple[int, str]:
        if self.image_tokens:
            tokens, prompt = await self.model.count_prompt(messages)
            return tokens + self.image_tokens * len(self.parts), prompt
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
    host: VisionHost, conv_id: int, text: str, images: Sequence[Path]
) -> AsyncGenerator[ChatEvent, None]:
    """Add the user's message and stream the reply of the chat's model, the images sent
    with the message (the one chat turn; the history keeps the text): a remote model, or
    a local one with a projector (loaded first, its ModelLoading/ModelLoaded events
    yielded). A local model without one is refused before anything loads."""
    conv = host.conversation(conv_id)
    if (refusal := image_refusal(host, conv_id)) is not None:
        raise refusal
    paths = [Path(p).expanduser().absolute() for p in images]
    parts = [image_part(p) for p in paths]
    async with host.busy():
        into: list[ChatModel] = []
        async with aclosing(host.open_chat_model(conv, into)) as opening:
            async for event in opening:
                yield event
        model = into[0]
        local_model = not conv.provider
        if local_model and getattr(model, "projector", None) is None:
            raise no_projector(model.name)  # a LocalChatModel that was not given it
        # The images' paths go with the message (its thumbnails); the model sees its text.
        host.store.add_message(conv.id, "user", text, meta={IMAGES_META: [str(p) for p in paths]})
        if conv.title == DEFAULT_TITLE:
            host.store.update_conversation(
                conv.id, title=title_from(text or ", ".join(display_name(p) for p in paths)))
        conv = host.conversation(conv_id)
        wrapped = WithImages(model, parts, IMAGE_TOKENS if local_model else 0)
        turn = chat_turn(host.store, conv, wrapped, host.params_for(conv), host.cancel_event,
                         host.residency if local_model else None)  # fmt: skip
        async with aclosing(turn) as events:
            async for event in events:
                yield event


def is_image(path: Path) -> bool:
    """Whether the file at `path` starts like a PNG, JPEG, GIF or WebP image."""
    try:
        with Path(path).expanduser().open("rb") as f:
            return image_mime(f.read(16)) is not None
    except OSError:
        return False


def image_refusal(
    host: VisionHost, conv_id: int | None = None, provider: str = "", model: str = ""
) -> AttachmentError | None:
    """None when the chat's model takes images (a remote one, or a local GGUF with its
    projector); else the refusal, saying what to do. Without `conv_id`: a new chat with
    `provider`/`model` (none: the default local model)."""
    if conv_id is not None:
        conv = host.conversation(conv_id)
        provider, model = conv.provider, conv.model
    if provider:
        return None
    current = host.model if host.model is not None and host.model.loaded else None
    if current is not None:  # the loaded model answers (Engine._ensure_model keeps it)
        return None if getattr(current, "projector", None) is not None else no_projector(
            current.name)  # fmt: skip
    try:
        local = host.resolve_model(model) if model else host.default_model()
    except GenaiError:
        local = None
    if local is None or local.projector is None:
        return no_projector(local.name if local is not None else model or "The local model")
    return None


def image_pixels(path: Path) -> tuple[int, int]:
    """The image's width and height (its header only); AttachmentError when unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError) as exc:
        raise AttachmentError(
            f"{display_name(path)} could not be read as an image: {printable(str(exc))[:200]}",
            "Check the file.",
        ) from None


async def measure_image(
    host: VisionHost, path: Path, counter: Counter, conv_id: int | None = None,
    provider: str = "", model: str = "",
) -> Fit:  # fmt: skip
    """An image for the chat's next message, checked (type, size, readable) and refused
    when the chat's model takes text only; it takes about IMAGE_TOKENS of the context."""
    if (refusal := image_refusal(host, conv_id, provider, model)) is not None:
        raise refusal
    path = Path(path).expanduser()
    await asyncio.to_thread(image_part, path)  # the checks the send makes
    pixels = await asyncio.to_thread(image_pixels, path)
    attachment = Attachment(display_name(path), path, path.stat().st_size, "", IMAGE_TOKENS,
                            True, pixels=pixels)  # fmt: skip
    room = max(counter.context - counter.reserve - counter.used, IMAGE_TOKENS)
    return Fit(attachment, "", room, counter.context, counter.reserve, counter.used, True)
