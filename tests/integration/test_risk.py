"""Exits, stops, callbacks and position adjustment, as freqtrade: a whole bot (real SQLite)
on a scripted market and a test clock, so each rule must act at a price and on a
candle computed by hand.

The script gives one price per minute; the bot runs one cycle per minute, 30 s into
it. The trade opens at the first price with a stake of 100 and no fees (amount 1.0),
so a profit of 5 % is a price of 105.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from candlecast.bot.runtime import Bot
from candlecast.clock import FixedClock
from candlecast.config import validate_config
from candlecast.domain.trades import Trade as TradeValue
from candlecast.persistence import Trade
from candlecast.strategy import IStrategy, stoploss_from_absolute, stoploss_from_open
from candlecast.testing import ScriptedExchange

pytestmark = pytest.mark.anyio

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAIR = "BTC/USDT"


def at_step(i: int) -> datetime:
    """The time of the bot's cycle on minute ``i`` of the script."""
    return START + timedelta(minutes=i, seconds=30)


class Scripted(IStrategy):
    """Signals set by the test before each cycle, on the last candle only."""

    timeframe = "1m"
    stoploss = -0.5
    minimal_roi = {"0": 10.0}  # out of reach unless a test sets it
    process_only_new_candles = False
    enter = False
    exit = False
    exit_tag: str | None = None

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["enter_long"] = 0
        dataframe.loc[dataframe.index[-1], "enter_long"] = int(self.enter)
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["exit_long"] = 0
        dataframe.loc[dataframe.index[-1], "exit_long"] = int(self.exit)
        if self.exit_tag:
            dataframe["exit_tag"] = None
            dataframe.loc[dataframe.index[-1], "exit_tag"] = self.exit_tag
        return dataframe


@dataclass
class Run:
    trades: list[TradeValue]
    orders: dict[int, list[dict[str, Any]]]
    steps: int  # cycles run before the stop condition

    @property
    def trade(self) -> TradeValue:
        (only,) = self.trades
        return only


async def run(
    strategy: Scripted,
    prices: list[float],
    tmp_path: Path,
    *,
    enter_at: Iterable[int] = (0,),
    exit_at: Iterable[int] = (),
    before: Callable[[int, Bot], None] | None = None,
    until_closed: bool = False,
    **config: Any,
) -> Run:
    """Run one cycle per price; ``enter_at``/``exit_at``: steps whose candle carries the
    signal. ``until_closed``: stop after the cycle that closed the first trade."""
    clock = FixedClock(at_step(0))
    exchange = ScriptedExchange(clock, {PAIR: prices}, START)
    raw = {
        "bot_name": "risk",
        "stake_amount": 100,
        "max_open_trades": 1,
        "dry_run_wallet": 1000,
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        **config,
    }
    bot = Bot(validate_config(raw), strategy, exchange=exchange, clock=clock)
    enters, exits = set(enter_at), set(exit_at)
    steps = 0
    await bot.open()
    try:
        for i in range(len(prices)):
            strategy.enter, strategy.exit = i in enters, i in exits
            if before is not None:
                before(i, bot)
            await bot.cycle()
            steps = i + 1
            if until_closed and bot.repository.count(is_open=False):
                break
            clock.advance(60)
        trades = bot.repository.trades()[::-1]
        orders = {t.id or 0: bot.repository.orders_for(t.id or 0) for t in trades}
    finally:
        await bot.close()
    return Run(trades, orders, steps)


# --- stoploss, trailing stop, ROI -------------------------------------------------------
async def test_stoploss_exits_at_the_first_price_at_or_below_the_stop(tmp_path: Path):
    strategy = Scripted()
    strategy.stoploss = -0.05  # stop at 95
    result = await run(strategy, [100, 97, 95.5, 94.9, 90], tmp_path, until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "stop_loss",
        94.9,
        at_step(3),
    )
    assert trade.stop_loss == pytest.approx(95.0) and not trade.is_stop_loss_trailing


async def test_trailing_stop_follows_the_highest_price_and_exits_on_the_computed_candle(
    tmp_path: Path,
):
    strategy = Scripted()
    strategy.stoploss = -0.05
    strategy.trailing_stop = True
    # stop: 95, 98.8, 104.5 (5 % below the high of 110), kept at 108; 104.6 stays above
    prices = [100, 104, 110, 108, 104.6, 104.4, 99]
    result = await run(strategy, prices, tmp_path, until_closed=True)
    trade = result.trade
    assert trade.exit_reason == "trailing_stop_loss"
    assert (trade.close_rate, trade.close_date) == (104.4, at_step(5))
    assert trade.stop_loss == pytest.approx(110 * 0.95)
    assert trade.initial_stop_loss == pytest.approx(95.0)
    assert trade.max_rate == 110 and trade.min_rate == 100
    assert trade.close_profit == pytest.approx(0.044)


async def test_trailing_stop_positive_starts_only_once_the_offset_is_reached(tmp_path: Path):
    strategy = Scripted()
    strategy.stoploss = -0.10
    strategy.trailing_stop = True
    strategy.trailing_stop_positive = 0.02
    strategy.trailing_stop_positive_offset = 0.05
    strategy.trailing_only_offset_is_reached = True
    # 104: +4 % < offset, the stop stays at 90; 106: +6 %, stop 2 % below = 103.88
    prices = [100, 104, 103, 106, 104, 103.9, 103.8]
    result = await run(strategy, prices, tmp_path, until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "trailing_stop_loss",
        103.8,
        at_step(6),
    )
    assert trade.stop_loss == pytest.approx(106 * 0.98)


async def test_without_only_offset_the_stop_trails_at_stoploss_below_the_offset(
    tmp_path: Path,
):
    strategy = Scripted()
    strategy.stoploss = -0.10
    strategy.trailing_stop = True
    strategy.trailing_stop_positive = 0.02
    strategy.trailing_stop_positive_offset = 0.05
    # 104 (+4 %): the stop trails 10 % below it, 93.6; 93.5 is below
    result = await run(strategy, [100, 104, 93.5], tmp_path, until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "trailing_stop_loss",
        93.5,
        at_step(2),
    )
    assert trade.stop_loss == pytest.approx(93.6)


async def test_roi_needs_profit_strictly_above_the_entry_of_the_trade_age(tmp_path: Path):
    strategy = Scripted()
    strategy.minimal_roi = {"0": 0.10, "2": 0.01}
    # minute 1: +5 % < 10 %; minute 2: exactly +1 % is not above 1 %; minute 3: +1.5 %
    result = await run(strategy, [100, 105, 101, 101.5, 90], tmp_path, until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == ("roi", 101.5, at_step(3))


async def test_stoploss_comes_before_roi_on_the_same_candle(tmp_path: Path):
    strategy = Scripted()
    strategy.stoploss = -0.05
    strategy.minimal_roi = {"0": -0.10}  # any price above 90 reaches this ROI
    result = await run(strategy, [100, 94], tmp_path, until_closed=True)
    assert result.trade.exit_reason == "stop_loss"


# --- exit signal --------------------------------------------------------------------------
async def test_exit_signal_carries_its_exit_tag_as_the_reason(tmp_path: Path):
    strategy = Scripted()
    strategy.exit_tag = "take"
    result = await run(strategy, [100, 99, 98], tmp_path, exit_at=[2], until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == ("take", 98, at_step(2))


async def test_exit_profit_only_waits_for_a_profit_above_the_offset(tmp_path: Path):
    strategy = Scripted()
    strategy.exit_profit_only = True
    strategy.exit_profit_offset = 0.01
    prices = [100, 99, 101, 101.5]  # -1 %, +1 % (not above the offset), +1.5 %
    result = await run(strategy, prices, tmp_path, exit_at=[1, 2, 3], until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "exit_signal",
        101.5,
        at_step(3),
    )


async def test_use_exit_signal_false_ignores_exit_signals(tmp_path: Path):
    strategy = Scripted()
    result = await run(strategy, [100, 99, 98], tmp_path, exit_at=[1, 2], use_exit_signal=False)
    assert result.trade.is_open  # the config overrides the strategy


async def test_an_entry_signal_on_the_same_candle_cancels_the_exit_signal(tmp_path: Path):
    strategy = Scripted()
    result = await run(strategy, [100, 99, 98], tmp_path, enter_at=[0, 1], exit_at=[1, 2])
    trade = result.trade
    assert (trade.exit_reason, trade.close_date) == ("exit_signal", at_step(2))


async def test_ignore_roi_if_entry_signal_holds_while_the_entry_signal_lasts(tmp_path: Path):
    strategy = Scripted()
    strategy.minimal_roi = {"0": 0.01}
    strategy.ignore_roi_if_entry_signal = True
    result = await run(
        strategy, [100, 105, 106, 107], tmp_path, enter_at=[0, 1, 2], until_closed=True
    )
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == ("roi", 107, at_step(3))


# --- callbacks ----------------------------------------------------------------------------
async def test_custom_exit_reason_names_the_exit(tmp_path: Path):
    class AfterTwoMinutes(Scripted):
        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
            if current_time - trade.open_date_utc >= timedelta(minutes=2):
                return "held_too_long"
            return None

    result = await run(AfterTwoMinutes(), [100, 101, 102, 103], tmp_path, until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "held_too_long",
        102,
        at_step(2),
    )


async def test_custom_stoploss_moves_the_stop_and_exits_as_trailing(tmp_path: Path):
    class LockProfit(Scripted):
        use_custom_stoploss = True
        stoploss = -0.10

        def custom_stoploss(
            self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs
        ):
            return -0.02 if current_profit > 0.05 else None

    # 106: +6 %, stop 2 % below 106 = 103.88; 104 stays above it; 103.5 is below
    result = await run(LockProfit(), [100, 103, 106, 104, 103.5], tmp_path, until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "trailing_stop_loss",
        103.5,
        at_step(4),
    )
    assert trade.stop_loss == pytest.approx(103.88)


async def test_a_failing_custom_stoploss_keeps_the_stop_and_the_bot(tmp_path: Path):
    class Broken(Scripted):
        use_custom_stoploss = True
        stoploss = -0.05

        def custom_stoploss(self, *args, **kwargs):
            raise ZeroDivisionError("oops")

    result = await run(Broken(), [100, 104, 94], tmp_path, until_closed=True)
    assert (result.trade.exit_reason, result.trade.close_rate) == ("stop_loss", 94)


async def test_custom_prices_are_kept_within_the_max_distance(tmp_path: Path):
    class Haggle(Scripted):
        minimal_roi = {"0": 0.0}

        def custom_entry_price(
            self, pair, trade, current_time, proposed_rate, entry_tag, side, **kwargs
        ):
            return proposed_rate * 0.99

        def custom_exit_price(
            self, pair, trade, current_time, proposed_rate, current_profit, exit_tag, **kwargs
        ):
            return proposed_rate * 1.5  # too far: 2 % above at most

    # the buy limit at 99 rests until the price reaches it (minute 1, 98: filled at 99);
    # ROI on minute 2 (101) sells at the limit 103.02, which fills when the bid reaches it
    result = await run(Haggle(), [100, 98, 101, 104], tmp_path, until_closed=True)
    trade = result.trade
    assert trade.open_rate == pytest.approx(99.0)
    assert (trade.exit_reason, trade.close_rate) == ("roi", pytest.approx(101 * 1.02))
    assert trade.close_date == at_step(3)


async def test_confirm_callbacks_can_refuse_entries_and_exits(tmp_path: Path):
    asked: list[tuple[str, Any]] = []

    class Picky(Scripted):
        def confirm_trade_entry(
            self,
            pair,
            order_type,
            amount,
            rate,
            time_in_force,
            current_time,
            entry_tag,
            side,
            **kwargs,
        ):
            asked.append(("entry", (pair, order_type, amount, rate, side, current_time)))
            return current_time >= at_step(1)  # refuses the first

        def confirm_trade_exit(
            self,
            pair,
            trade,
            order_type,
            amount,
            rate,
            time_in_force,
            exit_reason,
            current_time,
            **kwargs,
        ):
            asked.append(("exit", (exit_reason, rate, kwargs["sell_reason"])))
            return current_time >= at_step(3)

    result = await run(Picky(), [100, 101, 102, 103], tmp_path, enter_at=[0, 1], exit_at=[2, 3])
    trade = result.trade
    assert trade.open_date == at_step(1) and trade.open_rate == 101
    assert (trade.exit_reason, trade.close_date) == ("exit_signal", at_step(3))
    assert asked == [
        ("entry", (PAIR, "limit", 1.0, 100, "long", at_step(0))),
        ("entry", (PAIR, "limit", 100 / 101, 101, "long", at_step(1))),
        ("exit", ("exit_signal", 102, "exit_signal")),
        ("exit", ("exit_signal", 103, "exit_signal")),
    ]


async def test_custom_stake_amount_sets_the_stake_within_the_wallet(tmp_path: Path):
    class Half(Scripted):
        def custom_stake_amount(
            self,
            pair,
            current_time,
            current_rate,
            proposed_stake,
            min_stake,
            max_stake,
            leverage,
            entry_tag,
            side,
            **kwargs,
        ):
            assert (proposed_stake, max_stake, leverage, side) == (100, 1000, 1.0, "long")
            return proposed_stake / 2

    result = await run(Half(), [100], tmp_path)
    assert (result.trade.stake_amount, result.trade.amount) == (50, 0.5)


async def test_bot_start_once_and_bot_loop_start_each_cycle_with_the_time(tmp_path: Path):
    calls: list[tuple[str, datetime | None]] = []

    class Hooks(Scripted):
        def bot_start(self, **kwargs):
            calls.append(("start", None))

        def bot_loop_start(self, current_time, **kwargs):
            calls.append(("loop", current_time))

    await run(Hooks(), [100, 100, 100], tmp_path, enter_at=[])
    assert calls == [("start", None)] + [("loop", at_step(i)) for i in range(3)]


async def test_expired_entry_candles_are_ignored(tmp_path: Path):
    def late(i: int, bot: Bot) -> None:
        assert isinstance(bot.clock, FixedClock)
        bot.clock.advance(20)  # 50 s into the minute: the candle closed 50 s ago

    result = await run(
        Scripted(), [100], tmp_path, before=late, ignore_buying_expired_candle_after=40
    )
    assert result.trades == []
    result = await run(
        Scripted(), [100], tmp_path / "b", before=late, ignore_buying_expired_candle_after=60
    )
    assert len(result.trades) == 1


# --- position adjustment ------------------------------------------------------------------
class Pyramid(Scripted):
    """Adds 100 each time the trade is 5 % up; takes half out when asked to."""

    position_adjustment_enable = True
    max_entry_position_adjustment = 1
    take_half = False
    seen: list[tuple[int, float]]

    def adjust_trade_position(
        self,
        trade: Trade,
        current_time,
        current_rate,
        current_profit,
        min_stake,
        max_stake,
        current_entry_rate,
        current_exit_rate,
        current_entry_profit,
        current_exit_profit,
        **kwargs,
    ):
        self.seen.append((trade.nr_of_successful_entries, trade.open_rate))
        if self.take_half:
            return -trade.stake_amount / 2, "half"
        return 100 if current_profit > 0.05 else None


async def test_an_added_entry_raises_the_average_open_rate_and_the_stop(tmp_path: Path):
    strategy = Pyramid()
    strategy.seen = []
    strategy.stoploss = -0.05
    # 110: +10 %, adds 100 at 110 (0.909090 more); 120: a third entry is over the limit
    result = await run(strategy, [100, 110, 120], tmp_path)
    trade = result.trade
    average = (1.0 * 100 + (100 / 110) * 110) / (1.0 + 100 / 110)  # = 2200 / 21
    assert trade.open_rate == pytest.approx(average, rel=1e-12)
    assert trade.amount == pytest.approx(1 + 100 / 110, rel=1e-12)
    assert trade.stake_amount == pytest.approx(200)
    # the stop follows the higher average, never down: 5 % below 104.76
    assert trade.stop_loss == pytest.approx(average * 0.95)
    buys = [o for o in result.orders[trade.id or 0] if o["side"] == "buy"]
    assert [(o["price"], o["filled"]) for o in buys] == [
        (100, 1.0),
        (110, pytest.approx(100 / 110)),
    ]
    assert strategy.seen == [(1, 100), (2, pytest.approx(average))]


async def test_a_negative_adjustment_sells_part_and_the_trade_stays_open(tmp_path: Path):
    strategy = Pyramid()
    strategy.seen = []

    def halve_at_1(i: int, bot: Bot) -> None:
        strategy.take_half = i == 1

    result = await run(strategy, [100, 102, 104], tmp_path, before=halve_at_1, exit_at=[2])
    trade = result.trade
    sells = [o for o in result.orders[trade.id or 0] if o["side"] == "sell"]
    assert [(o["price"], o["filled"], o["reason"]) for o in sells] == [
        (102, 0.5, "half"),
        (104, 0.5, "exit_signal"),
    ]
    assert trade.close_rate == pytest.approx(103)  # the average of both sells
    assert trade.close_profit == pytest.approx(0.03)


# --- the Trade object ---------------------------------------------------------------------
async def test_trade_object_queries_and_custom_data_from_callbacks(tmp_path: Path):
    seen: dict[str, Any] = {}

    class Curious(Scripted):
        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
            count = trade.get_custom_data("checks", 0) + 1
            trade.set_custom_data("checks", count)
            seen["open"] = [t.pair for t in Trade.get_trades_proxy(pair=pair, is_open=True)]
            seen["entries"] = trade.nr_of_successful_entries
            seen["filled"] = [o.ft_order_side for o in trade.select_filled_orders("buy")]
            seen["profit"] = trade.calc_profit_ratio(current_rate)
            return "enough" if count == 3 else None

    result = await run(Curious(), [100, 101, 102, 103], tmp_path, until_closed=True)
    assert (result.trade.exit_reason, result.trade.close_date) == ("enough", at_step(3))
    assert seen == {
        "open": [PAIR],
        "entries": 1,
        "filled": ["buy"],
        "profit": pytest.approx(0.03),
    }


async def test_custom_stoploss_with_stoploss_from_open_locks_a_profit(tmp_path: Path):
    class LockThree(Scripted):
        use_custom_stoploss = True
        stoploss = -0.10

        def custom_stoploss(
            self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs
        ):
            if current_profit > 0.06:
                return stoploss_from_open(0.03, current_profit)  # 3 % above the open: 103
            return None

    result = await run(LockThree(), [100, 107, 105, 102.9, 99], tmp_path, until_closed=True)
    trade = result.trade
    assert trade.stop_loss == pytest.approx(103.0)
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "trailing_stop_loss",
        102.9,
        at_step(3),
    )


async def test_custom_stoploss_with_stoploss_from_absolute_puts_the_stop_at_a_price(
    tmp_path: Path,
):
    class AtPrice(Scripted):
        use_custom_stoploss = True
        stoploss = -0.10

        def custom_stoploss(
            self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs
        ):
            return stoploss_from_absolute(101.0, current_rate) if current_rate > 103 else None

    result = await run(AtPrice(), [100, 104, 101.5, 100.5], tmp_path, until_closed=True)
    trade = result.trade
    assert trade.stop_loss == pytest.approx(101.0)
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "trailing_stop_loss",
        100.5,
        at_step(3),
    )


async def test_custom_stoploss_after_fill_sets_the_stop_as_the_entry_fills(tmp_path: Path):
    class TightAtFill(Scripted):
        use_custom_stoploss = True
        stoploss = -0.10

        def custom_stoploss(
            self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs
        ):
            return -0.01 if after_fill else None

    # the stop is 1 % below the fill (99) from the start, not 10 % (90)
    result = await run(TightAtFill(), [100, 98.9, 95], tmp_path, until_closed=True)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "stop_loss",
        98.9,
        at_step(1),
    )
    assert trade.stop_loss == pytest.approx(99.0) and trade.initial_stop_loss == pytest.approx(90)
