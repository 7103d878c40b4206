"""`/story`: the chat model writes a titled story as N scenes (narration and an image
prompt each, validated), then one picture per scene follows, in order. The story is one
message of the chat, updated as each scene's picture is saved; Esc stops after the
scene being drawn, and what is finished stays."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from genai_tui.engine.chat.service import ChatModel, add_user_message, title_from
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import CreateNote, CreateStep, ImageReady, PicturesSaved
from genai_tui.engine.create import instructions as ins
from genai_tui.engine.create.flows import Creator
from genai_tui.engine.create.structured import Scene, StoryPlan, ask

DEFAULT_SCENES = 3
MAX_SCENES = 8
_SCENES = re.compile(r"\s*\[?\s*(\d+)\s+scenes?\s*\]?\s*$", re.I)


def split_scenes(idea: str) -> tuple[str, int]:
    """"a fox in winter 4 scenes" -> ("a fox in winter", 4); default 3, at most 8."""
    match = _SCENES.search(idea)
    if not match:
        return idea.strip(), DEFAULT_SCENES
    return idea[: match.start()].strip(), max(1, min(MAX_SCENES, int(match.group(1))))


def story_text(title: str, scenes: list[dict[str, Any]]) -> str:
    """The story as the language model and the search see it."""
    body = "\n\n".join(s["text"] for s in scenes)
    return f"# {title}\n\n{body}"


class StoryCreator(Creator):
    async def story(self, conv_id: int, idea: str, scenes: int | None = None
                    ) -> AsyncGenerator[Any]:  # fmt: skip
        """Write the story, save it as a page, then draw its scenes one by one."""
        if scenes is None:
            idea, scenes = split_scenes(idea)
        scenes = max(1, min(MAX_SCENES, scenes))
        if not idea.strip():
            raise GenaiError("Say what the story is about: /story a fox who learns to fly.",
                             f"Add 'N scenes' at the end for another length (1-{MAX_SCENES}).")
        store = self.engine.store
        cancel = self.engine.cancel_event
        async with self.engine.busy():
            conv = store.conversation(conv_id)
            into: list[ChatModel] = []
            async for event in self._chat_model(conv, into):
                yield event
            yield CreateStep(f"writing the story with {into[0].name}")
            messages = [
                {"role": "system", "content": ins.instruction(store, ins.STORY_WRITER)},
                {"role": "user", "content": f"{idea.strip()}\nNumber of scenes: {scenes}."},
            ]
            plan: StoryPlan | None = None
            replies = ask(into[0], messages, StoryPlan,
                          self._params(conv, max_tokens=min(2048, 250 * scenes + 100)),
                          cancel, self.engine.residency)  # fmt: skip
            async with aclosing(replies) as events:
                async for event in events:
                    if isinstance(event, StoryPlan):
                        plan = event
            if cancel.is_set():
                return
            if plan is None:
                yield CreateNote(f"{into[0].name} did not write the story in the expected "
                                 "form; drawing the idea as one scene.")  # fmt: skip
                plan = StoryPlan(title=title_from(idea, 60), scenes=[Scene(text=idea, prompt=idea)])
            elif len(plan.scenes) != scenes:
                yield CreateNote(f"{into[0].name} wrote {len(plan.scenes)} scenes "
                                 f"for {scenes} asked.")  # fmt: skip
            page: list[dict[str, Any]] = [
                {"text": s.text.strip(), "prompt": s.prompt.strip(), "image": None}
                for s in plan.scenes[:scenes]
            ]
            title = " ".join(plan.title.split())
            user_text = f"/story {idea.strip()} ({scenes} scenes)"
            add_user_message(store, conv, user_text, title=title)
            meta: dict[str, Any] = {"title": title, "idea": idea.strip(), "scenes": page}
            message = store.add_message(conv_id, "assistant", story_text(title, page),
                                        kind="story", meta=meta)  # fmt: skip
            yield PicturesSaved(message.id, False)
            for number, scene in enumerate(page, 1):
                if cancel.is_set():
                    break
                yield CreateStep(f"drawing scene {number} of {len(page)}")
                request = self.engine.images.request_defaults(scene["prompt"], variations=1)
                async with aclosing(self._draw(request, stop_at_once=False)) as events:
                    async for event in events:
                        if isinstance(event, ImageReady):
                            scene["image"] = {"id": event.image_id, "path": str(event.path),
                                              "seed": event.seed}  # fmt: skip
                        yield event
                store.update_message(message.id, story_text(title, page), meta)
                yield PicturesSaved(message.id, False)
            yield PicturesSaved(message.id, True)
