"""llama.cpp's log: kept in memory (the last 200 lines) instead of printed on the
terminal, so a failed load can say what llama.cpp said."""

from __future__ import annotations

import collections
import ctypes
from typing import Any


class LlamaLog:
    """Keeps llama.cpp's recent log lines (instead of printing them on the terminal)."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.kv_size = ""  # the KV cache's size line of the last load (before the deque drops it)
        self._callback: Any = None

    def install(self, llama_cpp: Any) -> None:
        if self._callback is not None:
            return

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            line = text.decode("utf-8", errors="replace")
            self.lines.append(line)
            if "llama_kv_cache: size" in line:
                self.kv_size = line

        self._callback = callback  # keep a reference: C holds only a pointer
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))

    def text(self) -> str:
        return "".join(self.lines)


LLAMA_LOG = LlamaLog()
