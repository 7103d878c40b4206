"""The create flows' instructions: named entries of the system-prompt library, seeded
once and then the user's to edit like any other."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genai_tui.engine.core.store import Store

PROMPT_WRITER = "Image prompt writer"
IMAGE_PLANNER = "Image request planner"
STORY_WRITER = "Story writer"

DEFAULTS: dict[str, str] = {
    PROMPT_WRITER: (
        "You write prompts for a text-to-image diffusion model (Stable Diffusion). Turn "
        "the user's idea into one detailed prompt: the subject, setting, composition, "
        "lighting, colours, style and medium, as comma-separated phrases, under 70 words. "
        "Then a negative prompt listing what to avoid. Answer in exactly this form and "
        "nothing else:\nPrompt: <the prompt>\nNegative: <the negative prompt>"
    ),
    IMAGE_PLANNER: (
        "You turn a chat user's picture request into a prompt for a text-to-image "
        "diffusion model, using the conversation for context. If the request is clear "
        "enough to draw, answer with action \"draw\", a detailed prompt (subject, "
        "setting, composition, lighting, style; comma-separated phrases, under 70 "
        "words) and a negative prompt. If it is too vague to draw (for example \"draw "
        "my day\" with nothing about the day), answer with action \"ask\", one short "
        "question and 2 to 4 short suggested answers. Answer only with JSON: "
        '{"action": "draw", "prompt": "...", "negative_prompt": "...", "slogan": ""} '
        'or {"action": "ask", "question": "...", "suggestions": ["...", "..."]}.'
    ),
    STORY_WRITER: (
        "You write short illustrated stories. From the user's idea write a title and "
        "exactly the requested number of scenes; each scene has two or three sentences "
        "of narration and a prompt for a text-to-image diffusion model that draws that "
        "scene (subject, setting, style; comma-separated phrases; keep characters and "
        "style the same across scenes). Answer only with JSON: "
        '{"title": "...", "scenes": [{"text": "...", "prompt": "..."}]}.'
    ),
}

# How each /imagine mode shapes the planner's prompt.
MODE_HINTS: dict[str, str] = {
    "art": "Make it an artwork: name a medium and an art style.",
    "photo": "Make it a photograph: camera, lens, lighting, realistic detail.",
    "poster": (
        "Make it a poster: a bold, simple image with empty space at the bottom, and "
        "propose a short slogan (at most 6 words) in the \"slogan\" field."
    ),
    "transform": (
        "The picture will be made from an existing image (image-to-image): describe "
        "what the result should look like, keeping the composition."
    ),
}


def instruction(store: Store, name: str) -> str:
    """The library entry `name`, seeded with its default the first time it is asked for
    (so the user finds it in the library and can edit it)."""
    for entry in store.system_prompts():
        if entry.name == name:
            return entry.content
    return store.save_system_prompt(name, DEFAULTS[name]).content


def seed_instructions(store: Store) -> None:
    """Put every create-flow instruction in the library (kept as edited if present)."""
    for name in DEFAULTS:
        instruction(store, name)
