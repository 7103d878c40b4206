"""Which image renderer this terminal can really show, and why.

We ask the terminal (before Textual owns it; terminal_probe) whether it speaks Sixel or
the kitty graphics protocol, and hand the answers to textual-image when it is imported.
textual-image's kitty renderer draws with Unicode placeholders, which kitty
supports from 0.28 on: older kitty (Debian 12 ships 0.26.5) answers the protocol query
yet shows a grid of tofu boxes. So we also ask the terminal its name and version
(XTVERSION) and fall back to half-cell where the placeholders would fail.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from genai_tui.terminal_probe import Answers, probe

KITTY_PLACEHOLDERS = (0, 28, 0)  # the first kitty with Unicode placeholder images
_XTVERSION = re.compile(r"kitty\((\d+)\.(\d+)(?:\.(\d+))?\)")


@dataclass(frozen=True)
class Choice:
    renderer: str  # "sixel", "kitty", "halfcell", "unicode"
    reason: str


_answers: list[Answers] = []  # the start-up probe's answers, once it has run


def probe_terminal() -> Answers:
    """Ask the terminal what it is and can show (terminal_probe: one round trip), before
    Textual starts; kept for `choose`, and given to textual-image whenever it is imported
    (`seed_textual_image`) so it never asks again."""
    answers = probe()
    _answers[:] = [answers]
    seed_textual_image(answers)
    return answers


def answers() -> Answers | None:
    return _answers[0] if _answers else None


class _Seeded:
    """Runs textual-image's module, then puts the probe's answers in place of its
    queries (which, after Textual owns stdin, would wait and leak their replies). An
    import loader by duck typing: importlib.abc would import importlib.resources."""

    def __init__(self, loader: Any, seed: Callable[[ModuleType], None]):
        self.loader, self.seed = loader, seed

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.seed(module)


class _SeedFinder:
    def __init__(self, seeds: dict[str, Callable[[ModuleType], None]]) -> None:
        self.seeds = seeds

    def find_spec(self, name: str, path: Any, target: Any = None) -> ModuleSpec | None:
        seed = self.seeds.get(name)
        if seed is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Seeded(spec.loader, seed)  # type: ignore[assignment]  # duck-typed
        return spec


def seed_textual_image(answers: Answers) -> None:
    """textual-image asks the terminal on import (Sixel, kitty graphics, cell size): let
    those modules, when first imported, take `answers` instead. Costs no import now."""
    if not answers.terminal or any(sys.modules.get(n) for n in _SEEDED_MODULES):
        return
    width, height = answers.cell or (10, 20)  # textual-image's own fallback (a VT340)

    def cell(module: ModuleType) -> None:
        module.get_cell_size._result = module.CellSize(width, height)

    def sixel(module: ModuleType) -> None:
        setattr(module, "query_terminal_support", lambda: answers.sixel)  # noqa: B010

    def kitty(module: ModuleType) -> None:
        setattr(module, "query_terminal_support", lambda: answers.kitty_graphics)  # noqa: B010

    finder = _SeedFinder(dict(zip(_SEEDED_MODULES, (cell, sixel, kitty), strict=True)))
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SeedFinder)]
    sys.meta_path.insert(0, finder)


_SEEDED_MODULES = ("textual_image._terminal", "textual_image.renderable.sixel",
                   "textual_image.renderable.tgp")  # fmt: skip


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


def detected() -> str:
    """What the terminal can show by the probe's answers; without a probe (tests, a
    pipe), half cells on a terminal and text elsewhere, like textual-image."""
    found = answers()
    if found is not None:
        return found.renderer
    stdout = sys.__stdout__
    return "halfcell" if stdout is not None and stdout.isatty() else "unicode"


def current_choice(setting: str) -> Choice:
    """The choice for this terminal, from the answers gathered at start-up."""
    found = answers()
    return choose(setting, detected(), found.xtversion if found else None,
                  os.environ.get("TERM"))  # fmt: skip
