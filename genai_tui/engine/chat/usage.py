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

_COLUMNS = """
    COUNT(*) AS replies,
    COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
    COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
    SUM(cost) AS cost,
    AVG(tokens_per_s) AS mean_tps,
    AVG(ttft_s) AS mean_ttft_s
"""
_DAY = "date(created_at, 'unixepoch', 'localtime')"


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


def _rows(store: Store, sql: str, args: tuple[Any, ...]) -> list[UsageRow]:
    out = []
    for r in store._query(sql, args):
        data = dict(r)
        out.append(UsageRow(**{k: data[k] for k in data if k in UsageRow.__dataclass_fields__}))
    return out


def usage_by_model(store: Store, days: int | None = None) -> list[UsageRow]:
    """Per provider and model, most tokens first; `days` limits to the last N days (today included)."""
    sql = (f"SELECT provider, model, {_COLUMNS} FROM messages"
           " WHERE role = 'assistant' AND created_at >= ?"
           " GROUP BY provider, model ORDER BY completion_tokens + prompt_tokens DESC, model")  # fmt: skip
    return _rows(store, sql, (_since(days),))


def usage_by_day(store: Store, days: int | None = 30) -> list[UsageRow]:
    """Per local day, oldest first; only days with replies."""
    sql = (f"SELECT {_DAY} AS day, {_COLUMNS} FROM messages"
           f" WHERE role = 'assistant' AND created_at >= ? GROUP BY day ORDER BY day")  # fmt: skip
    return _rows(store, sql, (_since(days),))


def usage_totals(store: Store, days: int | None = None) -> UsageRow:
    sql = f"SELECT {_COLUMNS} FROM messages WHERE role = 'assistant' AND created_at >= ?"
    rows = _rows(store, sql, (_since(days),))
    return rows[0]


def tokens_per_day(store: Store, days: int = 14) -> list[tuple[str, int]]:
    """(day, tokens) for each of the last `days` days, today last; days without replies are 0."""
    seen = {row.day: row.tokens for row in usage_by_day(store, days)}
    today = dt.date.today()
    span = [today - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    return [(d.isoformat(), seen.get(d.isoformat(), 0)) for d in span]


def usage_report(store: Store, days: int | None = None) -> dict[str, Any]:
    """Everything `genai-tui usage --json` prints."""
    return {
        "days": days,
        "totals": usage_totals(store, days).as_dict(),
        "models": [r.as_dict() for r in usage_by_model(store, days)],
        "by_day": [r.as_dict() for r in usage_by_day(store, days)],
    }
