from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from candlecast.bot import trader
from candlecast.config import validate_config
from candlecast.domain.trades import Trade, exact_difference, exact_sum

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def trade(open_rate: float = 100.0, minutes_ago: float = 0) -> Trade:
    return Trade(
        id=1,
        pair="BTC/USDT",
        is_open=True,
        open_date=NOW - timedelta(minutes=minutes_ago),
        open_rate=open_rate,
        amount=1.0,
        stake_amount=100.0,
        fee_open=0.001,
        fee_close=0.001,
        strategy="S",
        timeframe="5m",
    )


def test_profit_ratio_counts_both_fees():
    t = trade()
    assert abs(t.profit_ratio(100.0) - ((100 * 0.999 - 100 * 1.001) / (100 * 1.001))) < 1e-12


def test_signal_must_be_on_a_recent_last_candle():
    dates = pd.date_range(NOW - timedelta(minutes=15), periods=3, freq="5min", tz="UTC")
    frame = pd.DataFrame({"date": dates, "enter_long": [0, 0, 1]})
    assert trader.last_signal(frame, "enter_long", NOW, "5m")
    assert not trader.last_signal(frame, "enter_long", NOW + timedelta(hours=1), "5m")  # stale feed
    frame.loc[2, "enter_long"] = 0
    assert not trader.last_signal(frame, "enter_long", NOW, "5m")
    assert not trader.last_signal(frame.iloc[:0], "enter_long", NOW, "5m")


def test_stake_fixed_unlimited_and_limits():
    fixed = validate_config({"stake_amount": 100, "max_open_trades": 2})
    assert trader.stake_for_new_trade(fixed, 1000, 0) == 100
    assert trader.stake_for_new_trade(fixed, 1000, 2) is None  # max_open_trades reached
    assert trader.stake_for_new_trade(fixed, 50, 0) is None  # not enough money
    unlimited = validate_config({"stake_amount": "unlimited", "max_open_trades": 4})
    assert trader.stake_for_new_trade(unlimited, 900, 1) == 300


def _signals(
    enter: list[int], exit_: list[int], tags: list[str | None] | None = None
) -> pd.DataFrame:
    n = len(enter)
    dates = pd.date_range(NOW - timedelta(minutes=5 * n), periods=n, freq="5min", tz="UTC")
    frame = pd.DataFrame({"date": dates, "enter_long": enter, "exit_long": exit_})
    if tags is not None:
        frame["enter_tag"] = tags
    return frame


def test_plan_entries_takes_signalled_pairs_without_an_open_trade_in_whitelist_order():
    frames = {
        "A/USDT": _signals([0, 1], [0, 0], [None, "dip"]),
        "B/USDT": _signals([1, 1], [0, 1]),  # entry and exit on the same candle: no entry
        "C/USDT": _signals([0, 1], [0, 0]),
        "D/USDT": _signals([1, 0], [0, 0]),  # the signal is on an older candle
        "E/USDT": _signals([0, 1], [0, 0]),  # already has a trade
    }
    plans = trader.plan_entries(
        ["C/USDT", "A/USDT", "B/USDT", "D/USDT", "E/USDT", "F/USDT"],
        {"E/USDT"},
        frames,
        NOW,
        "5m",
    )
    assert plans == [trader.EntryPlan("C/USDT", None), trader.EntryPlan("A/USDT", "dip")]


def test_order_amounts_add_and_subtract_exactly_in_lot_steps():
    assert 0.00129 - 0.00064 != 0.00065  # the float difference falls below the step
    assert exact_difference(0.00129, [0.00064]) == 0.00065
    assert exact_difference(1.00002, [1.00001]) == 0.00001
    assert exact_sum([0.00064, 0.00065]) == 0.00129
    assert exact_difference(0.3, [0.1, 0.2]) == 0.0
