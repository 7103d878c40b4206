"""The image renderer for a terminal: textual-image's detection, checked against what
the terminal really is (kitty older than 0.28 cannot show placeholder images)."""

from __future__ import annotations

import pytest

from genai_tui.terminal_graphics import choose, kitty_version


@pytest.mark.parametrize(
    ("detected", "xtversion", "term", "renderer", "why"),
    [
        ("kitty", "kitty(0.26.5)", "xterm-kitty", "halfcell", "kitty 0.26.5 cannot"),
        ("kitty", "kitty(0.27.1)", "xterm-kitty", "halfcell", "0.28+"),
        ("kitty", "kitty(0.28.0)", "xterm-kitty", "kitty", "kitty(0.28.0)"),
        ("kitty", "kitty(0.39.1)", "xterm-kitty", "kitty", "kitty graphics"),
        ("kitty", None, "xterm-kitty", "halfcell", "did not say its version"),
        ("kitty", "WezTerm 20240203", "xterm-256color", "kitty", "WezTerm"),
        ("sixel", "XTerm(390)", "xterm", "sixel", "Sixel"),
        ("halfcell", "tmux 3.3a", "tmux-256color", "halfcell", "half cells"),
    ],
)
def test_auto_picks_what_the_terminal_can_show(detected, xtversion, term, renderer, why):
    choice = choose("auto", detected, xtversion, term)
    assert choice.renderer == renderer and why in choice.reason


def test_a_renderer_set_by_hand_is_kept_even_on_old_kitty():
    choice = choose("kitty", "kitty", "kitty(0.26.5)", "xterm-kitty")
    assert choice.renderer == "kitty" and "image.renderer" in choice.reason


def test_kitty_versions_are_read_from_the_xtversion_answer():
    assert kitty_version("kitty(0.26.5)") == (0, 26, 5)
    assert kitty_version("kitty(0.40)") == (0, 40, 0)
    assert kitty_version("XTerm(390)") is None and kitty_version(None) is None
