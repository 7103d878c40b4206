"""Text from models and the network is data: make it safe to show on a terminal."""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and the C1 range (0x80-0x9f: 0x9b is a
# one-byte CSI on some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode "control pictures": ESC -> ␛
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}"


def printable(text: str) -> str:
    """Replace control characters (ESC, BEL, CSI, ...) with visible stand-ins.

    Keeps newlines and tabs; `\r\n` becomes `\n`. The stored text is not
    changed: only what is put on the screen.
    """
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _CONTROL.sub(_picture, text)


_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<code>.*?)(?:^(?P=fence)[ \t]*$|\Z)", re.M | re.S
)


def last_code_block(markdown: str) -> str | None:
    """The contents of the last fenced code block (an unclosed final fence counts)."""
    blocks = [m.group("code") for m in _FENCE.finditer(markdown)]
    return blocks[-1].rstrip("\n") if blocks else None


def human_bytes(n: float) -> str:
    """1234567 -> "1.2 MB" (decimal units, as download tools show them)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_count(n: int) -> str:
    """1234567 -> "1.2M", 2000 -> "2k", 950 -> "950": downloads and likes."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.1f}{unit}".replace(".0" + unit, unit)
    return str(n)


def human_duration(seconds: float) -> str:
    """75 -> "1m15s", 3725 -> "1h02m", 9 -> "9s": ETAs, idle times, waits."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
