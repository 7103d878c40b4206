"""Ask the terminal what it is and what pictures it can show, in one round trip.

Before Textual owns the terminal we write four queries at once: XTVERSION (name and
version), a kitty graphics protocol query, the cell size in pixels (only when the
kernel's window size does not say it) and Primary Device Attributes (DA1). A terminal
answers in order and every terminal we know answers DA1, so its answer closes the
exchange: no waiting for a timeout on the questions a terminal ignores (which is what
asking them one by one, 0.1 s each, cost at start-up). DA1's answer also says Sixel
(attribute 4). This is kitty's own advice for its graphics query.

Stdlib only: it runs on a thread while the main thread imports Textual.
"""

from __future__ import annotations

import os
import re
import select
import time
from dataclasses import dataclass

XTVERSION = b"\x1b[>q"
KITTY_GRAPHICS = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
CELL_SIZE = b"\x1b[16t"
DA1 = b"\x1b[c"

_XTVERSION_ANSWER = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_KITTY_ANSWER = re.compile(rb"\x1b_G([^\x1b]*)\x1b\\")
_CELL_ANSWER = re.compile(rb"\x1b\[6;(\d+);(\d+)t")
_DA1_ANSWER = re.compile(rb"\x1b\[\?([\d;]*)c")


@dataclass(frozen=True)
class Answers:
    """What a terminal said (all empty when it is not a terminal or said nothing)."""

    terminal: bool = False  # stdin and stdout are a terminal
    answered: bool = False  # the DA1 answer came back before the deadline
    xtversion: str | None = None  # e.g. "kitty(0.39.1)", "tmux 3.3a", "XTerm(390)"
    sixel: bool = False
    kitty_graphics: bool = False
    cell: tuple[int, int] | None = None  # (width, height) of a cell in pixels

    @property
    def renderer(self) -> str:
        """textual-image's order: Sixel, then kitty graphics, then half cells on any
        terminal, text where there is none."""
        if self.sixel:
            return "sixel"
        if self.kitty_graphics:
            return "kitty"
        return "halfcell" if self.terminal else "unicode"


def window_cell(fd: int) -> tuple[int, int] | None:
    """The cell size from the kernel's window size, when the terminal filled in pixels."""
    import fcntl
    import struct
    import termios

    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    rows, cols, width, height = struct.unpack("HHHH", packed)
    if not (rows and cols and width and height):
        return None
    return width // cols, height // rows


def parse(data: bytes, terminal: bool = True, cell: tuple[int, int] | None = None) -> Answers:
    """The answers found in what the terminal sent back (other bytes are ignored)."""
    xtversion = _XTVERSION_ANSWER.search(data)
    kitty = _KITTY_ANSWER.search(data)
    da1 = _DA1_ANSWER.search(data)
    if cell is None and (size := _CELL_ANSWER.search(data)) is not None:
        height, width = int(size.group(1)), int(size.group(2))
        cell = (width, height) if width and height else None
    return Answers(
        terminal=terminal,
        answered=da1 is not None,
        xtversion=xtversion.group(1).decode("utf-8", "replace") if xtversion else None,
        sixel=da1 is not None and b"4" in da1.group(1).split(b";"),
        kitty_graphics=kitty is not None and kitty.group(1).endswith(b";OK"),
        cell=cell,
    )


def probe(fd_in: int = 0, fd_out: int = 1, timeout: float = 1.0) -> Answers:
    """Ask the terminal on `fd_in`/`fd_out`. Returns at DA1's answer, or after `timeout`
    seconds when there is none (then what came back so far). Only on a terminal: a
    query written into a pipe would be data for whoever reads it."""
    if not (os.isatty(fd_in) and os.isatty(fd_out)):
        return Answers()
    import termios
    import tty

    cell = window_cell(fd_out)
    query = XTVERSION + KITTY_GRAPHICS + (b"" if cell else CELL_SIZE) + DA1
    try:
        mode = termios.tcgetattr(fd_in)
    except termios.error:
        return Answers()
    data = b""
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)  # no echo of the answers, no line buffering
        os.write(fd_out, query)
        deadline = time.monotonic() + timeout
        while _DA1_ANSWER.search(data) is None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            chunk = os.read(fd_in, 4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, mode)
    return parse(data, terminal=True, cell=cell)
