"""Layout snapshots at 80x24, the smallest terminal we support.

Update after an intended layout change with `pytest tests/screens/test_snapshots.py
--snapshot-update`, and look at the SVGs in __snapshots__ before committing.
"""

from __future__ import annotations

from .test_chat_manage import seed_chat


def test_chat_screen_80x24(make_app, snap_compare):
    """The chat list on the left (one chat in a project), the open chat on the right:
    a user message, an assistant reply with a code block and its stats line, the
    status line with the model name, the prompt box, and the footer keys."""
    app = make_app()

    async def run_before(pilot) -> None:
        conv_id = seed_chat(app, "Hello world in Python", "How do I print in Python?")
        store = app.engine.store
        store.add_message(
            conv_id, "assistant", "Use `print`:\n\n```python\nprint('hello')\n```",
            completion_tokens=14, tokens_per_s=71.5, ttft_s=0.12,
        )  # fmt: skip
        store.update_conversation(conv_id, project="scratch")
        await pilot.app.screen.show_conversation(conv_id)
        pilot.app.screen.refresh_list()
        # The prompt's cursor, drawn whatever the blink phase when the picture is taken.
        pilot.app.screen.prompt.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_model_picker_80x24(make_app, snap_compare):
    """The model picker centred over the chat screen, listing the SmolLM2 model
    from the models dir with its size and source."""
    assert snap_compare(make_app(), terminal_size=(80, 24), press=["ctrl+o"])
