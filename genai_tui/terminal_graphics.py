"""Which image renderer this terminal can really show, and why.

textual-image asks the terminal (before Textual owns it) whether it speaks Sixel or the
kitty graphics protocol. Its kitty renderer draws with Unicode placeholders, which kitty
supports from 0.28 on: older kitty (Debian 12 ships 0.26.5) answers the protocol query
yet shows a grid of tofu boxes. So we also ask the terminal its name and version
(XTVERSION) and fall back to half-cell where the placeholders would fail.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

KITTY_PLACEHOLDERS = (0, 28, 0)  # the first kitty with Unicode placeholder images
_XTVERSION = re.compile(r"kitty\((\d+)\.(\d+)(?:\.(\d+))?\)")


@dataclass(frozen=True)
class Choice:
    renderer: str  # "sixel", "kitty", "halfcell", "unicode"
    reason: str


_probed: dict[str, str | None] = {}


def probe_terminal() -> None:
    """Ask the terminal for XTVERSION (call before Textual starts, like textual-image's
    own queries); the answer is kept for `choose`. Only on a terminal: a query written
    into a pipe would be data for whoever reads it."""
    if not (os.isatty(0) and os.isatty(1)):
        _probed["xtversion"] = None
        return
    try:
        from textual_image._terminal import capture_terminal_response

        with capture_terminal_response("\x1bP>|", "\x1b\\", timeout=0.1) as response:
            os.write(1, b"\x1b[>q")
        _probed["xtversion"] = response.sequence[4:-2]
    except Exception:  # noqa: BLE001 - no answer (most terminals) or no terminal at all
        _probed["xtversion"] = None


def kitty_version(xtversion: str | None) -> tuple[int, int, int] | None:
    match = _XTVERSION.search(xtversion or "")
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def choose(setting: str, detected: str, xtversion: str | None = None,
           term: str | None = None) -> Choice:  # fmt: skip
    """The renderer for `setting` ("auto" or a name), given what textual-image detected
    ("sixel", "kitty", "halfcell" or "unicode") and the terminal's XTVERSION answer."""
    if setting != "auto":
        return Choice(setting, "set by image.renderer")
    if detected != "kitty":
        reasons = {"sixel": "the terminal answered the Sixel query",
                   "halfcell": "no Sixel or kitty graphics: coloured half cells",
                   "unicode": "not a terminal: text only"}  # fmt: skip
        return Choice(detected, reasons.get(detected, "detected"))
    version = kitty_version(xtversion)
    if version is None and (term or "") == "xterm-kitty":
        return Choice("halfcell", "kitty did not say its version; its image placeholders "
                      "need 0.28 or newer, so half cells are safer")  # fmt: skip
    if version is not None and version < KITTY_PLACEHOLDERS:
        shown = ".".join(map(str, version))
        return Choice("halfcell", f"kitty {shown} cannot show placeholder images (0.28+ "
                      "can): half cells instead")  # fmt: skip
    return Choice("kitty", f"kitty graphics ({xtversion or 'the terminal answered the query'})")


def detected_by_textual_image() -> str:
    """What textual-image's own detection picked (imports it: call where that is fine)."""
    from textual_image import renderable

    names = {"SixelImage": "sixel", "TGPImage": "kitty", "HalfcellImage": "halfcell",
             "UnicodeImage": "unicode"}  # fmt: skip
    return names.get(renderable.Image.__name__, "halfcell")


def current_choice(setting: str) -> Choice:
    """The choice for this terminal, from the answers gathered at start-up."""
    return choose(setting, detected_by_textual_image(), _probed.get("xtversion"),
                  os.environ.get("TERM"))  # fmt: skip
