"""The start-up terminal probe, against a real pseudo-terminal: the test plays the
terminal (reads the queries from the master side, writes answers back), the probe runs
on the slave side as it would in the app."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from genai_tui.terminal_probe import DA1, XTVERSION, Answers, parse, probe


class FakeTerminal:
    """Answers the queries it recognises, as a real terminal would, in order."""

    def __init__(self, answers: dict[bytes, bytes], delay: float = 0.0) -> None:
        self.master, self.slave = os.openpty()
        self.answers, self.delay = answers, delay
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.received += chunk
            for query, answer in self.answers.items():
                if query in chunk:
                    time.sleep(self.delay)
                    os.write(self.master, answer)

    def close(self) -> None:
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def terminal(request):
    made: list[FakeTerminal] = []

    def make(answers: dict[bytes, bytes], delay: float = 0.0) -> FakeTerminal:
        made.append(FakeTerminal(answers, delay))
        return made[-1]

    yield make
    for t in made:
        t.close()


KITTY_OK = b"\x1b_Gi=31;OK\x1b\\"


def test_kitty_answers_everything_in_one_round_trip(terminal):
    term = terminal({
        XTVERSION: b"\x1bP>|kitty(0.39.1)\x1b\\" + KITTY_OK + b"\x1b[6;20;10t" + b"\x1b[?62;c",
    })  # fmt: skip
    started = time.monotonic()
    answers = probe(term.slave, term.slave, timeout=5)
    assert time.monotonic() - started < 1  # closed by DA1, not by the 5 s deadline
    assert answers == Answers(terminal=True, answered=True, xtversion="kitty(0.39.1)",
                              sixel=False, kitty_graphics=True, cell=(10, 20))  # fmt: skip
    assert answers.renderer == "kitty"
    assert term.received.endswith(DA1)  # DA1 goes last: its answer ends the exchange


def test_a_sixel_terminal_is_known_by_its_device_attributes(terminal):
    term = terminal({DA1: b"\x1bP>|XTerm(390)\x1b\\\x1b[?63;1;2;4;6;9;15;22c"})
    answers = probe(term.slave, term.slave, timeout=5)
    assert answers.sixel and answers.renderer == "sixel" and answers.xtversion == "XTerm(390)"


def test_a_terminal_that_answers_only_da1_gets_half_cells_without_waiting(terminal):
    term = terminal({DA1: b"\x1b[?1;2c"})
    started = time.monotonic()
    answers = probe(term.slave, term.slave, timeout=5)
    assert time.monotonic() - started < 1
    assert answers.answered and answers.renderer == "halfcell" and answers.xtversion is None


def test_a_silent_terminal_costs_the_deadline_and_nothing_more(terminal):
    term = terminal({})
    started = time.monotonic()
    answers = probe(term.slave, term.slave, timeout=0.3)
    waited = time.monotonic() - started
    assert 0.25 < waited < 2
    assert not answers.answered and answers.renderer == "halfcell"


def test_a_slow_terminal_over_ssh_is_waited_for(terminal):
    term = terminal({DA1: b"\x1bP>|WezTerm 20240203\x1b\\" + KITTY_OK + b"\x1b[?65;4c"},
                    delay=0.2)  # fmt: skip
    answers = probe(term.slave, term.slave, timeout=2)
    assert answers.answered and answers.sixel and answers.kitty_graphics
    assert answers.xtversion == "WezTerm 20240203"


def test_the_terminal_mode_is_restored(terminal):
    import termios

    term = terminal({DA1: b"\x1b[?1;2c"})
    before = termios.tcgetattr(term.slave)
    probe(term.slave, term.slave, timeout=2)
    assert termios.tcgetattr(term.slave) == before


def test_nothing_is_written_into_a_pipe(tmp_path):
    out = tmp_path / "out"
    with out.open("wb") as sink:
        answers = probe(0, sink.fileno(), timeout=0.2)
    assert answers == Answers() and out.read_bytes() == b""
    assert answers.renderer == "unicode"


def test_parse_ignores_keys_typed_meanwhile_and_a_refused_kitty_query():
    data = b"ab\x1b_Gi=31;ENOTSUPPORTED:no\x1b\\x\x1b[?1;2c"
    answers = parse(data)
    assert not answers.kitty_graphics and answers.answered and not answers.sixel


SEEDED = """
import sys
from genai_tui.terminal_graphics import seed_textual_image
from genai_tui.terminal_probe import Answers
seed_textual_image(Answers(terminal=True, answered=True, sixel={sixel}, kitty_graphics=True,
                           cell=(7, 15)))
# textual-image asks the terminal on import; stdin/stdout are pipes, so a real query
# would raise or time out. Seeded, it takes the answers and asks nothing.
sys.__stdout__.isatty = lambda: True
import textual_image.widget
from textual_image import renderable
from textual_image._terminal import get_cell_size
print(renderable.Image.__module__, get_cell_size())
"""


@pytest.mark.parametrize(
    ("sixel", "image"),
    [(True, "textual_image.renderable.sixel"), (False, "textual_image.renderable.tgp")],
)
def test_textual_image_takes_the_probed_answers_when_imported(sixel, image):
    code = SEEDED.format(sixel=sixel)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == image
    assert "width=7" in result.stdout and "height=15" in result.stdout
