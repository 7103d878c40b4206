"""Server-sent events as OpenAI-compatible servers send them: `data: {...}` lines.

Only what chat streaming needs: the `data` field of each event, joined over
multi-line events; comments (`: keep-alive`) and other fields are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

DONE = "[DONE]"
MAX_LINE = 1 << 20  # one SSE line: a chunk is a few hundred bytes
MAX_EVENT = 4 << 20  # one event's data over all its lines


class TooLarge(ValueError):
    """A server sent more than a well-behaved one would; reading stopped there."""


async def bounded_lines(chunks: AsyncIterator[str], max_line: int = MAX_LINE) -> AsyncIterator[str]:
    """Text chunks -> lines (\\n, \\r\\n or \\r), never holding more than `max_line`
    characters of a line that has not ended."""
    pending = ""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in lines:
            yield line
        if len(pending) > max_line:
            raise TooLarge(f"a line of more than {max_line:,} characters")
    if pending:
        yield pending


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of a body, and whether there was more (left unread)."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


@dataclass
class SseState:
    """What the reader saw besides the data: `done` once `[DONE]` arrived."""

    done: bool = False


async def sse_data(lines: AsyncIterator[str], state: SseState | None = None) -> AsyncIterator[str]:
    """Yield each event's data from an iterator of text lines; stop at `[DONE]`."""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                payload = "\n".join(data)
                data = []
                if payload.strip() == DONE:
                    if state is not None:
                        state.done = True
                    return
                yield payload
            continue
        if line.startswith(":"):
            continue  # a comment: keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
            if sum(map(len, data)) > MAX_EVENT:
                raise TooLarge(f"an event of more than {MAX_EVENT:,} characters")
    if data:  # the server closed without the blank line after the last event
        payload = "\n".join(data)
        if payload.strip() != DONE:
            yield payload
        elif state is not None:
            state.done = True
