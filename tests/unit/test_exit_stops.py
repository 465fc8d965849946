"""The stop's rules (initial, custom stoploss, trailing), ROI and signal boundaries.

Written from mutation testing (docs/reliability.md, "Mutation testing"): each test pins a
rule of :mod:`candlecast.bot.exits` that the scenario tests in test_exits.py do not check
exactly. Prices use a fee-free trade opened at 100.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from candlecast.bot import exits
from candlecast.bot.exits import ExitCheck, Signals
from candlecast.domain.trades import Trade as TradeValue
from candlecast.persistence import Trade
from candlecast.strategy import IStrategy

OPEN = datetime(2026, 1, 1, 12, tzinfo=UTC)


class Plain(IStrategy):
    stoploss = -0.05
    minimal_roi = {"0": 10.0}

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        return dataframe


class Custom(Plain):
    """custom_stoploss answers ``answer`` and records every call."""

    use_custom_stoploss = True

    def __init__(self, answer: Any = -0.02, config: dict | None = None) -> None:
        super().__init__(config or {})
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        self.calls.append(
            dict(
                pair=pair,
                trade=trade,
                current_time=current_time,
                current_rate=current_rate,
                current_profit=current_profit,
                **kwargs,
            )
        )
        return self.answer


class AfterFill(Custom):
    def custom_stoploss(
        self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs
    ):
        return super().custom_stoploss(
            pair, trade, current_time, current_rate, current_profit, after_fill=after_fill
        )


def trade(open_rate: float = 100.0) -> Trade:
    return Trade(
        TradeValue(
            id=1,
            pair="BTC/USDT",
            is_open=True,
            open_date=OPEN,
            open_rate=open_rate,
            amount=1.0,
            stake_amount=open_rate,
            fee_open=0.0,
            fee_close=0.0,
            strategy="Plain",
            timeframe="5m",
        )
    )


def below(rate: float, ratio: float) -> float:
    """The stop ``ratio`` below ``rate``, computed as the trade computes it."""
    return rate * (1 - abs(ratio))


INITIAL = below(100.0, -0.05)


# ---------------------------------------------------------------------- the initial stop


def test_the_initial_stop_is_the_strategys_stoploss_below_the_open_rate():
    t = trade()
    exits.adjust_stoploss(Plain(), t, 101.0, OPEN, 0.01)
    assert t.stop_loss == INITIAL and t.initial_stop_loss == INITIAL
    assert not t.is_stop_loss_trailing


def test_no_stoploss_means_a_stop_at_zero():
    strategy = Plain()
    strategy.stoploss = None  # type: ignore[assignment]
    t = trade()
    exits.adjust_stoploss(strategy, t, 101.0, OPEN, 0.01)
    assert t.stop_loss == 0.0


def test_the_stop_does_not_move_without_trailing_or_custom_stoploss():
    t = trade()
    exits.adjust_stoploss(Plain(), t, 150.0, OPEN, 0.5)
    assert t.stop_loss == INITIAL


# ---------------------------------------------------------------------- custom stoploss


def test_custom_stoploss_gets_the_trade_time_rate_and_profit_and_moves_the_stop():
    strategy = Custom(-0.02)
    t = trade()
    later = OPEN + timedelta(minutes=7)
    assert exits.should_exit(strategy, t, 110.0, later, Signals()) == []
    [call] = strategy.calls
    assert call == dict(
        pair="BTC/USDT",
        trade=t,
        current_time=later,
        current_rate=110.0,
        current_profit=pytest.approx(0.1),
        after_fill=False,
    )
    assert t.stop_loss == below(110.0, -0.02)
    assert t.is_stop_loss_trailing


@pytest.mark.parametrize("answer", [None, 0, math.nan, math.inf, "x"])
def test_a_custom_stoploss_that_is_not_a_finite_nonzero_number_keeps_the_stop(answer):
    t = trade()
    exits.adjust_stoploss(Custom(answer), t, 110.0, OPEN, 0.1)
    assert t.stop_loss == INITIAL


def test_custom_stoploss_is_not_asked_unless_enabled():
    strategy = Custom(-0.02)
    strategy.use_custom_stoploss = False
    t = trade()
    exits.adjust_stoploss(strategy, t, 110.0, OPEN, 0.1)
    assert strategy.calls == [] and t.stop_loss == INITIAL


@pytest.mark.parametrize("rate", [INITIAL, 90.0])
def test_custom_stoploss_and_trailing_are_not_asked_at_or_below_the_stop(rate: float):
    strategy = Custom(-0.02)
    strategy.trailing_stop = True
    t = trade()
    exits.adjust_stoploss(strategy, t, rate, OPEN, rate / 100 - 1)
    assert strategy.calls == [] and t.stop_loss == INITIAL


def test_with_a_stop_at_zero_custom_stoploss_is_asked_at_any_positive_rate():
    strategy = Custom(-0.5)
    strategy.stoploss = -1.0
    t = trade(open_rate=0.8)
    exits.adjust_stoploss(strategy, t, 0.6, OPEN, -0.25)
    assert len(strategy.calls) == 1 and t.stop_loss == below(0.6, -0.5)


def test_after_a_fill_custom_stoploss_is_asked_only_if_it_declares_after_fill():
    plain = Custom(-0.02)
    t = trade()
    exits.adjust_stoploss(plain, t, 110.0, OPEN, 0.1, after_fill=True)
    assert plain.calls == [] and t.stop_loss is None  # nothing happens, not even the initial stop
    declared = AfterFill(-0.02)
    exits.adjust_stoploss(declared, t, 110.0, OPEN, 0.1, after_fill=True)
    assert [c["after_fill"] for c in declared.calls] == [True]
    assert t.stop_loss == below(110.0, -0.02)


def test_after_a_fill_custom_stoploss_may_lower_the_stop_and_it_stays_there():
    strategy = AfterFill(-0.02)
    t = trade()
    exits.adjust_stoploss(strategy, t, 110.0, OPEN, 0.1)
    assert t.stop_loss == below(110.0, -0.02)
    strategy.answer = -0.20
    exits.adjust_stoploss(strategy, t, 110.0, OPEN, 0.1, after_fill=True)
    assert t.stop_loss == below(110.0, -0.20)  # lowered below the initial stop of 95
    exits.adjust_stoploss(strategy, t, 110.0, OPEN, 0.1)  # a later check does not reset it
    assert t.stop_loss == below(110.0, -0.20)


# ---------------------------------------------------------------------- trailing stop


def trailing(positive: float | None, offset: float, only_offset: bool) -> Plain:
    strategy = Plain()
    strategy.trailing_stop = True
    strategy.trailing_stop_positive = positive
    strategy.trailing_stop_positive_offset = offset
    strategy.trailing_only_offset_is_reached = only_offset
    return strategy


def test_trailing_below_the_offset_uses_the_stoploss_unless_only_offset_is_reached():
    t = trade()
    exits.adjust_stoploss(trailing(0.01, 0.03, False), t, 102.0, OPEN, 0.02)
    assert t.stop_loss == below(102.0, -0.05)
    t = trade()
    exits.adjust_stoploss(trailing(0.01, 0.03, True), t, 102.0, OPEN, 0.02)
    assert t.stop_loss == INITIAL


def test_trailing_at_exactly_the_offset_trails_with_the_stoploss_not_the_positive_one():
    for only_offset in (False, True):
        t = trade()
        exits.adjust_stoploss(trailing(0.01, 0.03, only_offset), t, 103.0, OPEN, 0.03)
        assert t.stop_loss == below(103.0, -0.05), only_offset


def test_trailing_above_the_offset_uses_the_positive_stoploss():
    t = trade()
    exits.adjust_stoploss(trailing(0.01, 0.03, True), t, 104.0, OPEN, 0.04)
    assert t.stop_loss == below(104.0, -0.01)


def test_trailing_without_a_positive_stoploss_trails_with_the_stoploss():
    t = trade()
    exits.adjust_stoploss(trailing(None, 0.0, False), t, 120.0, OPEN, 0.2)
    assert t.stop_loss == below(120.0, -0.05) and t.is_stop_loss_trailing


# ---------------------------------------------------------------------- stoploss exit


def test_a_rate_exactly_at_the_stop_exits_with_reason_stop_loss():
    assert exits.should_exit(Plain(), trade(), INITIAL, OPEN, Signals()) == [
        ExitCheck("stop_loss", "stop_loss")
    ]


# ---------------------------------------------------------------------- ROI


def test_roi_needs_a_profit_strictly_above_the_entry_and_an_entry_that_applies():
    table = {10: 0.1}
    t = trade()
    at_10 = OPEN + timedelta(minutes=10)
    assert exits.roi_entry(table, 9) is None
    assert not exits.roi_reached(t, 0.5, OPEN + timedelta(minutes=9), table)
    assert not exits.roi_reached(t, 0.1, at_10, table)
    assert exits.roi_reached(t, 0.1000001, at_10, table)


def test_a_trade_opened_seconds_in_the_future_has_no_roi_yet():
    # clock skew: freqtrade floors the trade's age (-1 minute), so the 0-minute entry is
    # not reached yet
    t = trade()
    assert not exits.roi_reached(t, 0.5, OPEN - timedelta(seconds=30), {0: 0.1})
    assert exits.roi_reached(t, 0.5, OPEN, {0: 0.1})


def test_roi_applies_with_an_entry_signal_unless_ignore_roi_if_entry_signal():
    strategy = Plain()
    strategy.minimal_roi = {"0": 0.01}
    entering = Signals(enter=True)
    assert exits.should_exit(strategy, trade(), 105.0, OPEN, entering) == [ExitCheck("roi", "roi")]
    strategy.ignore_roi_if_entry_signal = True
    assert exits.should_exit(strategy, trade(), 105.0, OPEN, entering) == []


# ---------------------------------------------------------------------- exit signal and custom exit


def test_exit_profit_only_needs_a_profit_strictly_above_the_offset():
    strategy = Plain()
    strategy.exit_profit_only = True
    strategy.exit_profit_offset = 0.01
    t = trade()
    rate = 101.0
    strategy.exit_profit_offset = t.calc_profit_ratio(rate)
    assert exits.should_exit(strategy, t, rate, OPEN, Signals(exit=True)) == []
    assert exits.should_exit(strategy, trade(), 101.5, OPEN, Signals(exit=True)) == [
        ExitCheck("exit_signal", "exit_signal")
    ]


def test_custom_exit_gets_the_trade_time_rate_and_profit_and_a_failing_one_exits_nothing():
    calls: list[dict[str, Any]] = []

    class Recording(Plain):
        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kw):
            calls.append(
                dict(
                    pair=pair,
                    trade=trade,
                    time=current_time,
                    rate=current_rate,
                    profit=current_profit,
                )
            )
            if current_rate < 100:
                raise RuntimeError("strategy bug")
            return True

    t = trade()
    later = OPEN + timedelta(minutes=3)
    assert exits.should_exit(Recording(), t, 102.0, later, Signals()) == [
        ExitCheck("custom_exit", "custom_exit")
    ]
    assert calls == [
        dict(pair="BTC/USDT", trade=t, time=later, rate=102.0, profit=pytest.approx(0.02))
    ]
    assert exits.should_exit(Recording(), trade(), 99.0, later, Signals()) == []


# ---------------------------------------------------------------------- signals


def test_signals_come_from_the_last_row_while_it_is_at_most_three_timeframes_old():
    frame = pd.DataFrame(
        {
            "date": pd.date_range(OPEN, periods=3, freq="5min", tz="UTC"),
            "enter_long": [0, 0, 1],
            "exit_long": [1, 1, 0],
            "exit_tag": ["a", "b", "c"],
        }
    )
    last = frame["date"].iloc[-1].to_pydatetime()
    assert exits.latest_signals(frame, last + timedelta(minutes=15), "5m") == Signals(
        True, False, "c"
    )
    assert exits.latest_signals(frame, last + timedelta(minutes=15, seconds=1), "5m") == Signals()


@pytest.mark.parametrize("tag", [None, math.nan, "nan", 5])
def test_a_missing_or_non_text_exit_tag_is_none(tag):
    frame = pd.DataFrame(
        {
            "date": [pd.Timestamp(OPEN)],
            "enter_long": [0],
            "exit_long": [1],
            "exit_tag": pd.Series([tag], dtype=object),
        }
    )
    assert exits.latest_signals(frame, OPEN, "5m") == Signals(False, True, None)
