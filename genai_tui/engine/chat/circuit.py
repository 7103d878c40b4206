"""A circuit breaker: stop calling a server that keeps failing, try again after a pause."""

from __future__ import annotations

import time
from collections.abc import Callable

from genai_tui.engine.core.errors import ProviderUnavailableError


class CircuitBreaker:
    """After `threshold` failures in a row, refuse calls for `cooldown_s`, then let one through."""

    def __init__(self, threshold: int = 4, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.threshold, self.cooldown_s, self.clock = threshold, cooldown_s, clock
        self.failures = 0
        self.opened_at: float | None = None

    def remaining_s(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_s - self.clock())

    def check(self, name: str) -> None:
        left = self.remaining_s()
        if left > 0:
            raise ProviderUnavailableError(
                f"{name} failed {self.failures} times in a row; not calling it again for "
                f"{left:.0f} s.",
                "Check that the server is running, then test it in Settings (F7, t).",
            )

    def success(self) -> None:
        self.failures, self.opened_at = 0, None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()
