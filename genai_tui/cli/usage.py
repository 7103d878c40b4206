"""`genai-tui usage`: tokens, cost and speed per model and per day, from the store.

Standard library only at the top, like the rest of cli/: the store is imported when the
command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.chat.usage import UsageRow


def add_parser(sub: Any) -> None:
    usage = sub.add_parser(
        "usage",
        help="tokens, cost and speed per model and per day",
        description="Totals of every reply in the conversation database: per model (local "
        "or remote provider) and per day, with prompt/completion tokens, cost (from the "
        "providers' prices), mean tokens/s and mean time to first token.",
    )
    usage.add_argument(
        "--days", type=int, default=30, metavar="N",
        help="only the last N days, today included (default 30; 0 = all)",
    )  # fmt: skip
    usage.add_argument("--json", action="store_true", help="print one JSON object")


def _cost(value: float | None) -> str:
    from genai_tui.engine.chat.usage import format_cost

    return format_cost(value)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _table(title: str, label: str, rows: list[tuple[str, UsageRow]], out: Any) -> None:
    head = (label, "replies", "prompt", "completion", "cost", "tok/s", "TTFT s")
    lines = [head] + [
        (name, str(r.replies), f"{r.prompt_tokens:,}", f"{r.completion_tokens:,}", _cost(r.cost),
         _num(r.mean_tps, ".1f"), _num(r.mean_ttft_s, ".2f"))  # fmt: skip
        for name, r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    print(title, file=out)
    for line in lines:
        numbers = zip(line[1:], widths[1:], strict=True)
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        print("  " + "  ".join(cells), file=out)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from genai_tui.engine.chat.usage import usage_by_day, usage_by_model, usage_report, usage_totals
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.core.text import printable

    days = args.days or None
    store = Store(settings.db_path)
    try:
        if args.json:
            json.dump(usage_report(store, days), sys.stdout)
            sys.stdout.write("\n")
            return 0
        out = sys.stdout
        totals = usage_totals(store, days)
        span = f"last {days} days" if days else "all time"
        if not totals.replies:
            print(f"No replies recorded ({span}).", file=out)
            return 0
        safe = printable if out.isatty() else (lambda s: s)
        models = [(safe(f"{r.where}/{r.model}" if r.provider else r.model or "?"), r)
                  for r in usage_by_model(store, days)]  # fmt: skip
        _table(f"Per model ({span})", "model", models, out)
        print(file=out)
        _table("Per day", "day", [(r.day, r) for r in usage_by_day(store, days)], out)
        print(file=out)
        print(f"Total: {totals.replies} replies, {totals.tokens:,} tokens "
              f"({totals.prompt_tokens:,} prompt + {totals.completion_tokens:,} completion), "
              f"cost {_cost(totals.cost)}", file=out)  # fmt: skip
        return 0
    finally:
        store.close()
