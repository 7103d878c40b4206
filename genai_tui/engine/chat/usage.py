"""Usage from the store: replies, tokens, cost, mean tokens/s and TTFT per model and per day.

Every assistant reply is one row of `messages` (engine.py saves its provider,
model, tokens, timings and cost, the cost from the provider's prices).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from typing import Any

from genai_tui.engine.core.store import Store


@dataclass(frozen=True)
class UsageRow:
    """Totals for one model (`provider`, `model`) or one `day` (YYYY-MM-DD)."""

    replies: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    mean_tps: float | None
    mean_ttft_s: float | None
    provider: str = ""
    model: str = ""
    day: str = ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def where(self) -> str:
        return self.provider or "local"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"tokens": self.tokens}


def format_cost(value: float | None) -> str:
    """$1,234.56 · $0.1234 · $0.000123 (small costs keep their digits); "-" when unknown."""
    if value is None:
        return "-"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if value >= 0.01 or value == 0 else f"${value:.6f}"


def _since(days: int | None) -> float:
    if not days:
        return 0.0
    start = dt.date.today() - dt.timedelta(days=days - 1)
    return time.mktime(start.timetuple())


def _rows(store: Store, by: str, days: int | None) -> list[UsageRow]:
    fields = UsageRow.__dataclass_fields__
    return [UsageRow(**{k: v for k, v in row.items() if k in fields})
            for row in store.usage_rows(by, _since(days))]  # fmt: skip


def usage_by_model(store: Store, days: int | None = None) -> list[UsageRow]:
    """Per provider and model, most tokens first; `days` limits to the last N days
    (today included)."""
    return _rows(store, "model", days)


def usage_by_day(store: Store, days: int | None = 30) -> list[UsageRow]:
    """Per local day, oldest first; only days with replies."""
    return _rows(store, "day", days)


def usage_totals(store: Store, days: int | None = None) -> UsageRow:
    return _rows(store, "", days)[0]


def tokens_per_day(store: Store, days: int = 14) -> list[tuple[str, int]]:
    """(day, tokens) for each of the last `days` days, today last; days without replies are 0."""
    seen = {row.day: row.tokens for row in usage_by_day(store, days)}
    today = dt.date.today()
    span = [today - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    return [(d.isoformat(), seen.get(d.isoformat(), 0)) for d in span]


@dataclass(frozen=True)
class UsageOverview:
    """What the Settings screen's Usage tab shows: all-time totals, per model, per day
    over `days`, and tokens per day (zeros included) for the plot."""

    totals: UsageRow
    models: list[UsageRow]
    days: list[UsageRow]
    per_day: list[tuple[str, int]]


def usage_overview(store: Store, days: int = 30) -> UsageOverview:
    return UsageOverview(usage_totals(store), usage_by_model(store), usage_by_day(store, days),
                         tokens_per_day(store, days))  # fmt: skip


def usage_report(store: Store, days: int | None = None) -> dict[str, Any]:
    """Everything `genai-tui usage --json` prints."""
    return {
        "days": days,
        "totals": usage_totals(store, days).as_dict(),
        "models": [r.as_dict() for r in usage_by_model(store, days)],
        "by_day": [r.as_dict() for r in usage_by_day(store, days)],
    }
