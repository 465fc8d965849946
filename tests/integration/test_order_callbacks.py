"""Order callbacks as in freqtrade: ``check_entry_timeout`` / ``check_exit_timeout`` cancel
an open order before ``unfilledtimeout`` does, ``exit_timeout_count`` cancelled exits
turn into an emergency exit, and ``order_filled`` hears of every filled order. A whole dry-run bot (real SQLite) on a scripted market and a
test clock: one price per minute, one cycle per minute."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from candlecast.bot.runtime import Bot
from candlecast.clock import FixedClock
from candlecast.config import validate_config
from candlecast.strategy import IStrategy
from candlecast.testing import ScriptedExchange
from tests.integration.test_dry_orders import PAIR, START, at_step
from tests.integration.test_risk import Scripted
from tests.integration.test_risk import run as run_risk

pytestmark = pytest.mark.anyio


class Patient(IStrategy):
    """Buys 2 % under the price (entries rest); sells 2 % over it on minute 1 (the exit
    rests); gives any open order ``patience`` seconds before cancelling it itself."""

    timeframe = "1m"
    stoploss = -0.5
    minimal_roi = {"0": 10.0}
    process_only_new_candles = False
    entry_discount = 0.98
    exit_on: datetime | None = None
    patience = 120.0

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        self.asked: list[tuple[str, str, str, datetime, datetime]] = []

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def custom_entry_price(self, pair, trade, current_time, proposed_rate, entry_tag, side, **kw):
        return proposed_rate * self.entry_discount

    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        return "leave" if current_time == self.exit_on else None

    def custom_exit_price(
        self, pair, trade, current_time, proposed_rate, current_profit, exit_tag, **kw
    ):
        return proposed_rate * 1.02

    def _timeout(self, name: str, pair: str, trade: Any, order: Any, now: datetime) -> bool:
        self.asked.append((name, pair, order.ft_order_side, order.order_date_utc, now))
        assert trade.pair == pair and order in trade.orders
        return (now - order.order_date_utc).total_seconds() >= self.patience

    def check_entry_timeout(self, pair, trade, order, current_time, **kwargs):
        return self._timeout("entry", pair, trade, order, current_time)

    def check_exit_timeout(self, pair, trade, order, current_time, **kwargs):
        return self._timeout("exit", pair, trade, order, current_time)


async def run(
    strategy: Patient,
    tmp_path: Path,
    prices: list[float],
    notified: list[dict[str, Any]] | None = None,
    **config: Any,
) -> Bot:
    clock = FixedClock(at_step(0))
    raw = {
        "bot_name": "order-callbacks",
        "stake_amount": 98,
        "max_open_trades": 1,
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        # freqtrade's default of 10 minutes would never cancel within these 4 minutes
        "unfilledtimeout": {"entry": 10, "exit": 10, "unit": "minutes"},
        **config,
    }
    exchange = ScriptedExchange(clock, {PAIR: prices}, START)
    bot = Bot(validate_config(raw), strategy, exchange=exchange, clock=clock)
    if notified is not None:
        bot.trading.notify = notified.append
    await bot.open()
    try:
        for _ in prices:
            await bot.cycle()
            clock.advance(60)
    finally:
        await bot.close()
    return bot


async def test_check_entry_timeout_cancels_a_resting_buy_when_it_says_so(tmp_path: Path):
    strategy = Patient()
    bot = await run(strategy, tmp_path, [100, 100, 100, 100])
    # minute 0: a buy at 98 rests; minute 1: asked, 60 s old, kept; minute 2: asked,
    # 120 s old, cancelled (its trade with it) and a new buy placed; minute 3: kept
    assert [(name, side, now) for name, _, side, _, now in strategy.asked] == [
        ("entry", "buy", at_step(1)),
        ("entry", "buy", at_step(2)),
        ("entry", "buy", at_step(3)),
    ]
    assert [placed for _, _, _, placed, _ in strategy.asked] == [
        at_step(0),
        at_step(0),
        at_step(2),
    ]
    (trade,) = bot.repository.trades()
    assert trade.open_date == at_step(2) and bot.stats.entries == 2


async def test_check_exit_timeout_cancels_a_resting_sell_and_the_trade_stays_open(
    tmp_path: Path,
):
    strategy = Patient()
    strategy.entry_discount = 1.0  # the buy fills at once
    strategy.exit_on = at_step(1)
    bot = await run(strategy, tmp_path, [100, 100, 100, 100, 100])
    # minute 1: a sell at 102 rests; asked on minutes 2 and 3; cancelled on minute 3
    assert [(name, side, now) for name, _, side, _, now in strategy.asked] == [
        ("exit", "sell", at_step(2)),
        ("exit", "sell", at_step(3)),
    ]
    (trade,) = bot.repository.trades()
    assert trade.is_open
    sell = [o for o in bot.repository.orders_for(trade.id or 0) if o["side"] == "sell"]
    assert [(o["status"], o["filled"], o["updated_at"]) for o in sell] == [
        ("canceled", 0.0, at_step(3))
    ]


async def test_a_failing_timeout_callback_keeps_the_order(tmp_path: Path):
    class Broken(Patient):
        def check_entry_timeout(self, pair, trade, order, current_time, **kwargs):
            raise RuntimeError("boom")

    bot = await run(Broken(), tmp_path, [100, 100, 100])
    (trade,) = bot.repository.trades()
    (buy,) = bot.repository.orders_for(trade.id or 0)
    assert (trade.open_date, buy["status"]) == (at_step(0), "open")


async def test_exit_timeout_count_cancelled_exits_make_an_emergency_exit(tmp_path: Path):
    class KeepsLeaving(Patient):
        patience = 3600.0

        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kw):
            return "leave" if current_time >= at_step(1) else None

    strategy = KeepsLeaving()
    strategy.entry_discount = 1.0
    timeouts = {"entry": 10, "exit": 1, "unit": "minutes", "exit_timeout_count": 2}
    notified: list[dict[str, Any]] = []
    bot = await run(
        strategy, tmp_path, [100, 100, 100, 100.5, 101], notified, unfilledtimeout=timeouts
    )
    # sells at 102 rest from minutes 1 and 2, each cancelled a minute later; the second
    # cancellation (minute 3) makes a market sell at the bid of minute 3
    trade = bot.repository.trades()[-1]  # the first (minute 4 enters again)
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "emergency_exit",
        100.5,
        at_step(3),
    )
    sells = [o for o in bot.repository.orders_for(trade.id or 0) if o["side"] == "sell"]
    assert [(o["reason"], o["status"], o["created_at"]) for o in sells] == [
        ("leave", "canceled", at_step(1)),
        ("leave", "canceled", at_step(2)),
        ("emergency_exit", "closed", at_step(3)),
    ]
    # subscribers (FreqUI, a fleet page) hear of it as freqtrade's warning event, once
    warnings = [m for m in notified if m["type"] == "warning"]
    assert len(warnings) == 1 and PAIR in warnings[0]["status"]
    assert set(warnings[0]) == {"type", "status"}


async def test_without_exit_timeout_count_cancelled_exits_are_placed_again(tmp_path: Path):
    class KeepsLeaving(Patient):
        patience = 3600.0

        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kw):
            return "leave" if current_time >= at_step(1) else None

    strategy = KeepsLeaving()
    strategy.entry_discount = 1.0
    timeouts = {"entry": 10, "exit": 1, "unit": "minutes"}
    notified: list[dict[str, Any]] = []
    bot = await run(
        strategy, tmp_path, [100, 100, 100, 100.5, 101], notified, unfilledtimeout=timeouts
    )
    (trade,) = bot.repository.trades()
    assert trade.is_open
    sells = [o for o in bot.repository.orders_for(trade.id or 0) if o["side"] == "sell"]
    assert [o["reason"] for o in sells] == ["leave"] * 4


# --- order_filled ---------------------------------------------------------------------------
class Recorder(Scripted):
    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        self.filled: list[tuple[str, float, bool, datetime]] = []

    def order_filled(self, pair, trade, order, current_time, **kwargs):
        assert pair == trade.pair and order in trade.orders
        self.filled.append((order.ft_order_side, order.filled, trade.is_open, current_time))


async def test_order_filled_is_called_once_for_each_filled_order(tmp_path: Path):
    strategy = Recorder()
    await run_risk(strategy, [100, 101, 102], tmp_path, exit_at=[1], until_closed=True)
    assert strategy.filled == [
        ("buy", 1.0, True, at_step(0)),
        ("sell", 1.0, False, at_step(1)),
    ]


async def test_order_filled_sees_a_stop_order_fill_on_the_exchange(tmp_path: Path):
    strategy = Recorder()
    strategy.stoploss = -0.05
    order_types = {
        "entry": "limit",
        "exit": "limit",
        "stoploss": "market",
        "stoploss_on_exchange": True,
    }
    result = await run_risk(
        strategy, [100, 100, 94], tmp_path, until_closed=True, order_types=order_types
    )
    assert result.trade.exit_reason == "stoploss_on_exchange"
    assert strategy.filled == [
        ("buy", 1.0, True, at_step(0)),
        ("stoploss", 1.0, False, at_step(2)),
    ]


async def test_a_failing_order_filled_changes_nothing(tmp_path: Path):
    class Broken(Scripted):
        def order_filled(self, pair, trade, order, current_time, **kwargs):
            raise RuntimeError("boom")

    result = await run_risk(Broken(), [100, 101, 102], tmp_path, exit_at=[1], until_closed=True)
    assert (result.trade.exit_reason, result.trade.close_rate) == ("exit_signal", 101)


# --- adjust_entry_price / adjust_exit_price ---------------------------------------------------
class Adjusts(Patient):
    """``answers``: what adjust_*_price returns on each call (a callable of the proposed
    and the current rate); the calls are recorded."""

    patience = 3600.0

    def __init__(self, answers: list[Any]) -> None:
        super().__init__()
        self.answers = answers
        self.adjusted: list[tuple[str, datetime, float, float]] = []

    def _answer(self, kind: str, current_time, proposed_rate, current_order_rate):
        self.adjusted.append((kind, current_time, proposed_rate, current_order_rate))
        answer = self.answers.pop(0) if self.answers else None
        return answer(proposed_rate, current_order_rate) if callable(answer) else answer

    def adjust_entry_price(
        self,
        trade,
        order,
        pair,
        current_time,
        proposed_rate,
        current_order_rate,
        entry_tag,
        side,
        **kw,
    ):
        assert order.ft_order_side == "buy" and order in trade.orders
        return self._answer("entry", current_time, proposed_rate, current_order_rate)

    def adjust_exit_price(
        self,
        trade,
        order,
        pair,
        current_time,
        proposed_rate,
        current_order_rate,
        entry_tag,
        side,
        **kw,
    ):
        assert order.ft_order_side == "sell"
        return self._answer("exit", current_time, proposed_rate, current_order_rate)


def keep(proposed: float, current: float) -> float:
    return current


async def test_adjust_entry_price_replaces_a_resting_buy_on_the_same_trade(tmp_path: Path):
    strategy = Adjusts([lambda proposed, current: proposed * 0.995, keep])
    bot = await run(strategy, tmp_path, [100, 100, 99, 99])
    # minute 0: a buy at 98 rests; minute 1 (a candle closed since): asked, moved to
    # 99.5; minute 2 (ask 99) fills it there
    assert strategy.adjusted == [("entry", at_step(1), 100.0, 98.0)]
    (trade,) = bot.repository.trades()
    assert (trade.open_date, trade.open_rate, trade.amount) == (
        at_step(0),
        99.5,
        pytest.approx(98 / 99.5),  # the same stake at the new price
    )
    (buy,) = bot.repository.orders_for(trade.id or 0)  # the unfilled first one is gone
    assert (buy["price"], buy["status"], buy["created_at"], buy["updated_at"]) == (
        99.5,
        "closed",
        at_step(1),
        at_step(2),
    )


async def test_adjust_entry_price_returning_none_cancels_the_buy_and_its_trade(tmp_path: Path):
    strategy = Adjusts([None, keep, keep])
    bot = await run(strategy, tmp_path, [100, 100, 100])
    assert [when for _, when, _, _ in strategy.adjusted] == [at_step(1), at_step(2)]
    (trade,) = bot.repository.trades()  # the first went with its buy; minute 1 entered again
    assert trade.open_date == at_step(1)
    (buy,) = bot.repository.orders_for(trade.id or 0)
    assert (buy["price"], buy["status"]) == (98.0, "open")


async def test_adjust_exit_price_moves_a_resting_sell_to_the_bid(tmp_path: Path):
    strategy = Adjusts([lambda proposed, current: proposed])
    strategy.entry_discount = 1.0
    strategy.exit_on = at_step(1)
    bot = await run(strategy, tmp_path, [100, 100, 100.5, 101])
    # minute 1: a sell at 102 rests; minute 2: moved to the bid (100.5), filled at once
    assert strategy.adjusted == [("exit", at_step(2), 100.5, 102.0)]
    trade = bot.repository.trades()[-1]
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == ("leave", 100.5, at_step(2))
    sells = [o for o in bot.repository.orders_for(trade.id or 0) if o["side"] == "sell"]
    assert [(o["price"], o["status"], o["reason"]) for o in sells] == [
        (102.0, "canceled", "leave"),
        (100.5, "closed", "leave"),
    ]
