"""freqtrade's REST shapes and event messages, built from plain trades and frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from candlecast.api import shapes
from candlecast.api.frames import pair_history
from candlecast.bot import events
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.trades import Trade

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday


def trade(tid: int, pair: str, opened: datetime, profit_abs: float | None, **kw) -> Trade:
    base = Trade(
        id=tid,
        pair=pair,
        is_open=profit_abs is None,
        open_date=opened,
        open_rate=100.0,
        amount=1.0,
        stake_amount=100.0,
        fee_open=0.0,
        fee_close=0.0,
        strategy="S",
        timeframe="5m",
    )
    if profit_abs is None:
        return base
    closed = base.closed(100.0 + profit_abs, opened + timedelta(hours=1), kw.get("reason", "roi"))
    return Trade(**{**closed.__dict__, "enter_tag": kw.get("tag")})


def test_periodic_profit_buckets_closed_trades_by_day_newest_first():
    closed = [
        trade(1, "A/USDT", T0 - timedelta(days=1), 10.0),
        trade(2, "B/USDT", T0, -4.0),
        trade(3, "A/USDT", T0, 6.0),
    ]
    out = shapes.periodic(closed, T0 + timedelta(hours=2), 3, "days", 1000.0, "USDT")
    days = [(d["date"], d["abs_profit"], d["trade_count"]) for d in out["data"]]
    assert days == [("2026-06-01", 2.0, 2), ("2026-05-31", 10.0, 1), ("2026-05-30", 0.0, 0)]
    # each period starts from the balance left by the periods before it
    assert [d["starting_balance"] for d in out["data"]] == [1010.0, 1000.0, 1000.0]


def test_weeks_start_on_monday_and_months_on_the_first():
    closed = [trade(1, "A/USDT", T0 + timedelta(days=6), 1.0)]  # Sunday of the same week
    weeks = shapes.periodic(closed, T0 + timedelta(days=6, hours=2), 2, "weeks", 100.0, "USDT")
    assert [d["date"] for d in weeks["data"]] == ["2026-06-01", "2026-05-25"]
    months = shapes.periodic(closed, T0, 2, "months", 100.0, "USDT")
    assert [d["date"] for d in months["data"]] == ["2026-06-01", "2026-05-01"]


def test_tag_stats_group_and_sort_by_absolute_profit():
    closed = [
        trade(1, "A/USDT", T0, 1.0, tag="x"),
        trade(2, "B/USDT", T0, 5.0, tag="y"),
        trade(3, "A/USDT", T0, 2.0),
    ]
    perf = shapes.tag_stats(closed, "pair", lambda t: t.pair)
    assert [(p["pair"], p["count"], p["profit_abs"]) for p in perf] == [
        ("B/USDT", 1, 5.0),
        ("A/USDT", 2, 3.0),
    ]
    tags = shapes.tag_stats(closed, "enter_tag", lambda t: t.enter_tag)
    assert [(t["enter_tag"], t["count"]) for t in tags] == [("y", 1), ("Other", 1), ("x", 1)]
    assert "profit" not in tags[0]


def test_profit_counts_wins_losses_and_the_worst_drawdown():
    trades = [
        trade(1, "A/USDT", T0, 10.0),
        trade(2, "A/USDT", T0 + timedelta(hours=2), -30.0),
        trade(3, "B/USDT", T0 + timedelta(hours=4), 5.0),
        trade(4, "B/USDT", T0 + timedelta(hours=6), None),
    ]
    out = shapes.profit(trades, {4: (0.01, 1.0)}, T0 + timedelta(days=1), T0, 1000.0)
    assert (out["trade_count"], out["closed_trade_count"]) == (4, 3)
    assert (out["winning_trades"], out["losing_trades"]) == (2, 1)
    assert out["profit_closed_coin"] == -15.0 and out["profit_all_coin"] == -14.0
    assert out["max_drawdown_abs"] == 30.0
    assert out["max_drawdown"] == 30.0 / 1010.0
    assert out["best_pair"] == "B/USDT"


def test_trade_schema_counts_orders_and_reports_open_profit():
    open_trade = trade(7, "ETH/USDT:USDT", T0, None)
    orders = [{"side": "buy", "status": "closed", "amount": 1.0, "filled": 1.0, "price": 100.0}]
    row = shapes.trade_schema(open_trade, "binance", orders, current_rate=110.0)
    assert (row["base_currency"], row["quote_currency"]) == ("ETH", "USDT")
    assert row["timeframe"] == 5 and row["nr_of_successful_entries"] == 1
    assert row["profit_abs"] == 10.0 and row["current_rate"] == 110.0
    assert row["open_timestamp"] == int(T0.timestamp() * 1000)
    assert row["has_open_orders"] is False


def test_pair_history_marks_signals_at_the_close_and_nulls_nan():
    dates = pd.date_range(T0, periods=4, freq="5min", tz="UTC")
    frame = pd.DataFrame(
        {
            "date": dates,
            "close": [1.0, 2.0, 3.0, 4.0],
            "rsi": [np.nan, 50.0, np.inf, 40.0],
            "enter_long": [0, 1, 0, 1],
            "exit_long": [0, 0, 1, 0],
        }
    )
    out = pair_history(frame, "A/USDT", "5m", "S", T0)
    col = {c: i for i, c in enumerate(out["columns"])}
    assert out["enter_long_signals"] == out["buy_signals"] == 2 and out["exit_long_signals"] == 1
    assert [r[col["_enter_long_signal_close"]] for r in out["data"]] == [None, 2.0, None, 4.0]
    assert [r[col["rsi"]] for r in out["data"]] == [None, 50.0, None, 40.0]
    assert [r[col["__date_ts"]] for r in out["data"]] == [int(d.timestamp() * 1000) for d in dates]
    assert out["data_stop_ts"] == int(dates[-1].timestamp() * 1000)
    narrow = pair_history(frame, "A/USDT", "5m", "S", T0, columns=["close"])
    assert "rsi" not in narrow["columns"] and "close" in narrow["columns"]
    assert narrow["all_columns"] == list(frame.columns)


def test_event_messages_are_flat_and_typed_as_freqtrade_sends_them():
    closed = trade(3, "A/USDT", T0, 5.0, reason="roi")
    message = events.exit("exit_fill", closed, "binance", "USDT", 105.0)
    assert message["type"] == "exit_fill" and message["trade_id"] == 3
    assert message["profit_amount"] == 5.0 and message["exit_reason"] == "roi"
    assert message["is_final_exit"] is True and message["gain"] == "profit"
    entry = events.entry("entry", trade(4, "A/USDT", T0, None), "binance", "USDT", 100.0)
    assert entry["type"] == "entry" and entry["direction"] == "Long"
    lock = {"pair": "A/USDT", "id": 1}
    assert events.protection_trigger(lock, "A/USDT")["type"] == "protection_trigger"
    assert events.protection_trigger({**lock, "pair": "*"}, "*")["type"] == (
        "protection_trigger_global"
    )


def test_strategy_messages_are_sent_once_unless_always_send():
    dp = DataProvider("5m")
    sent: list[str] = []
    dp.send_msg("no sink yet")  # nowhere to go: dropped quietly
    dp.message_sink = sent.append
    for _ in range(3):
        dp.send_msg("hello")
        dp.send_msg("again", always_send=True)
    assert sent == ["hello", "again", "again", "again"]
