"""The create flows, composed of the engine's steps: a chat model's reply
(`model_reply`, through residency and the GPU scheduler) and the studio's generation
(same settings, same gallery). No second copy of either.

- `write_prompt(idea)`: the studio's prompt assistant; streams `PromptDraft`s.
- `imagine(conv_id, text)`: `/imagine [mode:] request` in a chat; may end with one
  `Clarify` question (then call again with `answer=`); saves a picture message.
- `story(conv_id, idea, scenes)`: lives in `story.py`, on the same steps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genai_tui.engine.chat.service import (
    DEFAULT_TITLE,
    ChatModel,
    add_user_message,
    history,
    model_reply,
    title_from,
)
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import (
    Clarify,
    CreateNote,
    CreateStep,
    ImageReady,
    PicturesSaved,
    PromptDraft,
    TokenDelta,
)
from genai_tui.engine.core.store import Conversation
from genai_tui.engine.create import instructions as ins
from genai_tui.engine.create.structured import ImagePlan, ask
from genai_tui.engine.images.queue_turn import in_turn

if TYPE_CHECKING:
    import threading
    from contextlib import AbstractAsyncContextManager

    from genai_tui.engine.chat.local import SamplingParams
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.gpu.residency import Residency
    from genai_tui.engine.images.diffusion_params import ImageRequest
    from genai_tui.engine.images.studio import ImageStudio

MODES = ("art", "photo", "poster", "transform")
DEFAULT_NEGATIVE = "blurry, low quality, distorted, deformed, watermark, text, signature"
_MODE = re.compile(r"^\s*(art|photo|poster|transform)\s*:\s*", re.I)
_LABEL = re.compile(r"^\s*(prompt|negative(?: prompt)?)\s*:\s*", re.I | re.M)


def split_mode(request: str) -> tuple[str, str]:
    """"poster: a cat" -> ("poster", "a cat"); no mode -> ("art", request)."""
    match = _MODE.match(request)
    if match:
        return match.group(1).lower(), request[match.end() :].strip()
    return "art", request.strip()


def split_draft(text: str) -> PromptDraft:
    """The prompt writer's "Prompt: … / Negative: …" text as the two boxes' contents."""
    prompt: list[str] = []
    negative: list[str] = []
    current: list[str] | None = None
    pos = 0
    for match in _LABEL.finditer(text):
        if current is not None:
            current.append(text[pos : match.start()])
        current = prompt if match.group(1).lower() == "prompt" else negative
        pos = match.end()
    if current is None:
        return PromptDraft(text.strip(), "")
    current.append(text[pos:])
    return PromptDraft(" ".join("".join(prompt).split()), " ".join("".join(negative).split()))


def picture_summary(n: int, prompt: str) -> str:
    """A picture message's text: what the language model sees of it in the history."""
    return f"[{n} picture{'s' if n != 1 else ''}: {prompt}]"


class Host(Protocol):
    """What the flows use of the Engine (which composes them: `Engine.create`)."""

    store: Store

    @property
    def images(self) -> ImageStudio: ...

    @property
    def residency(self) -> Residency: ...

    @property
    def cancel_event(self) -> threading.Event: ...

    def busy(self) -> AbstractAsyncContextManager[None]: ...

    def open_chat_model(self, conv: Conversation, into: list[ChatModel]) -> AsyncGenerator[Any]: ...

    def params_for(self, conv: Conversation) -> SamplingParams: ...


class Creator:
    """The create flows over one Engine (its store, models, studio and residency)."""

    def __init__(self, engine: Host) -> None:
        self.engine = engine

    # -- shared steps -------------------------------------------------------------

    def _conversation(self, conv_id: int | None) -> Conversation:
        """The conversation, or for the studio (none) the newest chat's model settings."""
        store = self.engine.store
        if conv_id is not None:
            return store.conversation(conv_id)
        newest = store.conversations()[:1]
        base = newest[0] if newest else None
        return Conversation(0, DEFAULT_TITLE, base.model if base else "", "",
                            base.params if base else {}, None, 0.0, 0.0,
                            base.provider if base else "")  # fmt: skip

    async def _chat_model(self, conv: Conversation, into: list[ChatModel]) -> AsyncGenerator[Any]:
        """The conversation's chat model (loading a local one, with its events)."""
        async with aclosing(self.engine.open_chat_model(conv, into)) as events:
            async for event in events:
                yield event

    def _params(self, conv: Conversation, **changes: Any) -> SamplingParams:
        # The chat's stop strings and JSON mode are for its replies: a prompt or a plan
        # written here has its own shape.
        plain: dict[str, Any] = {"stop": (), "json_mode": False}
        return dataclasses.replace(self.engine.params_for(conv), **(plain | changes))

    async def _draw(self, request: ImageRequest, stop_at_once: bool = True) -> AsyncGenerator[Any]:
        """The studio's generation with its settings; Esc (Engine.stop) cancels it when
        `stop_at_once` (a story finishes the scene it is on instead)."""
        images = self.engine.images
        cancel = self.engine.cancel_event

        async def watch() -> None:
            while not cancel.is_set():
                await asyncio.sleep(0.05)
            images.cancel()

        # While the studio or its queue is busy, the picture waits its turn in the queue.
        busy = images.generating or images.queue.busy
        watcher = asyncio.create_task(watch()) if stop_at_once and not busy else None
        stop = cancel if stop_at_once else None
        try:
            run = in_turn(images.queue, request, stop=stop) if busy else images.generate(request)
            async with aclosing(run) as events:
                async for event in events:
                    yield event
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _pictures(self, conv_id: int, request: ImageRequest, meta: dict[str, Any]
                        ) -> AsyncGenerator[Any]:  # fmt: skip
        """Draw `request`, then save what was made as one picture message of the chat
        (`meta` plus the prompt and the pictures with their seeds)."""
        ready: list[ImageReady] = []
        async with aclosing(self._draw(request)) as events:
            async for event in events:
                if isinstance(event, ImageReady):
                    ready.append(event)
                yield event
        if not ready:
            return
        meta = meta | {"prompt": request.prompt, "negative_prompt": request.negative_prompt,
                       "images": [{"id": r.image_id, "path": str(r.path), "seed": r.seed}
                                  for r in ready]}  # fmt: skip
        message = self.engine.store.add_message(
            conv_id, "assistant", picture_summary(len(ready), request.prompt),
            kind="images", meta=meta)  # fmt: skip
        yield PicturesSaved(message.id, True)

    # -- the studio's prompt assistant --------------------------------------------

    async def write_prompt(self, idea: str) -> AsyncGenerator[Any]:
        """Stream a detailed prompt and a negative prompt for `idea` (PromptDraft events)
        from the chat model in use; Esc stops it and what arrived stays."""
        if not idea.strip():
            raise GenaiError("Type an idea in the prompt box first.",
                             "A few words are enough: the assistant expands them.")  # fmt: skip
        async with self.engine.busy():
            conv = self._conversation(None)
            into: list[ChatModel] = []
            async for event in self._chat_model(conv, into):
                yield event
            yield CreateStep(f"writing the prompt with {into[0].name}")
            messages = [{"role": "system", "content": ins.instruction(self.engine.store,
                                                                      ins.PROMPT_WRITER)},
                        {"role": "user", "content": idea.strip()}]  # fmt: skip
            text = ""
            reply = model_reply(into[0], messages, self._params(conv), self.engine.cancel_event,
                                self.engine.residency)  # fmt: skip
            draft = PromptDraft("", "")
            async with aclosing(reply) as events:
                async for event in events:
                    if isinstance(event, TokenDelta):
                        text += event.text
                        draft = split_draft(text)
                        yield draft
            if draft.prompt and not draft.negative_prompt and not self.engine.cancel_event.is_set():
                # A small model may skip the second part: the usual things to avoid.
                yield PromptDraft(draft.prompt, DEFAULT_NEGATIVE)

    # -- /imagine -----------------------------------------------------------------

    async def imagine(self, conv_id: int, request: str, answer: str | None = None,
                      init_image: Path | None = None) -> AsyncGenerator[Any]:  # fmt: skip
        """Pictures for `request` ("[mode:] what to draw") in the conversation.

        The chat model plans the prompt from the request and the conversation; a vague
        request gets one `Clarify` (call again with the `answer`: it is never asked
        twice). A malformed plan draws the request as written, with a `CreateNote`.
        The pictures are saved in the gallery and as one message of the chat.
        """
        mode, what = split_mode(request)
        if not what:
            raise GenaiError("Say what to draw: /imagine a lighthouse at dusk.",
                             f"Modes: /imagine {'|'.join(MODES)}: …")  # fmt: skip
        if mode == "transform" and init_image is None:
            raise GenaiError("Transform needs a picture to start from.",
                             "Make or select one first (a picture in this chat, or the "
                             "gallery), or give a path: /imagine transform: PATH what to "
                             "change.")  # fmt: skip
        store = self.engine.store
        async with self.engine.busy():
            conv = store.conversation(conv_id)
            full = what if not answer else f"{what} ({answer.strip()})"
            user_text = f"/imagine {mode}: {full}" if mode != "art" else f"/imagine {full}"
            into: list[ChatModel] = []
            async for event in self._chat_model(conv, into):
                yield event
            yield CreateStep(f"planning the picture with {into[0].name}")
            plan: ImagePlan | None = None
            raw = ""
            planner = ins.instruction(store, ins.IMAGE_PLANNER) + "\n" + ins.MODE_HINTS[mode]
            if answer:
                planner += " The user already answered a question: draw now."
            messages = [{"role": "system", "content": planner},
                        *[m for m in history(store, conv) if m["role"] != "system"][-8:],
                        {"role": "user", "content": full}]  # fmt: skip
            replies = ask(into[0], messages, ImagePlan, self._params(conv, max_tokens=400),
                          self.engine.cancel_event, self.engine.residency)  # fmt: skip
            async with aclosing(replies) as events:
                async for event in events:
                    if isinstance(event, ImagePlan):
                        plan = event
                    elif isinstance(event, str):
                        raw = event
            if self.engine.cancel_event.is_set():
                return
            if plan is not None and plan.action == "ask" and not answer and plan.question:
                yield Clarify(plan.question.strip(),
                              tuple(s.strip() for s in plan.suggestions if s.strip())[:4])
                return
            if plan is None or not plan.prompt.strip():
                why = "did not answer in the expected form" if plan is None else "wrote no prompt"
                yield CreateNote(f"{into[0].name} {why}; drawing the request as written."
                                 + (f" It said: {raw[:120]}" if raw.strip() else ""))
                plan = ImagePlan(action="draw", prompt=full)
            slogan = " ".join(plan.slogan.split())[:60] if mode == "poster" else ""
            if mode == "poster" and not slogan:
                slogan = title_from(what, 40)
            add_user_message(store, conv, user_text)
            request_ = self.engine.images.request_defaults(
                plan.prompt.strip(), negative_prompt=plan.negative_prompt.strip(),
                init_image=init_image, extra={"poster": slogan} if slogan else {},
            )  # fmt: skip
            yield CreateStep("drawing")
            meta = {"mode": mode, "request": full, "slogan": slogan,
                    "init_image": str(init_image) if init_image else None}  # fmt: skip
            async with aclosing(self._pictures(conv_id, request_, meta)) as events:
                async for event in events:
                    yield event

    async def redraw(self, conv_id: int, image_id: int, seed_step: int = 1
                     ) -> AsyncGenerator[Any]:  # fmt: skip
        """A picture of the chat again with the next seed (same prompt and settings), as a
        new picture message."""
        picture = self.engine.images.gallery.image(image_id)
        slogan = str(picture.params.get("extra", {}).get("poster") or "")
        request = picture.request(seed=(picture.seed or 0) + seed_step,
                                  extra={"poster": slogan} if slogan else {})  # fmt: skip
        async with self.engine.busy():
            yield CreateStep(f"drawing seed {request.seed}")
            meta = {"mode": "poster" if slogan else "art", "request": picture.prompt,
                    "slogan": slogan, "init_image": picture.init_image}  # fmt: skip
            async with aclosing(self._pictures(conv_id, request, meta)) as events:
                async for event in events:
                    yield event

    def start_picture(self, conv_id: int) -> Path | None:
        """Where a transform starts by default: the newest picture of the conversation,
        else the newest of the gallery."""
        for message in reversed(self.engine.store.messages(conv_id)):
            pictures = [i for s in message.meta.get("scenes", []) if (i := s.get("image"))]
            pictures = message.meta.get("images", []) or pictures
            for picture in reversed(pictures):
                if Path(picture["path"]).exists():
                    return Path(picture["path"])
        newest = [i.path for i in self.engine.images.gallery.images(limit=1) if i.exists]
        return newest[0] if newest else None
