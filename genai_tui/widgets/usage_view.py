"""Usage: totals, a sparkline of tokens per day, and tables per model and per day."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Label, Sparkline, Static

from genai_tui.engine.chat.usage import UsageOverview, UsageRow, format_cost
from genai_tui.engine.core.text import printable

DAYS = 30  # the plot and the per-day table


money = format_cost


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _cells(r: UsageRow) -> tuple[str, ...]:
    return (str(r.replies), f"{r.prompt_tokens:,}", f"{r.completion_tokens:,}", money(r.cost),
            _num(r.mean_tps, ".1f"), _num(r.mean_ttft_s, ".2f"))  # fmt: skip


class UsageView(VerticalScroll):
    """Shows a UsageOverview handed to `show` (the screen asks the engine for it)."""

    DEFAULT_CSS = """
    UsageView { height: 1fr; padding: 0 1; }
    UsageView .heading { text-style: bold; margin-top: 1; }
    UsageView #usage-totals { color: $text; }
    UsageView Sparkline { height: 3; margin: 0 0; }
    UsageView #plot-axis { color: $text-muted; }
    UsageView DataTable { height: auto; max-height: 12; }
    """

    COLUMNS = ("replies", "prompt", "completion", "cost", "tok/s", "TTFT s")

    def compose(self) -> ComposeResult:
        yield Static("", id="usage-totals")
        yield Label(f"Tokens per day (last {DAYS} days)", classes="heading")
        yield Sparkline([], id="usage-plot")
        yield Static("", id="plot-axis")
        yield Label("Per model", classes="heading")
        yield DataTable(id="usage-models", cursor_type="row", zebra_stripes=True)
        yield Label(f"Per day (last {DAYS} days)", classes="heading")
        yield DataTable(id="usage-days", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#usage-models", DataTable).add_columns("model", "where", *self.COLUMNS)
        self.query_one("#usage-days", DataTable).add_columns("day", *self.COLUMNS)

    def show(self, usage: UsageOverview) -> None:
        totals = usage.totals
        self.query_one("#usage-totals", Static).update(Content(
            f"All time: {totals.replies:,} repl{'y' if totals.replies == 1 else 'ies'} · "
            f"{totals.tokens:,} tokens "
            f"({totals.prompt_tokens:,} in, {totals.completion_tokens:,} out) · "
            f"cost {money(totals.cost)} · mean {_num(totals.mean_tps, '.1f')} tok/s · "
            f"TTFT {_num(totals.mean_ttft_s, '.2f')} s"
        ))  # fmt: skip
        plot = usage.per_day
        self.query_one("#usage-plot", Sparkline).data = [float(t) for _, t in plot]
        peak = max((t for _, t in plot), default=0)
        self.query_one("#plot-axis", Static).update(
            Content(f"{plot[0][0]} … {plot[-1][0]} · peak {peak:,} tokens/day")
        )
        models = self.query_one("#usage-models", DataTable)
        models.clear()
        for r in usage.models:
            models.add_row(Text(printable(r.model or "?")), Text(printable(r.where)), *_cells(r))
        days = self.query_one("#usage-days", DataTable)
        days.clear()
        for r in reversed(usage.days):
            days.add_row(r.day, *_cells(r))
