"""Long sessions hold no memory per reply: what is off screen is freed (issue 17).

Counted with the garbage collector, not timed: after replies, new chats and switches,
the live message widgets are the ones on screen, finished workers are let go, and no
removed widget's rendered lines stay behind in Textual's caches.
"""

from __future__ import annotations

import gc

from textual._styles_cache import StylesCache
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream
from textual.worker import Worker

from genai_tui.textual_fixes import unpin_styles_caches
from genai_tui.widgets.message_view import MessageView

from .conftest import SIZE, send, wait_idle, wait_until
from .test_chat_manage import seed_chat


def live(kind: type) -> list:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, kind)]


def orphan_style_caches() -> int:
    """StylesCaches (each holds every line its widget rendered) whose widget is gone."""
    owned = {id(w._styles_cache) for w in live(Widget)}
    return sum(1 for c in live(StylesCache) if id(c) not in owned)


async def test_switching_chats_frees_the_old_chats_widgets(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        first = seed_chat(app, "First", *[f"question {i}\n\n- a\n- b" for i in range(12)])
        second = seed_chat(app, "Second", "hello", "hi there")
        await app.screen.show_conversation(first)
        await pilot.pause()
        first_ids = {m.id for m in app.engine.messages(first)}
        assert {v.message_id for v in app.screen.query(MessageView)} == first_ids
        await app.screen.show_conversation(second)
        await pilot.pause()
        mounted = list(app.screen.query(MessageView))
        assert len(mounted) == 2 and not first_ids & {v.message_id for v in mounted}
        # Nothing keeps the first chat's widgets alive: not the screen, not a cache.
        assert {id(v) for v in live(MessageView)} == {id(v) for v in mounted}
        assert len(live(Markdown)) == len(app.screen.query(Markdown))
        assert orphan_style_caches() == 0
        del mounted
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.screen.query("#empty"))
        assert live(MessageView) == [] and orphan_style_caches() == 0


async def test_replies_and_new_chats_keep_only_what_is_on_screen(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for chat in range(2):
            for turn in range(2):
                await send(pilot, app, f"Say one word about colour {chat}{turn}.")
                await wait_idle(pilot, app)
            on_screen = list(app.screen.query(MessageView))
            assert [v.role for v in on_screen] == ["user", "assistant"] * 2
            assert {id(v) for v in live(MessageView)} == {id(v) for v in on_screen}
            del on_screen
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: app.screen.query("#empty"))
        assert live(MessageView) == []
        assert live(MarkdownStream) == []  # every reply's stream was stopped and let go
        assert orphan_style_caches() == 0
        # Finished reply workers are not kept (nor their event streams).
        assert not [w for w in app.workers if w.group == "chat"]
        assert not [w for w in live(Worker) if w.group == "chat"]


def test_unpinning_is_idempotent_and_keeps_the_colours():
    from textual.color import Color

    unpin_styles_caches()
    unpin_styles_caches()
    base, background = Color(10, 20, 30), Color(200, 100, 0, 0.5)
    inner, outer = StylesCache().get_inner_outer(base, background)
    assert outer.background == base
    assert inner.background == base + background
