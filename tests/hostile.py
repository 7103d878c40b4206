"""Hostile outside text, and a check of what the app would write to a terminal.

Process names, file names, GGUF metadata, Hub headers and model cards are
chosen by someone else. These payloads would set the clipboard (OSC 52), the
window title (OSC 2) or clear the screen (CSI, also as the one-byte C1 CSI)
if they reached the terminal raw.
"""

from __future__ import annotations

import re

OSC52 = "\x1b]52;c;cHduZWQ=\x07"  # clipboard := "pwned"
TITLE = "\x1b]2;pwned\x07"
CLEAR = "\x1b[2J"
C1 = "\x9b2J\x9d52;c;eA==\x9c"  # C1 CSI, C1 OSC ... ST
PAYLOAD = f"evil{OSC52}{TITLE}{CLEAR}{C1}name"
# Fits the 15 bytes of a Linux process name (comm).
COMM = "\x1b]2;pwn\x07x"

# What Textual itself writes: CSI sequences (colours, cursor moves) and OSC 8 links.
_OURS = re.compile(r"\x1b\[[0-9;:?<>]*[A-Za-z]|\x1b\]8;[^\x07\x1b]*(?:\x1b\\|\x07)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_output(app) -> str:  # noqa: ANN001
    """Exactly what the app's driver writes for a full repaint of the current screen."""
    update = app.screen._compositor.render_update(full=True)
    return update.render_segments(app.console)


def plain(output: str) -> str:
    """The characters of `output`, Textual's own sequences removed."""
    return _OURS.sub("", output)


def injected(output: str) -> list[str]:
    """Control characters in `output` that are not Textual's own sequences."""
    found = [seq for seq in (OSC52, TITLE, CLEAR, "\x1b]52", "\x1b]2;") if seq in output]
    return found + _CONTROL.findall(_OURS.sub("", output).replace("\r\n", "\n"))
