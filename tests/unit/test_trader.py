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
    enter: list[int], exit_: list[int], tags: list[str | float | None] | None = None
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


def test_a_signal_counts_until_its_candle_closed_two_timeframes_ago():
    # a 5m candle opened 15 minutes before now closed 10 minutes (two timeframes) ago
    dates = [NOW - timedelta(hours=2), NOW - timedelta(hours=1), NOW - timedelta(minutes=15)]
    frame = pd.DataFrame({"date": pd.DatetimeIndex(dates), "enter_long": [1, 1, 1]})
    assert trader.last_signal(frame, "enter_long", NOW, "5m")
    assert not trader.last_signal(frame, "enter_long", NOW + timedelta(seconds=1), "5m")
    # the older candles' dates are stale: the last candle's date is the one that counts
    frame.loc[2, "date"] = NOW - timedelta(minutes=5)
    assert trader.last_signal(frame, "enter_long", NOW + timedelta(minutes=10), "5m")


def test_plan_entries_skips_each_refused_pair_and_goes_on_with_the_next():
    frames = {
        "B/USDT": _signals([1, 1], [0, 1]),  # entry and exit on the same candle
        "C/USDT": _signals([0, 1], [0, 0]),
        "D/USDT": _signals([1, 0], [0, 0]),  # the signal is on an older candle
        "E/USDT": _signals([0, 1], [0, 0]),  # already has a trade
    }
    plans = trader.plan_entries(
        ["E/USDT", "F/USDT", "D/USDT", "B/USDT", "C/USDT"], {"E/USDT"}, frames, NOW, "5m"
    )
    assert plans == [trader.EntryPlan("C/USDT", None)]


def test_the_enter_tag_is_the_last_candles_and_only_a_string():
    frames = {
        "A/USDT": _signals([1, 1, 1], [0, 0, 0], ["old", "older", "dip"]),
        "B/USDT": _signals([1, 1], [0, 0], ["dip", float("nan")]),
        "C/USDT": _signals([1, 1], [0, 0], [None, None]),
    }
    plans = trader.plan_entries(["A/USDT", "B/USDT", "C/USDT"], set(), frames, NOW, "5m")
    assert plans == [
        trader.EntryPlan("A/USDT", "dip"),
        trader.EntryPlan("B/USDT", None),
        trader.EntryPlan("C/USDT", None),
    ]


def _closed_ago(seconds: int) -> dict[str, pd.DataFrame]:
    """A 5m frame whose last candle (an entry signal) closed ``seconds`` before NOW."""
    frame = _signals([0, 0, 1], [0, 0, 0])
    frame["date"] -= pd.Timedelta(seconds=seconds)
    return {"A/USDT": frame}


def test_plan_entries_keeps_signals_of_any_recent_candle_by_default():
    assert trader.plan_entries(["A/USDT"], set(), _closed_ago(120), NOW, "5m") == [
        trader.EntryPlan("A/USDT", None)
    ]


def test_plan_entries_skips_a_signal_whose_candle_closed_longer_ago_than_asked():
    def plans(closed_ago: int, limit: int) -> list[str]:
        frames = _closed_ago(closed_ago)
        return [p.pair for p in trader.plan_entries(["A/USDT"], set(), frames, NOW, "5m", limit)]

    assert plans(60, 60) == ["A/USDT"]  # exactly at the limit: kept
    assert plans(60, 59) == []
    assert plans(0, 1) == ["A/USDT"]  # just closed
    assert plans(299, 300) == ["A/USDT"]  # the candle before closed 599 s ago
    frames = {**_closed_ago(600), "B/USDT": _closed_ago(0)["A/USDT"]}
    assert trader.plan_entries(["A/USDT", "B/USDT"], set(), frames, NOW, "5m", 300) == [
        trader.EntryPlan("B/USDT", None)
    ]


def test_stake_with_unlimited_trades_ignores_the_open_count():
    fixed = validate_config({"stake_amount": 100, "max_open_trades": -1})
    assert trader.stake_for_new_trade(fixed, 1000, 50) == 100
    unlimited = validate_config({"stake_amount": "unlimited", "max_open_trades": -1})
    assert trader.stake_for_new_trade(unlimited, 900, 5) == 900  # all of it, one slot
    one = validate_config({"stake_amount": 100, "max_open_trades": 1})
    assert trader.stake_for_new_trade(one, 1000, 1) is None


def test_an_unlimited_stake_shares_the_balance_among_the_free_slots():
    unlimited = validate_config({"stake_amount": "unlimited", "max_open_trades": 4})
    assert trader.stake_for_new_trade(unlimited, 900, 3) == 900  # the last slot
    assert trader.stake_for_new_trade(unlimited, 900, 0) == 225
    assert trader.stake_for_new_trade(unlimited, 0, 0) is None  # nothing left


def test_a_stake_may_use_the_whole_balance_but_not_more():
    def stake(amount: float, available: float) -> float | None:
        config = validate_config({"stake_amount": amount, "max_open_trades": 3})
        return trader.stake_for_new_trade(config, available, 0)

    assert stake(100, 100) == 100
    assert stake(100, 100 - 1e-10) == 100  # float dust of the balance is tolerated
    assert stake(100.5, 100) is None
    assert stake(1e8, 1e8) == 1e8  # a large balance (1e-9 is below its float step)
    assert stake(0.5, 1) == 0.5  # small stakes (a BTC-quoted market) are fine
    assert stake(1e-8, 1) == 1e-8  # the smallest stake
    assert stake(0.9e-8, 1) is None
