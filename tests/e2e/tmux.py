"""Drive the installed `genai-tui` in a real terminal: tmux sends the bytes a terminal
sends (F-keys, Ctrl, ESC-prefixed Alt) and `capture-pane` reads what was drawn."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

APP = Path(sys.executable).with_name("genai-tui")


def available() -> bool:
    return shutil.which("tmux") is not None and APP.exists()


class Terminal:
    """One tmux server of our own (-L), one window running the app at `size`."""

    def __init__(self, home: Path, size: tuple[int, int] = (80, 24)) -> None:
        self.socket = f"genai-e2e-{uuid.uuid4().hex[:8]}"
        self.home = home
        self.size = size

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=20)  # fmt: skip

    def start(self, *app_args: str, env: dict[str, str] | None = None) -> Terminal:
        values = {"HOME": str(self.home), "TERM": "xterm-256color", "LANG": "C.UTF-8",
                  "PATH": os.environ.get("PATH", ""), **(env or {})}  # fmt: skip
        command = ["env", "-i", *(f"{k}={v}" for k, v in values.items()), str(APP), *app_args]
        width, height = self.size
        # OSC 52 from the app would fill a tmux paste buffer (`buffers` sees it).
        conf = self.home / f".{self.socket}.conf"
        conf.write_text("set -s set-clipboard on\n")
        self._tmux("-f", str(conf), "new-session", "-d", "-s", "app", "-x", str(width),
                   "-y", str(height), " ".join(_quote(c) for c in command))  # fmt: skip
        self._tmux("set-option", "-t", "app", "remain-on-exit", "on")
        return self

    def keys(self, *keys: str) -> None:
        """tmux key names: "F2", "C-o", "Enter", "Escape" (tmux encodes them)."""
        self._tmux("send-keys", "-t", "app", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "app", "-l", text)

    def bytes(self, data: bytes) -> None:
        """Raw bytes, exactly as a terminal would send them (e.g. b"\\x1bs" for Alt+S)."""
        self._tmux("send-keys", "-t", "app", "-H", *(f"{b:02x}" for b in data))

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "app").stdout

    def title(self) -> str:
        """The pane's title, as an OSC 0/2 from the app would have set it."""
        return self._tmux("display-message", "-p", "-t", "app", "#{pane_title}").stdout.strip()

    def buffers(self) -> list[str]:
        """tmux's paste buffers: what an OSC 52 from the app put on the clipboard."""
        out = self._tmux("list-buffers", "-F", "#{buffer_sample}").stdout
        return [line for line in out.splitlines() if line]

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear in {timeout} s; the screen:\n{shown}")
            time.sleep(0.1)

    def exited(self, timeout: float = 15.0) -> int | None:
        """The app's exit status once it has ended (None if it is still running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self._tmux("display-message", "-p", "-t", "app", "#{pane_dead} #{pane_dead_status}")
            dead, _, status = out.stdout.strip().partition(" ")
            if dead == "1":
                return int(status or 0)
            time.sleep(0.1)
        return None

    def close(self) -> None:
        self._tmux("kill-server")


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"
