"""Branches in a real terminal (tmux): the keys arrive as the bytes terminals send them
(Shift+Tab as CSI Z, Alt+arrows as CSI 1;3 C/D, plain arrows) and the markers are drawn."""

from __future__ import annotations


def test_regenerate_then_step_between_the_replies(terminal) -> None:
    term = terminal(size=(80, 24))
    term.wait_for("Type a message below and press Enter")
    term.type("Name a fruit.")
    term.keys("Enter")
    term.wait_for("tok/s", timeout=90)
    term.keys("C-r")  # a second reply; the first is kept
    term.wait_for("Assistant  ‹ 2/2 ›", timeout=90)  # drawn once the reply is saved
    term.keys("BTab")  # Shift+Tab from the prompt selects the last message
    term.wait_for("Branch ›")
    term.keys("Left")
    term.wait_for("Assistant  ‹ 1/2 ›")
    term.keys("Escape")  # back to the prompt
    term.keys("M-Right")  # Alt+Right from the prompt: the last place the chat branches
    shown = term.wait_for("Assistant  ‹ 2/2 ›")
    assert "Name a fruit." in shown
    term.keys("C-q")
    assert term.exited() == 0
