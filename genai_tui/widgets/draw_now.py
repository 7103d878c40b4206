"""Put a screen's pending changes on the terminal now, not at its next update tick."""

from __future__ import annotations

from textual.screen import Screen


def draw_now(screen: Screen[object]) -> None:
    """Draw `screen`'s pending changes now, for what the user waits to see (the first
    token of a reply).

    Textual draws at most 60 frames a second, on a fixed grid of ticks; after a frame
    that took longer than a tick (the one with the user's message) it waits for the
    tick after next, 17-33 ms. Textual is pinned exactly, so its update callback is
    called here; a test checks the words are on screen before the next tick.
    """
    screen._on_timer_update()
