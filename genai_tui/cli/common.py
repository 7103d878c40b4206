"""What every subcommand shares: the error line, table cells and tables.

Standard library only at the top.
"""

from __future__ import annotations

import sys
from typing import TextIO


def fail(message: str, code: int = 1) -> int:
    """Print `genai-tui: error: MESSAGE` on stderr and return the exit code.

    The message may quote a server, a file name or model metadata: it is made
    printable wherever it goes (a log read with `cat` is a terminal too).
    """
    from genai_tui.engine.core.text import printable

    print(f"genai-tui: error: {printable(message)}", file=sys.stderr)
    return code


def for_stream(text: str, stream: TextIO) -> str:
    """`text` as written to `stream`: made printable on a terminal, as it is into a pipe
    (a script reading printed paths needs the real bytes)."""
    from genai_tui.engine.core.text import printable

    return printable(text) if stream.isatty() else text


def cell(text: str) -> str:
    """Text from disk or the network, made safe and single-line for a table cell."""
    from genai_tui.engine.core.text import printable

    return " ".join(printable(text).split())


def table(
    rows: list[tuple[str, ...]], header: tuple[str, ...], right: tuple[int, ...] = ()
) -> str:
    """Columns padded to their widest cell (the last one is not padded)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row[:-1])
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"
