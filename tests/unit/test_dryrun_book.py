"""Dry-run orders fill as a real book would: market orders at once at the touch, limit
orders when the price reaches them. Hand-made 1m candles and a test clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from candlecast.clock import FixedClock
from candlecast.domain.candles import ms_to_dates
from candlecast.exceptions import InvalidOrderError
from candlecast.exchange.base import Ticker
from candlecast.exchange.dryrun import DryRunBook
from candlecast.exchange.simulated import SimulatedExchange

pytestmark = pytest.mark.anyio

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAIR = "BTC/USDT"
SPREAD = 0.5  # the ticker's ask is last + 0.5, its bid last - 0.5


class Candles(SimulatedExchange):
    """1m candles given by hand: ``rows[i]`` = (open, high, low, close) of minute ``i``;
    the ticker's last is the close of the current minute."""

    def __init__(self, clock: FixedClock, rows: Sequence[tuple[float, float, float, float]]):
        super().__init__(clock=clock, fee=0.0)
        self.rows = list(rows)

    def _row(self, t_ms: int) -> tuple[float, float, float, float]:
        i = (t_ms - int(START.timestamp() * 1000)) // 60_000
        return self.rows[min(max(int(i), 0), len(self.rows) - 1)]

    def candles(self, pair: str, timeframe: str, start_ms: int, count: int) -> pd.DataFrame:
        opens = start_ms + 60_000 * np.arange(count, dtype=np.int64)
        values = np.array([self._row(int(t)) for t in opens])
        return pd.DataFrame(
            {
                "date": ms_to_dates(opens),
                "open": values[:, 0],
                "high": values[:, 1],
                "low": values[:, 2],
                "close": values[:, 3],
                "volume": np.full(count, 1.0),
            }
        )

    async def fetch_ticker(self, pair: str) -> Ticker:
        last = self._row(self.now_ms())[3]
        return Ticker(pair, last, last - SPREAD, last + SPREAD)


# minute:     0                       1                      2                      3
ROWS = [(100, 101, 99, 100), (100, 100.5, 97, 99), (99, 104, 98.5, 103), (103, 103, 103, 103)]


def book(clock: FixedClock) -> DryRunBook:
    return DryRunBook(Candles(clock, ROWS), "1m", lambda currency: 1000.0)


def at(minute: int, second: int = 30) -> datetime:
    return START + timedelta(minutes=minute, seconds=second)


async def test_market_orders_fill_at_once_at_the_touch_paying_the_spread():
    clock = FixedClock(at(0))
    exchange = book(clock)
    buy = await exchange.create_order(PAIR, "buy", 2.0, 1.0, order_type="market")
    sell = await exchange.create_order(PAIR, "sell", 2.0, 1e9, order_type="market")
    assert (buy.status, buy.filled, buy.average) == ("closed", 2.0, 100.5)
    assert (sell.status, sell.filled, sell.average) == ("closed", 2.0, 99.5)


async def test_a_limit_order_crossing_the_touch_fills_at_once_at_the_touch():
    clock = FixedClock(at(0))
    exchange = book(clock)
    buy = await exchange.create_order(PAIR, "buy", 1.0, 102.0)  # ask 100.5 <= 102
    assert (buy.status, buy.average) == ("closed", 100.5)


async def test_a_resting_buy_fills_at_its_limit_once_a_later_candle_trades_at_or_below_it():
    clock = FixedClock(at(0))
    exchange = book(clock)
    order = await exchange.create_order(PAIR, "buy", 1.0, 98.0)
    assert (order.status, order.filled) == ("open", 0.0)
    # minute 0's low of 99 happened before the order; at 12:01:30 minute 1 has not closed
    # and the ask (99.5) is above 98
    clock.advance(60)
    assert (await exchange.fetch_order(PAIR, order.id)).status == "open"
    clock.advance(60)  # minute 1 closed with a low of 97
    filled = await exchange.fetch_order(PAIR, order.id)
    assert (filled.status, filled.filled, filled.average) == ("closed", 1.0, 98.0)


async def test_a_resting_sell_fills_when_a_high_reaches_it_and_a_cancelled_one_never_does():
    clock = FixedClock(at(1))
    exchange = book(clock)
    sell = await exchange.create_order(PAIR, "sell", 1.0, 103.5)
    other = await exchange.create_order(PAIR, "sell", 1.0, 105.0)
    clock.advance(60)  # minute 1's high was 100.5
    assert (await exchange.fetch_order(PAIR, sell.id)).status == "open"
    cancelled = await exchange.cancel_order(PAIR, other.id)
    assert (cancelled.status, cancelled.filled) == ("canceled", 0.0)
    clock.advance(60)  # minute 2's high: 104
    filled = await exchange.fetch_order(PAIR, sell.id)
    assert (filled.status, filled.average) == ("closed", 103.5)
    assert (await exchange.fetch_order(PAIR, other.id)).status == "canceled"


@pytest.mark.parametrize("time_in_force", ["IOC", "FOK"])
async def test_ioc_and_fok_limits_that_do_not_cross_are_cancelled_at_once(time_in_force: str):
    clock = FixedClock(at(0))
    exchange = book(clock)
    order = await exchange.create_order(PAIR, "buy", 1.0, 98.0, time_in_force=time_in_force)
    assert (order.status, order.filled) == ("canceled", 0.0)
    crossing = await exchange.create_order(PAIR, "buy", 1.0, 101.0, time_in_force=time_in_force)
    assert (crossing.status, crossing.average) == ("closed", 100.5)


async def test_an_open_order_is_found_again_by_a_new_book_after_a_restart():
    clock = FixedClock(at(0))
    order = await book(clock).create_order(PAIR, "buy", 1.5, 98.0)
    clock.advance(120)
    again = await book(clock).fetch_order(PAIR, order.id)  # a new process, same market
    assert (again.status, again.filled, again.average, again.amount) == (
        "closed",
        1.5,
        98.0,
        1.5,
    )


async def test_orders_that_cannot_exist_are_refused():
    exchange = book(FixedClock(at(0)))
    with pytest.raises(InvalidOrderError):
        await exchange.create_order(PAIR, "buy", 1.0, 100.0, order_type="stop")
    with pytest.raises(InvalidOrderError):
        await exchange.create_order(PAIR, "buy", 0.0, 100.0)
    with pytest.raises(InvalidOrderError):
        await exchange.fetch_order(PAIR, "not-a-dry-run-order")
    assert await exchange.free_balance("USDT") == 1000.0


async def test_an_order_placed_right_after_the_bot_read_the_ticker_meets_that_ticker():
    clock = FixedClock(at(0, 59))
    exchange = book(clock)
    decided = await exchange.fetch_ticker(PAIR)  # ask 100.5
    clock.advance(1)  # minute 1: the ask is 99.5 now
    order = await exchange.create_order(PAIR, "buy", 1.0, decided.ask)
    assert order.average == 100.5
    clock.advance(2)  # later than 2 s after the read: the current ask
    assert (await exchange.create_order(PAIR, "buy", 1.0, 100.5)).average == 99.5


# --- stop orders (stoploss_on_exchange) -------------------------------------------------
async def test_a_stop_order_waits_above_its_stop_and_fills_at_it_once_a_candle_trades_through():
    clock = FixedClock(at(0))
    exchange = book(clock)  # bid 99.5 now; minute 1 trades down to 97
    market = await exchange.create_stop_order(PAIR, 2.0, 98.0, None, "market")
    limit = await exchange.create_stop_order(PAIR, 2.0, 98.0, 97.02, "limit")
    assert (market.status, limit.status, limit.price) == ("open", "open", 97.02)
    clock.advance(60)  # minute 1: bid 98.5, above the stop; its candle is not closed yet
    assert (await exchange.fetch_stop_order(PAIR, market.id)).status == "open"
    clock.advance(60)  # minute 2
    for order in (market, limit):
        filled = await exchange.fetch_stop_order(PAIR, order.id)
        assert (filled.status, filled.filled, filled.average) == ("closed", 2.0, 98.0)


async def test_a_stop_below_the_bid_fills_at_the_bid_when_placed_as_a_real_stop_would_trigger():
    clock = FixedClock(at(0))
    order = await book(clock).create_stop_order(PAIR, 1.0, 99.8, None, "market")
    assert (order.status, order.average) == ("closed", 99.5)


GAP = [(100, 100, 100, 100), (95, 96, 94, 95), (95, 99, 95, 98), (98, 98, 98, 98)]


async def test_a_stop_limit_gapped_past_its_limit_rests_until_the_price_comes_back():
    clock = FixedClock(at(0))
    exchange = DryRunBook(Candles(clock, GAP), "1m", lambda currency: 1000.0)
    limit = await exchange.create_stop_order(PAIR, 1.0, 99.0, 98.01, "limit")
    market = await exchange.create_stop_order(PAIR, 1.0, 99.0, None, "market")
    clock.advance(120)  # minute 2: minute 1 opened at 95, below the limit: triggered, not filled
    assert (await exchange.fetch_stop_order(PAIR, market.id)).average == 95.0
    assert (await exchange.fetch_stop_order(PAIR, limit.id)).status == "open"
    clock.advance(60)  # minute 3: minute 2 traded up to 99: the resting sell at 98.01 fills
    filled = await exchange.fetch_stop_order(PAIR, limit.id)
    assert (filled.status, filled.average) == ("closed", 98.01)


async def test_a_restarted_book_finds_a_stop_order_where_the_market_took_it():
    clock = FixedClock(at(0))
    order = await book(clock).create_stop_order(PAIR, 0.00001, 98.0, 97.02, "limit")
    assert "e~" in order.id  # a tiny amount has no "-" in the id
    clock.advance(120)  # minute 2
    fresh = book(clock)  # as after kill -9: nothing but the id
    again = await fresh.fetch_stop_order(PAIR, order.id)
    assert (again.status, again.filled, again.average) == ("closed", 0.00001, 98.0)


async def test_a_cancelled_stop_order_stays_cancelled_and_a_limit_above_the_stop_is_refused():
    clock = FixedClock(at(0))
    exchange = book(clock)
    order = await exchange.create_stop_order(PAIR, 1.0, 98.0, 97.0, "limit")
    cancelled = await exchange.cancel_stop_order(PAIR, order.id)
    clock.advance(120)  # minute 2
    assert (
        cancelled.status == (await exchange.fetch_stop_order(PAIR, order.id)).status == "canceled"
    )
    with pytest.raises(InvalidOrderError, match="at or below its stop"):
        await exchange.create_stop_order(PAIR, 1.0, 98.0, 98.5, "limit")
