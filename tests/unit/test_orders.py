"""Live orders (bot/orders.py): placed, polled, cancelled on timeout or by the strategy,
replaced, settled into trades. A real SQLite file; the exchange is a stand-in for a live
one whose orders fill, part-fill or get cancelled when the test says so (and, in the
last tests, the project's dry-run book on a scripted market)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from candlecast.bot.orders import OrderManager
from candlecast.clock import FixedClock
from candlecast.config.models import UnfilledTimeoutConfig
from candlecast.domain.orders import OrderState
from candlecast.domain.trades import OrderRecord, Trade
from candlecast.exceptions import ExchangeError, InvalidOrderError
from candlecast.exchange.base import Exchange, Ticker
from candlecast.exchange.dryrun import DryRunBook
from candlecast.persistence.repository import TradeRepository
from candlecast.testing import ScriptedExchange

pytestmark = pytest.mark.anyio

PAIR = "ETH/USDT"
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
#: entry orders time out after 10 minutes, exit orders after 5 (distinct, to tell them apart)
TIMEOUTS = UnfilledTimeoutConfig(entry=600, exit=300, unit="seconds")


class HandExchange(Exchange):
    """The order side of a live exchange, run by hand: an order stays as placed until the
    test fills it (``fill``) or something cancels it; ``at_once`` fills the next order as
    it is placed, ``refuse`` makes the next placements fail, ``down`` the fetches of
    some orders."""

    name = "hand"
    can_trade_live = True

    def __init__(self) -> None:
        self.orders: dict[str, OrderState] = {}
        self.placed: list[tuple[str, str, float, float, str, str]] = []
        self.fetched: list[str] = []
        self.cancelled: list[str] = []
        self.at_once: tuple[float, float | None] | None = None  # (filled, average)
        self.refuse: Exception | None = None
        self.down: set[str] = set()

    async def load_markets(self) -> dict[str, dict]:
        return {PAIR: {}}

    async def fetch_ohlcv(self, pair: str, timeframe: str, limit: int) -> pd.DataFrame:
        raise AssertionError("orders never read candles")

    async def fetch_ticker(self, pair: str) -> Ticker:
        raise AssertionError("orders never read tickers")

    def fee(self, pair: str) -> float:
        return 0.001

    async def create_order(
        self,
        pair: str,
        side: str,
        amount: float,
        price: float,
        order_type: str = "limit",
        time_in_force: str = "GTC",
    ) -> OrderState:
        self.placed.append((pair, side, amount, price, order_type, time_in_force))
        if self.refuse is not None:
            raise self.refuse
        order = OrderState(f"x{len(self.placed)}", pair, side, "open", amount, 0.0, price)
        self.orders[order.id] = order
        if self.at_once is not None:
            filled, average = self.at_once
            self.at_once = None
            self.fill(order.id, filled, average)
        return self.orders[order.id]

    async def fetch_order(self, pair: str, order_id: str) -> OrderState:
        self.fetched.append(order_id)
        if order_id in self.down:
            raise ExchangeError(f"{pair}: order {order_id} could not be read")
        return self._order(pair, order_id)

    async def cancel_order(self, pair: str, order_id: str) -> OrderState:
        self.cancelled.append(order_id)
        order = self._order(pair, order_id)
        if order.status == "open":
            self.orders[order_id] = replace(order, status="canceled")
        return self.orders[order_id]

    def _order(self, pair: str, order_id: str) -> OrderState:
        order = self.orders[order_id]
        if order.pair != pair:  # exchanges look orders up by market
            raise ExchangeError(f"{pair}: no order {order_id}")
        return order

    def fill(
        self, order_id: str, filled: float, average: float | None = None, final: bool = True
    ) -> None:
        """Fill ``filled`` of the order; ``final``: it is then closed (whole) or cancelled."""
        order = self.orders[order_id]
        status = "open"
        if final:
            status = "closed" if filled >= order.amount else "canceled"
        self.orders[order_id] = replace(order, status=status, filled=filled, average=average)

    def last_id(self) -> str:
        return f"x{len(self.placed)}"


class Calls:
    """The manager's callbacks, recording what they were told."""

    def __init__(self, orders: OrderManager) -> None:
        self.placed: list[Trade] = []
        self.entry_fills: list[Trade] = []
        self.order_fills: list[OrderRecord] = []
        self.cancels: list[tuple[OrderRecord, OrderState]] = []
        orders.on_entry_placed = self.placed.append
        orders.on_entry_fill = self._entry_fill
        orders.on_order_filled = self._order_filled
        orders.on_cancel = lambda record, order: self.cancels.append((record, order))

    async def _entry_fill(self, trade: Trade) -> None:
        self.entry_fills.append(trade)

    async def _order_filled(self, record: OrderRecord) -> None:
        self.order_fills.append(record)


class Setup:
    def __init__(self, tmp_path: Path, poll_interval: float = 0.0) -> None:
        self.clock = FixedClock(START, manual_intervals=True)
        self.exchange = HandExchange()
        self.repo = TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}")
        self.orders = OrderManager(
            self.exchange, self.repo, TIMEOUTS, self.clock, poll_interval=poll_interval
        )
        self.calls = Calls(self.orders)

    async def poll(self) -> list[Trade]:
        self.clock.advance(1)
        return await self.orders.update()

    async def open_trade(self, amount: float = 1.0, price: float = 100.0) -> Trade:
        """A trade whose buy filled whole at ``price``."""
        self.exchange.at_once = (amount, price)
        trade = await self.orders.enter(template(amount), price)
        (stored,) = self.repo.open_trades()
        assert stored.id == trade.id and stored.amount == amount
        return stored


@pytest.fixture
def setup(tmp_path: Path):
    s = Setup(tmp_path)
    yield s
    s.repo.close()


def template(amount: float = 1.0, fee: float = 0.001) -> Trade:
    return Trade(
        id=None,
        pair=PAIR,
        is_open=True,
        open_date=START,
        open_rate=0.0,
        amount=amount,
        stake_amount=0.0,
        fee_open=fee,
        fee_close=fee,
        strategy="S",
        timeframe="5m",
    )


# --- entries ---------------------------------------------------------------------------


async def test_an_entry_places_a_buy_and_stores_its_trade_before_any_fill(setup: Setup):
    trade = await setup.orders.enter(template(0.5, fee=0.002), 2000.0, "market", "IOC")
    assert setup.exchange.placed == [(PAIR, "buy", 0.5, 2000.0, "market", "IOC")]
    assert trade.id is not None and trade.is_open
    assert (trade.open_rate, trade.amount) == (2000.0, 0.5)
    assert trade.stake_amount == pytest.approx(0.5 * 2000.0 * 1.002, rel=1e-12)
    assert setup.repo.open_trades() == [trade]
    (record,) = setup.repo.open_orders()
    assert (record.trade_id, record.side, record.order_id) == (trade.id, "buy", "x1")
    assert setup.orders.pending_trades == {trade.id}
    assert setup.calls.placed == [trade]
    assert setup.calls.entry_fills == [] and setup.calls.order_fills == []


async def test_an_entry_takes_the_amount_and_price_the_exchange_placed(setup: Setup):
    class Rounding(HandExchange):
        async def create_order(
            self,
            pair: str,
            side: str,
            amount: float,
            price: float,
            order_type: str = "limit",
            time_in_force: str = "GTC",
        ) -> OrderState:
            # the market's precision: 3 decimals of amount, whole price
            return await super().create_order(pair, side, 0.123, 1999.0, order_type, time_in_force)

    setup.orders.exchange = setup.exchange = Rounding()
    trade = await setup.orders.enter(template(0.12345), 1999.4)
    assert (trade.open_rate, trade.amount) == (1999.0, 0.123)
    assert trade.stake_amount == pytest.approx(0.123 * 1999.0 * 1.001, rel=1e-12)


async def test_an_entry_filled_as_it_is_placed_is_settled_at_once(setup: Setup):
    setup.exchange.at_once = (0.5, 1990.0)
    trade = await setup.orders.enter(template(0.5), 2000.0)
    assert setup.orders.pending_trades == set()
    assert setup.repo.open_orders() == []
    (stored,) = setup.repo.open_trades()
    assert (stored.open_rate, stored.amount) == (1990.0, 0.5)
    assert [t.id for t in setup.calls.entry_fills] == [trade.id]
    assert setup.calls.entry_fills[0].open_rate == 1990.0
    assert [r.order_id for r in setup.calls.order_fills] == ["x1"]


async def test_a_resting_entry_takes_its_fill_when_a_poll_finds_it_final(setup: Setup):
    trade = await setup.orders.enter(template(0.5), 2000.0)
    assert await setup.poll() == []
    assert setup.exchange.fetched == ["x1"] and setup.calls.entry_fills == []
    setup.exchange.fill("x1", 0.2, 1995.0, final=False)  # a part, still open
    assert await setup.poll() == []
    assert setup.orders.pending_trades == {trade.id}  # no new order for it yet
    assert setup.calls.entry_fills == [] and setup.calls.order_fills == []
    setup.exchange.fill("x1", 0.3, 1996.0)  # then cancelled with 0.3 filled
    assert await setup.poll() == []  # an entry closes nothing
    (buy,) = setup.repo.orders_for(trade.id or 0)
    assert (buy["status"], buy["filled"], buy["updated_at"]) == ("canceled", 0.3, setup.clock.now())
    (stored,) = setup.repo.open_trades()
    assert (stored.amount, stored.open_rate) == (0.3, 1996.0)
    assert setup.orders.pending_trades == set()
    assert [t.amount for t in setup.calls.entry_fills] == [0.3]
    assert [r.order_id for r in setup.calls.order_fills] == ["x1"]


async def test_an_entry_cancelled_without_a_fill_deletes_its_trade(setup: Setup):
    await setup.orders.enter(template(0.5), 2000.0)
    await setup.exchange.cancel_order(PAIR, "x1")
    assert await setup.poll() == []
    assert setup.repo.trades() == []
    assert setup.orders.pending_trades == set()
    assert setup.calls.entry_fills == [] and setup.calls.order_fills == []


async def test_an_added_entry_adds_its_fill_to_the_trade_exactly(setup: Setup):
    trade = await setup.open_trade(0.00064, 100.0)
    await setup.orders.add_entry(trade, 0.00065, 110.0, "dca", "market", "FOK")
    assert setup.exchange.placed[-1] == (PAIR, "buy", 0.00065, 110.0, "market", "FOK")
    assert setup.orders.pending_trades == {trade.id}
    (record,) = setup.repo.open_orders()
    assert record.reason == "dca" and record.trade_id == trade.id
    setup.exchange.fill("x2", 0.00065, 110.0)
    await setup.poll()
    (stored,) = setup.repo.open_trades()
    assert stored.amount == 0.00129  # not 0.0012900000000000001
    assert stored.open_rate == pytest.approx((0.064 + 0.0715) / 0.00129, rel=1e-12)
    assert setup.orders.pending_trades == set()
    assert [t.amount for t in setup.calls.entry_fills] == [0.00064, 0.00129]


async def test_an_added_entry_filled_as_it_is_placed_is_settled_at_once(setup: Setup):
    trade = await setup.open_trade(1.0, 100.0)
    setup.exchange.at_once = (1.0, 90.0)
    await setup.orders.add_entry(trade, 1.0, 90.0, None)
    assert setup.exchange.placed[-1] == (PAIR, "buy", 1.0, 90.0, "limit", "GTC")
    (stored,) = setup.repo.open_trades()
    assert (stored.amount, stored.open_rate) == (2.0, 95.0)
    assert setup.orders.pending_trades == set()
    assert [t.amount for t in setup.calls.entry_fills] == [1.0, 2.0]


async def test_an_added_entry_cancelled_unfilled_leaves_the_trade_and_tells_no_fill(
    setup: Setup,
):
    trade = await setup.open_trade(1.0, 100.0)
    await setup.orders.add_entry(trade, 1.0, 90.0, None)
    await setup.exchange.cancel_order(PAIR, "x2")
    await setup.poll()
    (stored,) = setup.repo.open_trades()
    assert (stored.amount, stored.open_rate) == (1.0, 100.0)
    assert setup.orders.pending_trades == set()
    assert len(setup.calls.entry_fills) == 1 and len(setup.calls.order_fills) == 1


# --- exits -----------------------------------------------------------------------------


async def test_an_exit_places_a_sell_for_the_whole_amount_and_waits(setup: Setup):
    trade = await setup.open_trade(0.5, 100.0)
    assert (
        await setup.orders.exit(trade, 110.0, "roi", order_type="market", time_in_force="IOC")
        is None
    )
    assert setup.exchange.placed[-1] == (PAIR, "sell", 0.5, 110.0, "market", "IOC")
    (record,) = setup.repo.open_orders()
    assert (record.side, record.reason, record.amount) == ("sell", "roi", 0.5)
    assert setup.orders.pending_trades == {trade.id}
    assert setup.repo.open_trades()[0].is_open


async def test_an_exit_filled_as_it_is_placed_closes_the_trade_at_once(setup: Setup):
    trade = await setup.open_trade(0.5, 100.0)
    setup.exchange.at_once = (0.5, 111.0)
    closed = await setup.orders.exit(trade, 110.0, "roi")
    assert closed is not None and not closed.is_open
    assert (closed.id, closed.close_rate, closed.exit_reason) == (trade.id, 111.0, "roi")
    assert setup.repo.open_trades() == [] and setup.orders.pending_trades == set()
    assert [r.order_id for r in setup.calls.order_fills] == ["x1", "x2"]


async def test_a_sell_filled_on_a_poll_closes_the_trade_and_is_returned(setup: Setup):
    trade = await setup.open_trade(0.5, 100.0)
    await setup.orders.exit(trade, 110.0, "exit_signal")
    setup.exchange.fill("x2", 0.5, 110.5)
    (closed,) = await setup.poll()
    assert (closed.id, closed.close_rate, closed.exit_reason) == (trade.id, 110.5, "exit_signal")
    assert closed.close_date == setup.clock.now()
    assert closed.close_profit == pytest.approx(
        (0.5 * 110.5 * 0.999 - 0.5 * 100.0 * 1.001) / (0.5 * 100.0 * 1.001), rel=1e-12
    )
    assert setup.orders.pending_trades == set()
    assert [r.order_id for r in setup.calls.order_fills] == ["x1", "x2"]


async def test_a_sell_cancelled_with_a_part_filled_leaves_the_rest_and_the_next_sells_it_exactly(
    setup: Setup,
):
    trade = await setup.open_trade(0.00129, 100.0)
    await setup.orders.exit(trade, 120.0, "roi")
    setup.exchange.fill("x2", 0.00064, 120.0)  # cancelled after a part
    assert await setup.poll() == []
    (still,) = setup.repo.open_trades()
    assert still.amount == 0.00129
    assert setup.orders.pending_trades == set()
    assert [r.order_id for r in setup.calls.order_fills] == ["x1", "x2"]
    await setup.orders.exit(still, 118.0, "roi")
    # 0.00129 - 0.00064 in floats is 0.0006500000000000001: one ulp over the lot step
    assert setup.exchange.placed[-1][2] == 0.00065
    setup.exchange.fill("x3", 0.00065, 118.0)
    (closed,) = await setup.poll()
    assert closed.amount == 0.00129
    assert closed.close_rate == pytest.approx((0.00064 * 120 + 0.00065 * 118) / 0.00129, rel=1e-12)


async def test_a_sell_part_filled_and_still_open_keeps_its_trade_pending(setup: Setup):
    trade = await setup.open_trade(1.0, 100.0)
    await setup.orders.exit(trade, 110.0, "roi")
    setup.exchange.fill("x2", 0.4, 110.0, final=False)
    assert await setup.poll() == []
    assert setup.orders.pending_trades == {trade.id}
    assert [r.order_id for r in setup.calls.order_fills] == ["x1"]  # the buy only
    assert setup.repo.orders_for(trade.id or 0)[-1]["filled"] == 0.4
    assert setup.repo.open_trades()[0].is_open


async def test_a_sell_cancelled_unfilled_tells_no_fill_and_frees_the_trade(setup: Setup):
    trade = await setup.open_trade(0.5, 100.0)
    await setup.orders.exit(trade, 110.0, "roi")
    await setup.exchange.cancel_order(PAIR, "x2")
    assert await setup.poll() == []
    assert setup.orders.pending_trades == set()
    assert [r.order_id for r in setup.calls.order_fills] == ["x1"]
    assert setup.repo.open_trades()[0].amount == 0.5


async def test_a_partial_exit_sells_the_amount_asked_at_most_what_is_held(setup: Setup):
    trade = await setup.open_trade(0.00129, 100.0)
    await setup.orders.exit(trade, 110.0, "partial", amount=0.00064)
    assert setup.exchange.placed[-1][1:3] == ("sell", 0.00064)
    setup.exchange.fill("x2", 0.00064, 110.0)
    assert await setup.poll() == []  # a part sold: the trade stays open
    await setup.orders.exit(trade, 110.0, "partial", amount=1.0)
    assert setup.exchange.placed[-1][1:3] == ("sell", 0.00065)


async def test_a_rest_below_the_market_minimum_closes_the_trade_on_its_sold_part(setup: Setup):
    trade = await setup.open_trade(1.0, 100.0)
    await setup.orders.exit(trade, 110.0, "roi")
    setup.exchange.fill("x2", 0.99, 110.0)  # cancelled, 0.01 left
    await setup.poll()
    setup.exchange.refuse = InvalidOrderError(f"{PAIR}: amount 0.01 is below the minimum 0.1")
    closed = await setup.orders.exit(trade, 105.0, "roi")
    assert setup.exchange.placed[-1][1:3] == ("sell", 0.01)
    assert closed is not None and not closed.is_open
    assert (closed.amount, closed.close_rate, closed.exit_reason) == (0.99, 110.0, "roi")
    assert closed.close_date == setup.clock.now()
    assert setup.repo.open_trades() == []
    assert setup.orders.pending_trades == set()


async def test_a_refused_sell_is_raised_when_nothing_was_sold_yet(setup: Setup):
    trade = await setup.open_trade(1.0, 100.0)
    setup.exchange.refuse = InvalidOrderError(f"{PAIR}: amount too small")
    with pytest.raises(InvalidOrderError):
        await setup.orders.exit(trade, 110.0, "roi")
    assert setup.repo.open_trades()[0].is_open


async def test_a_refused_partial_exit_is_raised_even_after_a_part_was_sold(setup: Setup):
    trade = await setup.open_trade(1.0, 100.0)
    await setup.orders.exit(trade, 110.0, "roi")
    setup.exchange.fill("x2", 0.5, 110.0)
    await setup.poll()
    setup.exchange.refuse = InvalidOrderError(f"{PAIR}: amount too small")
    with pytest.raises(InvalidOrderError):
        await setup.orders.exit(trade, 110.0, "partial", amount=0.01)
    assert setup.repo.open_trades()[0].is_open


# --- polling, timeouts, the strategy's say -----------------------------------------------


async def test_open_orders_are_polled_at_most_every_poll_interval(tmp_path: Path):
    s = Setup(tmp_path, poll_interval=3.0)
    await s.orders.enter(template(), 100.0)
    await s.orders.update()
    assert s.exchange.fetched == ["x1"]
    s.clock.advance(2.5)
    assert await s.orders.update() == []
    assert s.exchange.fetched == ["x1"]
    s.clock.advance(0.5)  # exactly the interval
    await s.orders.update()
    assert s.exchange.fetched == ["x1", "x1"]
    s.repo.close()


async def test_the_default_poll_interval_is_two_seconds(tmp_path: Path):
    clock = FixedClock(START, manual_intervals=True)
    exchange = HandExchange()
    repo = TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}")
    orders = OrderManager(exchange, repo, TIMEOUTS, clock)
    await orders.enter(template(), 100.0)
    await orders.update()  # the first poll is never held back
    clock.advance(1.5)
    await orders.update()
    assert exchange.fetched == ["x1"]
    clock.advance(0.5)
    await orders.update()
    assert exchange.fetched == ["x1", "x1"]
    repo.close()


async def test_a_restarted_manager_knows_the_orders_left_open(setup: Setup):
    trade = await setup.orders.enter(template(), 100.0)
    again = OrderManager(setup.exchange, setup.repo, TIMEOUTS, setup.clock)
    assert again.pending_trades == {trade.id}
    again.pending_trades.clear()  # a copy
    assert again.pending_trades == {trade.id}


async def test_an_order_unreadable_on_the_exchange_does_not_hold_up_the_others(setup: Setup):
    first = await setup.orders.enter(template(), 100.0)
    second = await setup.orders.enter(replace(template(), pair="BTC/USDT"), 100.0)
    setup.exchange.down = {"x1"}
    setup.exchange.fill("x1", 1.0, 100.0)
    setup.exchange.fill("x2", 1.0, 99.0)
    await setup.poll()
    assert setup.exchange.fetched == ["x1", "x2"]
    assert setup.orders.pending_trades == {first.id}
    assert [t.id for t in setup.calls.entry_fills] == [second.id]
    setup.exchange.down = set()
    await setup.poll()
    assert setup.orders.pending_trades == set()


async def test_entry_orders_are_cancelled_when_their_unfilled_timeout_passes(setup: Setup):
    trade = await setup.orders.enter(template(), 100.0)
    setup.clock.advance(598)
    await setup.poll()  # 599 s old
    assert setup.exchange.cancelled == []
    await setup.poll()  # 600 s: cancelled
    assert setup.exchange.cancelled == ["x1"]
    ((record, order),) = setup.calls.cancels
    assert (record.trade_id, record.order_id, order.status) == (trade.id, "x1", "canceled")
    assert setup.repo.trades() == []
    assert setup.orders.pending_trades == set()


async def test_exit_orders_are_cancelled_after_the_exit_timeout(setup: Setup):
    trade = await setup.open_trade()
    await setup.orders.exit(trade, 110.0, "roi")
    setup.clock.advance(298)
    await setup.poll()
    assert setup.exchange.cancelled == []
    await setup.poll()  # 300 s: the exit timeout, not the entry's 600
    assert setup.exchange.cancelled == ["x2"]
    assert [(r.side, o.status) for r, o in setup.calls.cancels] == [("sell", "canceled")]
    assert setup.repo.open_trades()[0].is_open


async def test_a_timed_out_order_that_filled_meanwhile_is_settled_not_cancelled(setup: Setup):
    await setup.orders.enter(template(), 100.0)
    setup.clock.advance(900)
    setup.exchange.fill("x1", 1.0, 100.0)
    await setup.poll()
    assert setup.exchange.cancelled == [] and setup.calls.cancels == []
    assert setup.repo.open_trades()[0].amount == 1.0


async def test_the_strategy_is_asked_about_open_orders_within_their_timeout_only(setup: Setup):
    asked: list[str] = []
    answer = {"x1": False, "x2": False}

    async def ask(record: OrderRecord) -> bool:
        asked.append(record.order_id)
        return answer[record.order_id]

    setup.orders.ask_timeout = ask
    await setup.orders.enter(template(), 100.0)
    await setup.orders.enter(replace(template(), pair="BTC/USDT"), 100.0)
    await setup.poll()
    assert asked == ["x1", "x2"] and setup.exchange.cancelled == []
    setup.exchange.fill("x2", 0.5, 100.0, final=False)  # open, part filled: still asked
    answer["x1"] = True  # the strategy wants x1 gone
    await setup.poll()
    assert asked == ["x1", "x2"] * 2
    assert setup.exchange.cancelled == ["x1"]
    assert [r.order_id for r, _ in setup.calls.cancels] == ["x1"]
    setup.clock.advance(600)  # x2 timed out: cancelled whatever the strategy says
    await setup.poll()
    assert asked == ["x1", "x2"] * 2
    assert setup.exchange.cancelled == ["x1", "x2"]
    (stored,) = setup.repo.open_trades()
    assert (stored.pair, stored.amount) == ("BTC/USDT", 0.5)


async def test_the_strategy_is_not_asked_about_orders_that_are_final(setup: Setup):
    asked: list[str] = []

    async def ask(record: OrderRecord) -> bool:
        asked.append(record.order_id)
        return True

    async def price(record: OrderRecord, order: OrderState) -> float | None:
        asked.append("price " + record.order_id)
        return order.price + 1

    setup.orders.ask_timeout = ask
    setup.orders.ask_price = price
    await setup.orders.enter(template(), 100.0)
    setup.exchange.fill("x1", 1.0, 100.0)
    await setup.poll()
    assert asked == [] and setup.exchange.cancelled == []
    assert len(setup.exchange.placed) == 1


async def test_an_order_at_the_price_the_strategy_wants_is_kept(setup: Setup):
    seen: list[tuple[str, float]] = []

    async def price(record: OrderRecord, order: OrderState) -> float | None:
        seen.append((record.order_id, order.price))
        return order.price

    setup.orders.ask_price = price
    trade = await setup.orders.enter(template(), 100.0)
    await setup.poll()
    assert seen == [("x1", 100.0)]
    assert setup.exchange.cancelled == [] and len(setup.exchange.placed) == 1
    assert setup.orders.pending_trades == {trade.id}


async def test_an_order_the_strategy_prices_at_none_is_cancelled(setup: Setup):
    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return None

    setup.orders.ask_price = price
    await setup.orders.enter(template(), 100.0)
    await setup.poll()
    assert setup.exchange.cancelled == ["x1"]
    assert [(r.order_id, o.status) for r, o in setup.calls.cancels] == [("x1", "canceled")]
    assert setup.repo.trades() == [] and setup.orders.pending_trades == set()
    assert len(setup.exchange.placed) == 1


async def test_every_order_the_strategy_reprices_is_replaced_in_one_poll(setup: Setup):
    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return 80.0

    setup.orders.ask_price = price
    await setup.orders.enter(template(1.0), 100.0)
    await setup.orders.enter(replace(template(1.0), pair="BTC/USDT"), 100.0)
    await setup.poll()
    assert setup.exchange.cancelled == ["x1", "x2"]
    assert [(p[0], p[3]) for p in setup.exchange.placed[2:]] == [(PAIR, 80.0), ("BTC/USDT", 80.0)]


async def test_a_buy_repriced_by_the_strategy_is_replaced_for_the_same_stake(setup: Setup):
    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return 80.0

    setup.orders.ask_price = price
    trade = await setup.orders.enter(template(1.0), 100.0)
    assert await setup.poll() == []
    assert setup.exchange.cancelled == ["x1"]
    assert setup.exchange.placed[-1] == (PAIR, "buy", 1.25, 80.0, "limit", "GTC")
    (record,) = setup.repo.open_orders()
    assert (record.order_id, record.trade_id) == ("x2", trade.id)
    (stored,) = setup.repo.open_trades()
    assert (stored.amount, stored.open_rate) == (1.25, 80.0)
    assert setup.orders.pending_trades == {trade.id}
    assert setup.calls.cancels == []  # replaced, not cancelled


async def test_a_part_filled_sell_repriced_by_the_strategy_sells_only_the_rest(setup: Setup):
    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return 105.0 if record.side == "sell" else order.price

    trade = await setup.open_trade(0.00129, 100.0)
    setup.orders.ask_price = price
    await setup.orders.exit(trade, 110.0, "roi")
    setup.exchange.fill("x2", 0.00064, 110.0, final=False)
    assert await setup.poll() == []
    assert setup.exchange.placed[-1] == (PAIR, "sell", 0.00065, 105.0, "limit", "GTC")
    setup.exchange.fill("x3", 0.00065, 105.0)
    (closed,) = await setup.poll()
    assert closed.id == trade.id
    assert closed.close_rate == pytest.approx((0.00064 * 110 + 0.00065 * 105) / 0.00129, rel=1e-12)


async def test_a_replacement_sell_filled_as_it_is_placed_closes_the_trade(setup: Setup):
    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return 90.0

    trade = await setup.open_trade(1.0, 100.0)
    setup.orders.ask_price = price
    await setup.orders.exit(trade, 110.0, "roi")
    setup.exchange.at_once = (1.0, 90.0)
    (closed,) = await setup.poll()
    assert (closed.id, closed.close_rate, closed.exit_reason) == (trade.id, 90.0, "roi")
    assert setup.orders.pending_trades == set()


async def test_a_replacement_buy_filled_as_it_is_placed_is_settled(setup: Setup):
    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return 80.0

    setup.orders.ask_price = price
    trade = await setup.orders.enter(template(1.0), 100.0)
    setup.exchange.at_once = (1.25, 80.0)
    assert await setup.poll() == []
    (stored,) = setup.repo.open_trades()
    assert (stored.id, stored.amount, stored.open_rate) == (trade.id, 1.25, 80.0)
    assert setup.orders.pending_trades == set()
    assert [t.amount for t in setup.calls.entry_fills] == [1.25]


async def selling_repriced_to_105(setup: Setup, exchange: HandExchange) -> Trade:
    """A trade bought whole at 100 on ``exchange``, with a sell at 110 resting that the
    strategy reprices to 105 on the next poll."""

    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return 105.0

    setup.orders.exchange = setup.exchange = exchange
    trade = await setup.open_trade(1.0, 100.0)
    setup.orders.ask_price = price
    await setup.orders.exit(trade, 110.0, "roi")
    return trade


async def test_an_order_that_filled_while_being_replaced_is_settled_and_not_placed_again(
    setup: Setup,
):
    class FillsOnCancel(HandExchange):
        async def cancel_order(self, pair: str, order_id: str) -> OrderState:
            self.fill(order_id, self.orders[order_id].amount, 110.0)
            return await super().cancel_order(pair, order_id)

    exchange = FillsOnCancel()
    trade = await selling_repriced_to_105(setup, exchange)
    (closed,) = await setup.poll()
    assert (closed.id, closed.close_rate) == (trade.id, 110.0)
    assert exchange.cancelled == ["x2"] and len(exchange.placed) == 2


async def test_an_order_reported_closed_while_being_replaced_is_not_placed_again(setup: Setup):
    class ClosesOnCancel(HandExchange):
        async def cancel_order(self, pair: str, order_id: str) -> OrderState:
            await super().cancel_order(pair, order_id)
            # closed by the exchange with a part filled (its last part expired)
            self.orders[order_id] = replace(self.orders[order_id], status="closed", filled=0.6)
            return self.orders[order_id]

    exchange = ClosesOnCancel()
    trade = await selling_repriced_to_105(setup, exchange)
    assert await setup.poll() == []
    assert len(exchange.placed) == 2
    assert setup.orders.pending_trades == set()
    assert [o["filled"] for o in setup.repo.orders_for(trade.id or 0)] == [1.0, 0.6]


async def test_a_cancelled_remainder_of_nothing_is_settled_not_placed_again(setup: Setup):
    class CancelsFilled(HandExchange):
        async def cancel_order(self, pair: str, order_id: str) -> OrderState:
            # cancelled after the last of it filled: "canceled", nothing remaining
            self.fill(order_id, self.orders[order_id].amount, 110.0, final=False)
            return await super().cancel_order(pair, order_id)

    exchange = CancelsFilled()
    trade = await selling_repriced_to_105(setup, exchange)
    (closed,) = await setup.poll()
    assert (closed.id, closed.close_rate) == (trade.id, 110.0)
    assert len(exchange.placed) == 2


async def test_a_manager_without_callbacks_places_cancels_and_settles(tmp_path: Path):
    clock = FixedClock(START, manual_intervals=True)
    exchange = HandExchange()
    repo = TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}")
    orders = OrderManager(exchange, repo, TIMEOUTS, clock, poll_interval=0.0)
    exchange.at_once = (1.0, 100.0)
    trade = await orders.enter(template(1.0), 100.0)
    await orders.enter(replace(template(1.0), pair="BTC/USDT"), 100.0)
    clock.advance(600)
    await orders.update()  # the BTC buy timed out
    assert exchange.cancelled == ["x2"]
    (stored,) = repo.open_trades()
    assert stored.id == trade.id
    await orders.exit(stored, 110.0, "roi")
    exchange.fill("x3", 1.0, 110.0)
    (closed,) = await orders.update()
    assert closed.id == trade.id and orders.pending_trades == set()
    repo.close()


# --- the dry-run book ------------------------------------------------------------------


async def test_on_the_dry_run_book_a_resting_buy_fills_when_the_market_reaches_it(
    tmp_path: Path,
):
    clock = FixedClock(START)
    repo = TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}")
    market = ScriptedExchange(clock, {PAIR: [100.0, 99.0, 97.0]}, START)
    book = DryRunBook(market, "1m", lambda currency: 1e6)
    orders = OrderManager(book, repo, TIMEOUTS, clock, poll_interval=0.0)
    trade = await orders.enter(template(0.5), 98.0)
    clock.advance(60)
    assert await orders.update() == [] and orders.pending_trades == {trade.id}
    clock.advance(60)
    await orders.update()
    (stored,) = repo.open_trades()
    assert (stored.amount, stored.open_rate) == (0.5, 98.0)
    assert orders.pending_trades == set()
    closed = await orders.exit(stored, 90.0, "roi")  # crosses the bid: filled at 97
    assert closed is not None and (closed.close_rate, closed.amount) == (97.0, 0.5)
    repo.close()


# --- the order trail in the log --------------------------------------------------------
# The log is the operator's record of what the bot did with real money: one line per
# order event, naming the order, the pair, the amount and the price (docs/cli.md).


def trail(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.levelname, r.getMessage()) for r in caplog.records if r.name == "candlecast.bot.orders"
    ]


async def test_the_log_tells_each_step_of_a_trade_from_buy_to_exit(
    setup: Setup, caplog: pytest.LogCaptureFixture
):
    caplog.set_level("INFO", logger="candlecast.bot.orders")
    trade = await setup.orders.enter(template(0.5), 2000.0)
    setup.exchange.fill("x1", 0.5, 1995.5)
    await setup.poll()
    (trade,) = setup.repo.open_trades()
    await setup.orders.add_entry(trade, 0.25, 1900.0, "dca")
    await setup.exchange.cancel_order(PAIR, "x2")
    await setup.poll()
    await setup.orders.add_entry(trade, 0.25, 1900.0, "dca")
    setup.exchange.fill("x3", 0.25, 1899.0)
    await setup.poll()
    (trade,) = setup.repo.open_trades()
    await setup.orders.exit(trade, 2100.0, "roi")
    setup.exchange.fill("x4", 0.75, 2101.25)
    (closed,) = await setup.poll()
    assert closed.close_profit is not None
    profit = f"{closed.close_profit * 100:.2f}"
    assert trail(caplog) == [
        ("INFO", "Placed buy order x1: 0.5 ETH/USDT @ 2000"),
        ("INFO", "Bought 0.5 ETH/USDT @ 1995.5 (order x1)"),
        ("INFO", "Placed added buy order x2: 0.25 ETH/USDT @ 1900"),
        ("INFO", "Buy order x2 for ETH/USDT cancelled unfilled"),  # not "Bought"
        ("INFO", "Placed added buy order x3: 0.25 ETH/USDT @ 1900"),
        (
            "INFO",
            "Bought 0.25 ETH/USDT @ 1899 (order x3); "
            f"the trade now holds 0.75 @ {trade.open_rate:.10g}",
        ),
        ("INFO", "Placed sell order x4 (roi): 0.75 ETH/USDT @ 2100"),
        ("INFO", f"Exited ETH/USDT (roi) at 2101.25: profit {profit}%"),
    ]
    assert trade.open_rate == pytest.approx((0.5 * 1995.5 + 0.25 * 1899.0) / 0.75, rel=1e-12)


async def test_the_log_says_why_an_order_was_cancelled_or_replaced(
    setup: Setup, caplog: pytest.LogCaptureFixture
):
    caplog.set_level("INFO", logger="candlecast.bot.orders")
    await setup.orders.enter(template(), 100.0)  # x1: times out
    setup.clock.advance(599)
    await setup.poll()

    async def ask(record: OrderRecord) -> bool:
        return True

    setup.orders.ask_timeout = ask  # check_entry_timeout: the strategy times x2 out
    await setup.orders.enter(template(), 100.0)
    setup.clock.advance(29)
    await setup.poll()
    setup.orders.ask_timeout = None
    prices: dict[str, float | None] = {"x3": None, "x4": 80.0}

    async def price(record: OrderRecord, order: OrderState) -> float | None:
        return prices[record.order_id]

    setup.orders.ask_price = price
    await setup.orders.enter(template(), 100.0)  # x3: the strategy prices it at None
    await setup.orders.enter(template(2.0), 100.0)  # x4: repriced, replaced by x5
    await setup.poll()
    lines = [line for level, line in trail(caplog) if not line.startswith("Placed")]
    assert lines == [
        "Cancelling buy order x1 for ETH/USDT: unfilled after 600 s",
        "Buy order x1 for ETH/USDT cancelled unfilled",
        "Cancelling buy order x2 for ETH/USDT: unfilled after 30 s",
        "Buy order x2 for ETH/USDT cancelled unfilled",
        "Cancelling buy order x3 for ETH/USDT: asked by the strategy",
        "Buy order x3 for ETH/USDT cancelled unfilled",
        "Replaced buy order x4 for ETH/USDT by x5: 2.5 @ 80",  # the same stake
    ]


async def test_the_log_warns_of_an_unreadable_order_and_of_a_rest_left_unsold(
    setup: Setup, caplog: pytest.LogCaptureFixture
):
    caplog.set_level("INFO", logger="candlecast.bot.orders")
    trade = await setup.open_trade(1.0, 100.0)
    await setup.orders.exit(trade, 110.0, "roi")
    setup.exchange.down = {"x2"}
    await setup.poll()
    setup.exchange.down = set()
    setup.exchange.fill("x2", 0.99, 110.0)  # cancelled, 0.01 left
    await setup.poll()
    refusal = InvalidOrderError(f"{PAIR}: amount 0.01 is below the minimum 0.1")
    setup.exchange.refuse = refusal
    closed = await setup.orders.exit(trade, 105.0, "roi")
    assert closed is not None
    warnings = [line for level, line in trail(caplog) if level == "WARNING"]
    assert closed.close_profit is not None
    profit = f"{closed.close_profit * 100:.2f}"
    assert warnings == [
        f"Order x2 (ETH/USDT): {PAIR}: order x2 could not be read",
        f"Closed ETH/USDT with 0.01 left unsold ({refusal}); profit {profit}% on the sold part",
    ]
