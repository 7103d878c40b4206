"""The create flows on real models: SmolLM2 (llama.cpp, JSON grammar) or a scripted
OpenAI-compatible server for the language side, the tiny diffusers pipeline for the
pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from openai_faults import FaultServer
from PIL import Image

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import (
    Clarify,
    CreateNote,
    ImageReady,
    PicturesSaved,
    PromptDraft,
)
from genai_tui.engine.create.flows import split_draft, split_mode
from genai_tui.engine.create.instructions import IMAGE_PLANNER, PROMPT_WRITER
from genai_tui.engine.create.story import split_scenes
from genai_tui.engine.engine import Engine
from genai_tui.engine.images.png_params import read_parameters

SMALL_IMAGES = {"threads": 1, "width": 64, "height": 64, "steps": 2, "variations": 2,
                "preview_every": 0}  # fmt: skip


@pytest.fixture
def image_settings(settings, tiny_sd_dir):
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny-sd").symlink_to(tiny_sd_dir)
    return settings.model_copy(update={"image": settings.image.model_copy(update=SMALL_IMAGES)})


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


@pytest.fixture
def remote(image_settings, server):
    """An engine whose chat is a scripted remote model, with the tiny SD for pictures."""
    from genai_tui.config import ProviderSettings

    s = image_settings.model_copy(update={"providers": [
        ProviderSettings(name="script", base_url=server.url)]})  # fmt: skip
    engine = Engine(s)
    conv = engine.new_conversation("fault-model", provider="script")
    return engine, conv.id


async def run(events) -> list:
    return [event async for event in events]


def test_commands_split_into_mode_request_and_scenes() -> None:
    assert split_mode("poster: Save the bees") == ("poster", "Save the bees")
    assert split_mode("  a cat") == ("art", "a cat")
    assert split_scenes("a fox in winter 4 scenes") == ("a fox in winter", 4)
    assert split_scenes("a fox") == ("a fox", 3)
    assert split_scenes("a fox [20 scenes]") == ("a fox", 8)
    draft = split_draft("Prompt: a red fox, snow,\n soft light\nNegative: blurry")
    assert (draft.prompt, draft.negative_prompt) == ("a red fox, snow, soft light", "blurry")
    assert split_draft("just words").prompt == "just words"


async def test_prompt_writer_fills_both_boxes_with_smollm(image_settings, models_dir) -> None:
    engine = Engine(image_settings)
    drafts = [e for e in await run(engine.create.write_prompt("a lighthouse at dusk"))
              if isinstance(e, PromptDraft)]  # fmt: skip
    assert len(drafts) > 3  # streamed, not one block
    assert drafts[-1].prompt and drafts[-1].negative_prompt
    # Its instructions are a named, editable entry of the system-prompt library.
    assert PROMPT_WRITER in [p.name for p in engine.system_prompts()]
    await engine.aclose()


async def test_imagine_with_smollm_puts_pictures_in_the_chat_and_the_gallery(
    image_settings, models_dir
) -> None:
    engine = Engine(image_settings)
    conv = engine.new_conversation()
    events = await run(engine.create.imagine(conv.id, "a red apple on a wooden table"))
    ask = next((e for e in events if isinstance(e, Clarify)), None)
    if ask is not None:  # the small model may ask: answering draws
        events = await run(engine.create.imagine(conv.id, "a red apple on a wooden table",
                                                 answer=ask.suggestions[0] if ask.suggestions
                                                 else "in the morning"))  # fmt: skip
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert len(ready) == 2
    saved = next(e for e in events if isinstance(e, PicturesSaved))
    message = engine.store.message(saved.message_id)
    assert message.kind == "images" and message.role == "assistant"
    assert [i["seed"] for i in message.meta["images"]] == [e.seed for e in ready]
    assert message.meta["prompt"] and message.content.startswith("[2 pictures: ")
    assert {i.id for i in engine.images.gallery.images()} == {e.image_id for e in ready}
    assert engine.messages(conv.id)[-2].content.startswith("/imagine a red apple")
    assert IMAGE_PLANNER in [p.name for p in engine.system_prompts()]
    await engine.aclose()


async def test_a_vague_request_gets_one_question_then_the_answer_joins_it(remote, server):
    engine, conv_id = remote
    server.replies = [json.dumps({"action": "ask", "question": "What did you do today?",
                                  "suggestions": ["hiking", "coding", "cooking"]}),
                      json.dumps({"action": "draw", "prompt": "a hiker on a ridge, sunrise",
                                  "negative_prompt": "blurry"})]  # fmt: skip
    events = await run(engine.create.imagine(conv_id, "draw my day"))
    ask = [e for e in events if isinstance(e, Clarify)]
    assert ask == [Clarify("What did you do today?", ("hiking", "coding", "cooking"))]
    assert engine.messages(conv_id) == []  # nothing saved before the answer
    events = await run(engine.create.imagine(conv_id, "draw my day", answer="hiking"))
    assert not any(isinstance(e, Clarify) for e in events)
    last_request = server.chat_requests()[-1]["body"]
    assert last_request["messages"][-1]["content"] == "draw my day (hiking)"
    assert last_request["response_format"]["type"] == "json_schema"
    message = engine.messages(conv_id)[-1]
    assert message.meta["prompt"] == "a hiker on a ridge, sunrise"
    assert message.meta["negative_prompt"] == "blurry"
    assert engine.messages(conv_id)[-2].content == "/imagine draw my day (hiking)"
    await engine.aclose()


async def test_a_malformed_plan_draws_the_request_as_written_and_says_so(remote, server):
    engine, conv_id = remote
    server.replies = ["Sure! Here is a nice picture idea about cats."]
    server.reject_response_format = True  # and the server lacks response_format
    events = await run(engine.create.imagine(conv_id, "two cats on a sofa"))
    notes = [e.text for e in events if isinstance(e, CreateNote)]
    assert notes and "drawing the request as written" in notes[0]
    assert engine.messages(conv_id)[-1].meta["prompt"] == "two cats on a sofa"
    assert "response_format" not in server.chat_requests()[-1]["body"]  # asked again without
    await engine.aclose()


async def test_a_poster_has_its_slogan_drawn_and_recorded(remote, server):
    engine, conv_id = remote
    server.replies = [json.dumps({"action": "draw", "prompt": "a bee on a flower",
                                  "slogan": "Save the bees"})]  # fmt: skip
    events = await run(engine.create.imagine(conv_id, "poster: bees need help"))
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert ready and engine.messages(conv_id)[-1].meta["slogan"] == "Save the bees"
    saved = np.asarray(Image.open(ready[0].path).convert("RGB"), dtype=np.int16)
    raw = np.asarray(ready[0].image.convert("RGB"), dtype=np.int16)  # before the slogan
    band = np.abs(saved - raw)[-16:].mean()
    top = np.abs(saved - raw)[:16].mean()
    assert band > 20 and top == 0  # the band changed; the rest of the picture did not
    assert 'Poster: Save the bees' in read_parameters(ready[0].path)
    await engine.aclose()


async def test_transform_starts_from_the_last_picture_of_the_chat(remote, server):
    engine, conv_id = remote
    server.replies = [json.dumps({"action": "draw", "prompt": "a red cube"}),
                      json.dumps({"action": "draw", "prompt": "the cube in blue"})]
    await run(engine.create.imagine(conv_id, "a red cube"))
    start = engine.create.start_picture(conv_id)
    assert start is not None and start.exists()
    with pytest.raises(GenaiError, match="needs a picture"):
        await run(engine.create.imagine(conv_id, "transform: make it blue"))
    await run(engine.create.imagine(conv_id, "transform: make it blue", init_image=start))
    message = engine.messages(conv_id)[-1]
    assert message.meta["mode"] == "transform" and message.meta["init_image"] == str(start)
    image = engine.images.gallery.image(message.meta["images"][0]["id"])
    assert image.init_image == str(start)
    await engine.aclose()


STORY = {"title": "The Fox", "scenes": [
    {"text": "A fox wakes.", "prompt": "a fox in snow"},
    {"text": "It runs.", "prompt": "a fox running"},
    {"text": "It sleeps.", "prompt": "a fox asleep"}]}  # fmt: skip


async def test_a_story_has_n_scenes_each_with_its_picture(remote, server):
    engine, conv_id = remote
    server.replies = [json.dumps(STORY)]
    events = await run(engine.create.story(conv_id, "a fox in winter 3 scenes"))
    saved = [e for e in events if isinstance(e, PicturesSaved)]
    assert saved[-1].finished and not saved[0].finished
    page = engine.message(saved[-1].message_id)
    assert page.kind == "story" and page.meta["title"] == "The Fox"
    scenes = page.meta["scenes"]
    assert [s["text"] for s in scenes] == ["A fox wakes.", "It runs.", "It sleeps."]
    assert all(s["image"] and engine.images.gallery.image(s["image"]["id"]).prompt == s["prompt"]
               for s in scenes)  # fmt: skip
    assert "illustrated stories" in server.chat_requests()[-1]["body"]["messages"][0]["content"]
    await engine.aclose()


async def test_stopping_a_story_keeps_the_finished_scenes(remote, server):
    engine, conv_id = remote
    server.replies = [json.dumps(STORY)]
    pictures = 0
    async for event in engine.create.story(conv_id, "a fox in winter"):
        if isinstance(event, ImageReady):
            pictures += 1
            engine.stop()  # Esc while the first scene is being drawn
    page = engine.messages(conv_id)[-1]
    drawn = [s for s in page.meta["scenes"] if s["image"]]
    assert pictures == 1 and len(drawn) == 1 and drawn[0]["text"] == "A fox wakes."
    assert len(page.meta["scenes"]) == 3  # the story's text is all there
    assert not engine.generating
    await engine.aclose()


async def test_on_a_budget_for_one_model_the_flow_swaps_them_with_notices(
    image_settings, models_dir
) -> None:
    """A GPU (here: the budget) too small for both: the image model's load unloads the
    chat model and the next plan loads it back; each swap is announced, nothing fails."""
    engine = Engine(image_settings)
    evicted = []
    engine.residency.subscribe(lambda event: evicted.append(event))
    await engine.load_model(engine.default_model())
    chat = engine.residency.get(engine.model.name)
    engine.settings.gpu.vram_budget_mb = chat.bytes // 2**20 + 2  # room for one
    conv = engine.new_conversation()
    for _ in range(2):
        events = await run(engine.create.imagine(conv.id, "a red apple", answer="on a table"))
        assert any(isinstance(e, PicturesSaved) for e in events)
    kinds = [e.kind for e in evicted if type(e).__name__ == "ModelEvicted"]
    assert kinds[:2] == ["chat", "image"]
    assert "to make room" in next(e for e in evicted if type(e).__name__ == "ModelEvicted").reason
    await engine.aclose()


async def test_a_picture_drawn_again_with_the_next_seed_is_a_new_message(remote, server):
    engine, conv_id = remote
    server.replies = [json.dumps({"action": "draw", "prompt": "a bee", "slogan": "Bees!"})]
    await run(engine.create.imagine(conv_id, "poster: bees"))
    first = engine.messages(conv_id)[-1].meta["images"][0]
    events = await run(engine.create.redraw(conv_id, first["id"]))
    again = engine.message(next(e for e in events if isinstance(e, PicturesSaved)).message_id)
    assert [i["seed"] for i in again.meta["images"]] == [first["seed"] + 1]
    assert again.meta["prompt"] == "a bee" and again.meta["slogan"] == "Bees!"
    await engine.aclose()
