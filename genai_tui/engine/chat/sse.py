"""Server-sent events as OpenAI-compatible servers send them: `data: {...}` lines.

Only what chat streaming needs: the `data` field of each event, joined over
multi-line events; comments (`: keep-alive`) and other fields are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

DONE = "[DONE]"


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
    if data:  # the server closed without the blank line after the last event
        payload = "\n".join(data)
        if payload.strip() != DONE:
            yield payload
        elif state is not None:
            state.done = True
