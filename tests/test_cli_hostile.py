"""Headless output is safe on a terminal: error lines and printed names carry no escapes,
and each stream is judged by its own TTY (stdout piped, stderr on a terminal)."""

from __future__ import annotations

import os
import pty
from pathlib import Path

import pytest
from ggufs import write_gguf
from hostile import OSC52, PAYLOAD, TITLE

from genai_tui.cli import main
from genai_tui.cli.common import for_stream


def test_an_error_line_quoting_outside_text_is_printable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["--data-dir", str(tmp_path / "d"), "--models-dir", str(tmp_path / "m"),
               "chat", "-m", f"model{PAYLOAD}", "Hi"])  # fmt: skip
    _, err = capsys.readouterr()
    assert rc != 0 and err.startswith("genai-tui: error: ")
    assert "model" in err and "evil␛]52" in err
    assert "\x1b" not in err and "\x07" not in err and "\x9b" not in err


def test_a_gguf_whose_metadata_carries_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_gguf(tmp_path / "bad.gguf", architecture=PAYLOAD)
    rc = main(["--data-dir", str(tmp_path / "d"), "chat", "-m", str(bad), "Hi"])
    _, err = capsys.readouterr()
    assert rc != 0
    assert "\x1b" not in err and "\x9b" not in err and "\x07" not in err


def test_each_stream_is_judged_by_its_own_terminal() -> None:
    main_fd, tty_fd = pty.openpty()
    try:
        with os.fdopen(tty_fd, "w", closefd=False) as on_tty, open(os.devnull, "w") as piped:
            assert for_stream(OSC52 + TITLE, on_tty) == "␛]52;c;cHduZWQ=␇␛]2;pwned␇"
            # Into a pipe or file the bytes stay as they are: a script reading printed
            # paths needs the real name.
            assert for_stream(OSC52, piped) == OSC52
    finally:
        os.close(main_fd)
        os.close(tty_fd)
