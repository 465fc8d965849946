"""The pure exit decision: which exits apply, in freqtrade's order, on a given rate and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

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


def trade() -> Trade:
    return Trade(
        TradeValue(
            id=1,
            pair="BTC/USDT",
            is_open=True,
            open_date=OPEN,
            open_rate=100.0,
            amount=1.0,
            stake_amount=100.0,
            fee_open=0.0,
            fee_close=0.0,
            strategy="Plain",
            timeframe="5m",
        )
    )


def kinds(checks: list[ExitCheck]) -> list[str]:
    return [c.exit_type for c in checks]


def test_every_exit_that_applies_in_freqtrades_order():
    strategy = Plain()
    strategy.minimal_roi = {"0": -0.10}  # reached at any price above 90
    at_94 = exits.should_exit(strategy, trade(), 94.0, OPEN, Signals(exit=True))
    assert kinds(at_94) == ["exit_signal", "stop_loss", "roi"]
    strategy.trailing_stop = True
    moved = trade()
    exits.should_exit(strategy, moved, 110.0, OPEN, Signals())  # the stop trails to 104.5
    later = exits.should_exit(strategy, moved, 104.0, OPEN, Signals(exit=True))
    assert kinds(later) == ["exit_signal", "roi", "trailing_stop_loss"]


def test_roi_counts_whole_minutes_of_the_trade():
    strategy = Plain()
    strategy.minimal_roi = {"0": 0.10, "1": 0.01}
    almost = OPEN + timedelta(seconds=59.9)
    assert exits.should_exit(strategy, trade(), 105.0, almost, Signals()) == []
    one = OPEN + timedelta(minutes=1)
    assert kinds(exits.should_exit(strategy, trade(), 105.0, one, Signals())) == ["roi"]


def test_exit_signal_needs_no_entry_signal_and_the_profit_only_rule():
    strategy = Plain()
    both = Signals(enter=True, exit=True)
    assert exits.should_exit(strategy, trade(), 99.0, OPEN, both) == []
    strategy.exit_profit_only = True
    assert exits.should_exit(strategy, trade(), 99.0, OPEN, Signals(exit=True)) == []
    tagged = exits.should_exit(strategy, trade(), 101.0, OPEN, Signals(exit=True, exit_tag="t"))
    assert tagged == [ExitCheck("exit_signal", "t")]


def test_custom_exit_true_or_a_long_reason():
    class Custom(Plain):
        answer: object = True

        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
            return self.answer

    strategy = Custom()
    assert exits.should_exit(strategy, trade(), 100.0, OPEN, Signals()) == [
        ExitCheck("custom_exit", "custom_exit")
    ]
    strategy.answer = "x" * 300
    (check,) = exits.should_exit(strategy, trade(), 100.0, OPEN, Signals())
    assert check.reason == "x" * 255
    strategy.use_exit_signal = False  # custom_exit is not asked
    assert exits.should_exit(strategy, trade(), 100.0, OPEN, Signals()) == []


def test_latest_signals_read_the_last_recent_candle_only():
    now = OPEN + timedelta(minutes=10)
    frame = pd.DataFrame(
        {
            "date": pd.date_range(OPEN, periods=2, freq="5min", tz="UTC"),
            "enter_long": [1, 0],
            "exit_long": [0, 1],
            "exit_tag": [None, "tp"],
        }
    )
    assert exits.latest_signals(frame, now, "5m") == Signals(False, True, "tp")
    assert exits.latest_signals(frame, now + timedelta(minutes=15), "5m") == Signals()
