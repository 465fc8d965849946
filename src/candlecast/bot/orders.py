"""Live orders (``dry_run: false``): place, poll, cancel on timeout, settle into trades.

Every state change is stored before the next exchange call, so a bot killed at any
moment finds its open orders in the database on restart and goes on polling them.

- An entry is a limit buy at the ask. The trade exists from the moment the order is
  placed (it counts against ``max_open_trades``) and takes the order's fill when the
  order is final. Cancelled without any fill, the trade is deleted.
- An exit is a limit sell at the bid for what is still held. Cancelled with a partial
  fill, the sold part stays recorded and the next exit sells the rest; the trade
  closes at the average price of all its sell fills.
- Orders still open after ``unfilledtimeout`` are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from candlecast.clock import Clock
from candlecast.config.models import UnfilledTimeoutConfig
from candlecast.domain.orders import OrderState
from candlecast.domain.trades import OrderRecord, Trade, exact_difference
from candlecast.exceptions import ExchangeError, InvalidOrderError
from candlecast.exchange.base import Exchange
from candlecast.persistence.repository import TradeRepository

logger = logging.getLogger(__name__)

#: Open orders are polled at most this often (seconds), however often the bot cycles.
POLL_INTERVAL = 2.0


class OrderManager:
    def __init__(
        self,
        exchange: Exchange,
        repository: TradeRepository,
        timeouts: UnfilledTimeoutConfig,
        clock: Clock,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.exchange = exchange
        self.repository = repository
        self.timeouts = timeouts
        self.clock = clock
        self.poll_interval = poll_interval
        #: awaited with the trade after a buy order filled (wholly or in part) and is final
        self.on_entry_fill: Callable[[Trade], Awaitable[None]] | None = None
        #: told of each entry order placed (the bot's ``entry`` event)
        self.on_entry_placed: Callable[[Trade], None] | None = None
        #: told of each order cancelled unfilled (the bot's ``entry_cancel``/``exit_cancel``)
        self.on_cancel: Callable[[OrderRecord, OrderState], None] | None = None
        #: awaited for an order still open within its timeout: True cancels it now
        #: (the strategy's check_entry_timeout / check_exit_timeout)
        self.ask_timeout: Callable[[OrderRecord], Awaitable[bool]] | None = None
        #: awaited once an order is final with a fill (the strategy's order_filled)
        self.on_order_filled: Callable[[OrderRecord], Awaitable[None]] | None = None
        #: awaited for an open order within its timeout: the price it should have (its
        #: own: kept; another: replaced there; None: cancelled), the strategy's
        #: adjust_entry_price / adjust_exit_price
        self.ask_price: Callable[[OrderRecord, OrderState], Awaitable[float | None]] | None = None
        self._polled_at = float("-inf")
        self._pending: set[int] = {o.trade_id for o in repository.open_orders()}

    @property
    def pending_trades(self) -> set[int]:
        """Trades with an order open on the exchange (no new order is placed for them)."""
        return set(self._pending)

    async def enter(
        self, template: Trade, price: float, order_type: str = "limit", time_in_force: str = "GTC"
    ) -> Trade:
        """Place the buy for ``template`` (its amount at ``price``); store the trade."""
        order = await self.exchange.create_order(
            template.pair, "buy", template.amount, price, order_type, time_in_force
        )
        now = self.clock.now()
        trade = replace(
            template,
            open_rate=order.price,
            amount=order.amount,
            stake_amount=order.amount * order.price * (1 + template.fee_open),
        )
        stored, record = await asyncio.to_thread(
            self.repository.add_pending_entry, trade, order, now
        )
        self._pending.add(record.trade_id)
        logger.info(
            "Placed buy order %s: %.10g %s @ %.10g", order.id, order.amount, trade.pair, order.price
        )
        if self.on_entry_placed is not None:
            self.on_entry_placed(stored)
        if order.status != "open":
            await self._settle(record, order)
        return stored

    async def add_entry(
        self,
        trade: Trade,
        amount: float,
        price: float,
        tag: str | None,
        order_type: str = "limit",
        time_in_force: str = "GTC",
    ) -> None:
        """Position adjustment: place a buy adding ``amount`` to the open ``trade``; when
        it fills, the trade's amount and average open rate take it in."""
        assert trade.id is not None
        order = await self.exchange.create_order(
            trade.pair, "buy", amount, price, order_type, time_in_force
        )
        record = await asyncio.to_thread(
            self.repository.add_entry_order, trade, order, self.clock.now(), tag
        )
        self._pending.add(trade.id)
        logger.info(
            "Placed added buy order %s: %.10g %s @ %.10g",
            order.id,
            order.amount,
            trade.pair,
            order.price,
        )
        if order.status != "open":
            await self._settle(record, order)

    async def exit(
        self,
        trade: Trade,
        price: float,
        reason: str,
        amount: float | None = None,
        order_type: str = "limit",
        time_in_force: str = "GTC",
    ) -> Trade | None:
        """Place a sell for what ``trade`` still holds (or ``amount`` of it: a partial
        exit); return the trade if that closed it (filled at once, or only dust was left)."""
        assert trade.id is not None
        sold = await asyncio.to_thread(self.repository.sold_amount, trade.id)
        remaining = exact_difference(trade.amount, [sold])
        if amount is not None:
            remaining = min(remaining, amount)
        try:
            order = await self.exchange.create_order(
                trade.pair, "sell", remaining, price, order_type, time_in_force
            )
        except InvalidOrderError as exc:
            if sold <= 0 or amount is not None:
                raise
            # what is left is below the market's minimum: it stays in the wallet as dust
            closed = await asyncio.to_thread(
                self.repository.close_sold_part, trade, self.clock.now()
            )
            logger.warning(
                "Closed %s with %.10g left unsold (%s); profit %.2f%% on the sold part",
                trade.pair,
                remaining,
                exc,
                (closed.close_profit or 0) * 100 if closed else 0.0,
            )
            return closed
        now = self.clock.now()
        record, closed = await asyncio.to_thread(
            self.repository.add_exit_order, trade, order, reason, now
        )
        self._pending.add(trade.id)
        logger.info(
            "Placed sell order %s (%s): %.10g %s @ %.10g",
            order.id,
            reason,
            order.amount,
            trade.pair,
            order.price,
        )
        if order.status != "open":  # settled at once, and stored so in one transaction
            return await self._exit_settled(record, order, closed)
        return None

    async def update(self) -> list[Trade]:
        """Poll open orders (at most every ``poll_interval`` s); return trades closed by sells."""
        now = self.clock.monotonic()
        if now - self._polled_at < self.poll_interval:
            return []
        self._polled_at = now
        closed: list[Trade] = []
        records = await asyncio.to_thread(self.repository.open_orders)
        self._pending = {r.trade_id for r in records}
        for record in records:
            try:
                order = await self.exchange.fetch_order(record.pair, record.order_id)
                side = "entry" if record.side == "buy" else "exit"
                age = (self.clock.now() - record.created_at).total_seconds()
                timed_out = age >= self.timeouts.seconds(side)
                if order.status == "open" and not timed_out and self.ask_timeout is not None:
                    timed_out = await self.ask_timeout(record)
                if order.status == "open" and timed_out:
                    logger.info(
                        "Cancelling %s order %s for %s: unfilled after %.0f s",
                        record.side,
                        record.order_id,
                        record.pair,
                        age,
                    )
                    order = await self.exchange.cancel_order(record.pair, record.order_id)
                    if self.on_cancel is not None:
                        self.on_cancel(record, order)
                elif order.status == "open" and self.ask_price is not None:
                    price = await self.ask_price(record, order)
                    if price is None:
                        logger.info(
                            "Cancelling %s order %s for %s: asked by the strategy",
                            record.side,
                            record.order_id,
                            record.pair,
                        )
                        order = await self.exchange.cancel_order(record.pair, record.order_id)
                        if self.on_cancel is not None:
                            self.on_cancel(record, order)
                    elif price != order.price:
                        done = await self._replace(record, price)
                        if done is not None:
                            closed.append(done)
                        continue
            except ExchangeError as exc:
                logger.warning("Order %s (%s): %s", record.order_id, record.pair, exc)
                continue
            trade = await self._settle(record, order)
            if trade is not None:
                closed.append(trade)
        return closed

    async def _replace(self, record: OrderRecord, price: float) -> Trade | None:
        """Cancel ``record``'s order and place the rest at ``price`` (a limit order) on the
        same trade (a buy: for the same stake); return the trade if a sell closed it."""
        cancelled = await self.exchange.cancel_order(record.pair, record.order_id)
        rest = cancelled.remaining
        if cancelled.status == "closed" or rest <= 0:
            return await self._settle(record, cancelled)  # it filled meanwhile
        if record.side == "buy":  # the same stake at the new price, as freqtrade
            rest = rest * cancelled.price / price
        new = await self.exchange.create_order(record.pair, record.side, rest, price)
        new_record = await asyncio.to_thread(
            self.repository.replace_order, record, cancelled, new, self.clock.now()
        )
        logger.info(
            "Replaced %s order %s for %s by %s: %.10g @ %.10g",
            record.side,
            record.order_id,
            record.pair,
            new.id,
            new.amount,
            new.price,
        )
        if new.status != "open":
            return await self._settle(new_record, new)
        return None

    async def _settle(self, record: OrderRecord, order: OrderState) -> Trade | None:
        now = self.clock.now()
        if record.side == "buy":
            trade = await asyncio.to_thread(self.repository.settle_entry, record, order, now)
            if order.status != "open":
                self._pending.discard(record.trade_id)
                if trade is None or order.filled <= 0:
                    logger.info("Buy order %s for %s cancelled unfilled", order.id, record.pair)
                else:
                    _log_bought(trade, order)
                    if self.on_order_filled is not None:
                        await self.on_order_filled(record)
                    if self.on_entry_fill is not None:
                        await self.on_entry_fill(trade)
            return None
        closed = await asyncio.to_thread(self.repository.settle_exit, record, order, now)
        return await self._exit_settled(record, order, closed)

    async def _exit_settled(
        self, record: OrderRecord, order: OrderState, closed: Trade | None
    ) -> Trade | None:
        """What follows a sell order's stored progress: its callbacks, and the log line of
        the trade it closed."""
        if order.status != "open":
            self._pending.discard(record.trade_id)
            if order.filled > 0 and self.on_order_filled is not None:
                await self.on_order_filled(record)
        if closed is not None:
            logger.info(
                "Exited %s (%s) at %.10g: profit %.2f%%",
                closed.pair,
                closed.exit_reason,
                closed.close_rate or 0,
                (closed.close_profit or 0) * 100,
            )
        return closed


def _log_bought(trade: Trade, order: OrderState) -> None:
    """The log line of a buy order's fill: what it bought, and what the trade then holds
    when that is more (an added entry)."""
    price = order.average or order.price
    if order.filled == trade.amount:
        logger.info("Bought %.10g %s @ %.10g (order %s)", order.filled, trade.pair, price, order.id)
    else:
        logger.info(
            "Bought %.10g %s @ %.10g (order %s); the trade now holds %.10g @ %.10g",
            order.filled,
            trade.pair,
            price,
            order.id,
            trade.amount,
            trade.open_rate,
        )
