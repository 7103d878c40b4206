"""Usage totals from the store: per model, per day, tokens, cost, mean tok/s and TTFT."""

from __future__ import annotations

import time

import pytest

from genai_tui.engine.core.store import Store
from genai_tui.engine.chat.usage import (
    tokens_per_day,
    usage_by_day,
    usage_by_model,
    usage_report,
    usage_totals,
)

DAY = 86400


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite3")
    yield s
    s.close()


def reply(store, conv, *, model, provider="", pt, ct, tps, ttft, cost=None, ago_days=0):
    msg = store.add_message(conv, "assistant", "x", model=model, provider=provider,
                            prompt_tokens=pt, completion_tokens=ct, tokens_per_s=tps,
                            ttft_s=ttft, cost=cost)  # fmt: skip
    if ago_days:
        with store._tx() as db:
            db.execute("UPDATE messages SET created_at = ? WHERE id = ?",
                       (time.time() - ago_days * DAY, msg.id))  # fmt: skip


def test_empty_store_gives_zeros(store):
    totals = usage_totals(store)
    assert (totals.replies, totals.tokens, totals.cost) == (0, 0, None)
    assert usage_by_model(store) == [] and len(tokens_per_day(store, 7)) == 7


def test_totals_per_model_and_per_day(store):
    conv = store.create_conversation().id
    store.add_message(conv, "user", "not counted", prompt_tokens=999)
    reply(store, conv, model="smol", pt=10, ct=20, tps=30.0, ttft=0.2)
    reply(store, conv, model="smol", pt=10, ct=40, tps=50.0, ttft=0.4, ago_days=2)
    reply(store, conv, model="gpt", provider="openai", pt=100, ct=50, tps=80.0, ttft=1.0,
          cost=0.002)  # fmt: skip
    reply(store, conv, model="gpt", provider="openai", pt=100, ct=50, tps=None, ttft=None,
          cost=0.003, ago_days=40)  # fmt: skip
    by_model = {(r.provider, r.model): r for r in usage_by_model(store)}
    gpt, smol = by_model[("openai", "gpt")], by_model[("", "smol")]
    assert (gpt.replies, gpt.tokens, gpt.cost, gpt.mean_tps) == (2, 300, pytest.approx(0.005), 80.0)
    assert (smol.replies, smol.tokens, smol.cost) == (2, 80, None)
    assert smol.mean_tps == 40.0 and smol.mean_ttft_s == pytest.approx(0.3) and smol.where == "local"
    recent = {(r.provider, r.model): r for r in usage_by_model(store, days=30)}
    assert recent[("openai", "gpt")].replies == 1
    days = usage_by_day(store, days=30)
    assert [d.tokens for d in days] == [50, 180] and days[-1].cost == pytest.approx(0.002)
    plot = tokens_per_day(store, 3)
    assert [t for _, t in plot] == [50, 0, 180]
    totals = usage_totals(store)
    assert totals.replies == 4 and totals.tokens == 380 and totals.cost == pytest.approx(0.005)
    report = usage_report(store, 30)
    assert report["totals"]["tokens"] == 230 and len(report["models"]) == 2
