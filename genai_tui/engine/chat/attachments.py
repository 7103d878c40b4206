"""Files in a message: read a text file (or a PDF's text, when pypdf is installed), refuse
binary files, count its tokens with the chat's model (an estimate for a remote model or
none loaded), refuse one too large for what the context has left, or keep its head.

The file's text goes into the message as a delimited block naming the file (`file_block`);
the name is made printable (it is data, never markup). `ChatAttachments` is the Engine's
helper: `measure` a file against a chat, `attach` it (trimmed on request), and
`message` puts the blocks before what the user typed.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genai_tui.engine.chat.context import reply_reserve
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import human_bytes, printable

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.chat.local import LocalChatModel, SamplingParams
    from genai_tui.engine.chat.providers import ProviderRegistry
    from genai_tui.engine.core.events import ChatEvent
    from genai_tui.engine.core.store import Conversation, Store

MAX_FILE_BYTES = 16 << 20  # read no more: 16 MB of text is millions of tokens
CHARS_PER_TOKEN = 4  # the estimate, as RemoteChatModel.count_prompt makes it
PDF_MAGIC = b"%PDF-"


class AttachmentError(GenaiError):
    """A file that cannot go into the message: missing, binary, too large."""


class TooLargeError(AttachmentError):
    """A file that takes more tokens than the context has left (it may be trimmed)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file as it goes into the message."""

    name: str  # printable, one line
    path: Path
    size: int  # bytes on disk
    block: str  # the delimited text that goes into the message
    tokens: int  # what the block takes in the prompt
    estimated: bool  # True: about CHARS_PER_TOKEN characters a token, not the tokenizer's
    cut_tokens: int = 0  # left out by a trim (0: whole)
    pixels: tuple[int, int] | None = None  # an image (vision.measure_image): no block

    @property
    def label(self) -> str:
        """`main.py · 1,204 tokens` (`~1,204 tokens (estimate)`, `· trimmed`); an image:
        `cat.png · 640×480`."""
        if self.pixels:
            return f"{self.name} · {self.pixels[0]}×{self.pixels[1]}"
        count = (
            f"~{self.tokens:,} tokens (estimate)" if self.estimated else f"{self.tokens:,} tokens"
        )
        return f"{self.name} · {count}" + (" · trimmed" if self.cut_tokens else "")


@dataclass(frozen=True, slots=True)
class Fit:
    """A file measured against a chat: its tokens, and the room the context has left."""

    attachment: Attachment
    text: str  # the file's text (for a trim)
    room: int  # tokens left for files: context - reply reserve - prompt so far - pending
    context: int
    reserve: int
    used: int  # the system prompt and the message's template, plus files already attached
    estimated: bool

    @property
    def fits(self) -> bool:
        return self.attachment.tokens <= self.room

    def explain(self) -> str:
        """Why a file does not fit, with the numbers."""
        about = "about " if self.estimated else ""
        return (
            f"{self.attachment.name} takes {about}{self.attachment.tokens:,} tokens, but the "
            f"context has {about}{max(self.room, 0):,} left ({self.context:,} in all, "
            f"{self.reserve:,} kept for the reply, {self.used:,} already used)."
        )


def display_name(path: Path) -> str:
    """The file's name on one printable line: no control character, no line break."""
    return printable(path.name or str(path)).replace("\n", "\u240a").replace("\t", " ")


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    return "`" * (longest + 1)


def file_block(name: str, text: str, note: str = "") -> str:
    """The file's text as it goes into the message: a header naming the file, the text in
    a fence that nothing inside it can close, and a note (a trim) after it."""
    fence = _fence(text)
    body = text if text.endswith("\n") or not text else text + "\n"
    block = f"File: {name}\n{fence}\n{body}{fence}"
    return f"{block}\n{note}" if note else block


def message_with_files(text: str, attachments: Sequence[Attachment]) -> str:
    """The files' blocks, then what the user typed."""
    parts = [a.block for a in attachments if a.block]  # an image goes as a picture
    if text.strip():
        parts.append(text.strip())
    return "\n\n".join(parts)


def _pdf_text(path: Path) -> str:
    try:
        pypdf = importlib.import_module("pypdf")  # optional: used only when installed
    except ImportError:
        raise AttachmentError(
            f"{display_name(path)} is a PDF; reading its text needs pypdf, which is not installed.",
            "Install it (`pip install pypdf`) in genai-tui's environment, or attach the text.",
        ) from None
    try:
        reader = pypdf.PdfReader(str(path))
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise AttachmentError(
            f"{display_name(path)} could not be read as a PDF: {printable(str(exc))[:200]}",
            "Check the file.",
        ) from None
    if not text.strip():
        raise AttachmentError(
            f"{display_name(path)} has no text layer (a scanned PDF?).",
            "Run OCR on it first, or attach the text.",
        )
    return text


def read_text(path: Path) -> tuple[str, int]:
    """(the file's text, its size in bytes); AttachmentError for what cannot be attached."""
    path = path.expanduser()
    name = display_name(path)
    if not path.exists():
        raise AttachmentError(f"No file at {printable(str(path))}.", "Check the path.")
    if path.is_dir():
        raise AttachmentError(f"{name} is a folder.", "Attach the files in it one by one.")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise AttachmentError(
                f"{name} is {human_bytes(size)}; at most {human_bytes(MAX_FILE_BYTES)} of "
                "text is read.",
                "Attach a part of it (e.g. `head -c 1M FILE > part.txt`).",
            )
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise AttachmentError(
            f"{name} could not be read: {printable(exc.strerror or str(exc))}.",
            "Check the file's permissions.",
        ) from None
    if data.startswith(PDF_MAGIC):
        return _pdf_text(path), size
    if mime := image_mime(data[:16]):
        raise AttachmentError(
            f"{name} is an image ({mime}), not text.",
            "Images go to a remote vision model: genai-tui chat --image.",
        )
    try:
        text = data.decode("utf-8-sig")
        binary = "\x00" in text[:8192]
    except UnicodeDecodeError:
        binary = True
    if binary:
        raise AttachmentError(
            f"{name} is a binary file, not UTF-8 text; it was not attached.",
            "Attach text files: code, Markdown, logs, CSV, JSON, ...",
        )
    return text, size


IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_mime(head: bytes) -> str | None:
    """The MIME type of a PNG, JPEG, GIF or WebP image from its first bytes, else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in IMAGE_MAGIC if head.startswith(magic)), None)


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True, slots=True)
class Counter:
    """How a chat counts tokens, and what its context has left for files."""

    count: Callable[[str], Awaitable[int]]
    context: int
    reserve: int
    used: int
    estimated: bool


class AttachHost(Protocol):
    """What ChatAttachments needs of the Engine."""

    settings: Settings
    store: Store
    model: LocalChatModel | None

    @property
    def providers(self) -> ProviderRegistry: ...

    @property
    def cancel_event(self) -> threading.Event: ...

    def conversation(self, conv_id: int) -> Conversation: ...

    def params_for(self, conv: Conversation) -> SamplingParams: ...

    def busy(self) -> AbstractAsyncContextManager[None]: ...


class ChatAttachments:
    """Files for a chat's next message: measured with the chat's model, trimmed on request."""

    def __init__(self, host: AttachHost) -> None:
        self.host = host

    async def counter(
        self, conv_id: int | None = None, provider: str = "", model: str = ""
    ) -> Counter:
        """The chat's token counter: the loaded local model's tokenizer, else an estimate
        (a remote model, or no model loaded yet). Without `conv_id`: a new chat with
        `provider`/`model` and the default system prompt."""
        host = self.host
        system = host.settings.system_prompt
        max_tokens = host.settings.generation.max_tokens
        if conv_id is not None:
            conv = host.conversation(conv_id)
            provider, model, system = conv.provider, conv.model, conv.system_prompt
            max_tokens = host.params_for(conv).max_tokens
        head = [{"role": "system", "content": system}] if system else []
        head.append({"role": "user", "content": ""})
        local = host.model
        if provider:
            remote = await host.providers.chat_model(provider, model)
            used, _ = await remote.count_prompt(head)
            context = remote.context_size
            count, estimated = _estimate, True
        elif local is not None and local.loaded:
            used, _ = await local.count_prompt(head)
            context = local.context_size

            count = local.count_text

            estimated = False
        else:  # not loaded yet: its tokenizer is not at hand
            used = sum(estimate_tokens(m["content"]) + 4 for m in head)
            context = host.settings.generation.context_length or 4096
            count, estimated = _estimate, True
        return Counter(count, context, reply_reserve(max_tokens, context), used, estimated)

    async def measure(
        self, path: Path, counter: Counter, pending: Sequence[Attachment] = (), typed: str = ""
    ) -> Fit:
        """The file read, its block built and counted, against the room left beside the
        files already `pending` and the text `typed` so far."""
        text, size = read_text(Path(path))
        path = Path(path).expanduser()
        block = file_block(display_name(path), text)
        tokens = await counter.count(block)
        attachment = Attachment(display_name(path), path, size, block, tokens, counter.estimated)
        # A token for each blank line between the parts, one to spare: a prompt that fills
        # the room exactly must still leave the reply its reserve (context.fit_messages).
        used = counter.used + sum(a.tokens + 1 for a in pending) + 1
        if typed.strip():
            used += await counter.count(typed.strip()) + 1
        room = counter.context - counter.reserve - used
        return Fit(
            attachment, text, room, counter.context, counter.reserve, used, counter.estimated
        )

    async def attach(
        self,
        path: Path,
        counter: Counter,
        pending: Sequence[Attachment] = (),
        typed: str = "",
        trim: bool = False,
    ) -> Attachment:
        """The file, whole when it fits; else its head (`trim`) or an AttachmentError that
        says how many tokens it takes and how many the context has left."""
        fit = await self.measure(path, counter, pending, typed)
        if fit.fits:
            return fit.attachment
        if not trim:
            raise TooLargeError(
                fit.explain(),
                "Attach it trimmed (its head is kept), or use a model with a larger context.",
            )
        return await self.trim(fit, counter)

    async def trim(self, fit: Fit, counter: Counter) -> Attachment:
        """The head of a measured file that fits the room (AttachmentError: no room at all)."""
        return fit.attachment if fit.fits else await trimmed(fit, counter.count)

    @staticmethod
    def message(text: str, attachments: Sequence[Attachment]) -> str:
        return message_with_files(text, attachments)

    async def measure_image(self, path: Path, counter: Counter, conv_id: int | None = None,
                            provider: str = "", model: str = "") -> Fit:  # fmt: skip
        """An image for the chat's model (vision.measure_image): refused with what to do
        when that model takes text only."""
        from genai_tui.engine.chat.vision import measure_image

        engine: Any = self.host  # the Engine (chat/ may not import it: typed by a protocol)
        return await measure_image(engine, path, counter, conv_id, provider, model)

    def reply_with_images(
        self, conv_id: int, text: str, images: Sequence[Path]
    ) -> AsyncGenerator[ChatEvent, None]:
        """Engine.chat's events, the images sent with the message (vision.reply_with_images)."""
        from genai_tui.engine.chat.vision import reply_with_images

        engine: Any = self.host  # the Engine (chat/ may not import it: typed by a protocol)
        return reply_with_images(engine, conv_id, text, images)


async def _estimate(text: str) -> int:
    return estimate_tokens(text)


async def trimmed(fit: Fit, count: Callable[[str], Awaitable[int]]) -> Attachment:
    """The file's head that fits the room (cut at a line end where there is one), with a
    note saying how much was left out."""
    whole = fit.attachment
    text, room = fit.text, fit.room
    total_lines = text.count("\n") + (0 if text.endswith("\n") else 1)

    def block_of(keep: int) -> tuple[str, int]:
        head = text[:keep]
        if keep < len(text) and (nl := head.rfind("\n")) > 0:
            head = head[: nl + 1]
        kept_lines = head.count("\n")
        note = (
            f"[… {whole.name} was cut here to fit the context: the last "
            f"{total_lines - kept_lines:,} of {total_lines:,} lines were left out]"
        )
        return file_block(whole.name, head, note), len(head)

    lo, hi = 0, len(text)  # the longest head whose block fits
    best: tuple[str, int, int] | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        block, kept = block_of(mid)
        tokens = await count(block)
        if tokens <= room:
            best = (block, tokens, kept)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None or best[2] == 0:
        raise AttachmentError(
            f"No room for any of {whole.name}: the context has {max(room, 0):,} tokens left.",
            "Remove other attachments, start a new chat, or use a larger context.",
        )
    block, tokens, _ = best
    return replace(whole, block=block, tokens=tokens, cut_tokens=max(whole.tokens - tokens, 1))
