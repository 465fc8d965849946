"""``order_types.stoploss_on_exchange``: the trade's stop as an order on the exchange.

As freqtrade:

- once an entry fills, a sell stop order for what the trade holds is placed at the
  trade's stop (``stoploss`` order type "limit": a stop-limit whose limit is
  ``stoploss_on_exchange_limit_ratio`` x the stop; "market": a stop-market);
- each cycle the order is re-read from the exchange: its fill closes the trade with
  exit reason "stoploss_on_exchange"; an order cancelled on the exchange (by hand) is
  placed again;
- when the stop moves up (trailing stop, custom stoploss), the order is cancelled and
  placed again at the new stop, at most once per ``stoploss_on_exchange_interval``;
  an added entry (position adjustment) replaces it at once for the new amount;
- before any other exit order the stop order is cancelled (it holds the amount);
- placing it fails for good (the exchange refuses it, e.g. a stop above the price):
  the trade exits at once with an ``emergency_exit`` order, reason "emergency_exit".

The stop order is a row of the orders table (``ft_order_side`` "stoploss"), stored
before the next exchange call, so a restarted bot (even after ``kill -9``) re-reads it
from the exchange.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from candlecast.bot.ordertypes import OrderPlan
from candlecast.clock import Clock
from candlecast.domain.orders import OrderState
from candlecast.domain.trades import OrderRecord, Trade, exact_difference
from candlecast.exceptions import ExchangeError, InvalidOrderError
from candlecast.exchange.base import Exchange
from candlecast.persistence.repository import TradeRepository

logger = logging.getLogger(__name__)

EMERGENCY_EXIT = "emergency_exit"
#: a stop counts as moved when it rose by more than this ratio (price rounding aside)
MOVE_EPSILON = 1e-9


@dataclass(frozen=True)
class Cancelled:
    """What cancelling a trade's stop order left: ``freed`` when no stop order holds the
    amount any more; ``closed`` the trade when the stop order had filled meanwhile."""

    freed: bool
    closed: Trade | None = None


class StopOrderManager:
    def __init__(
        self,
        exchange: Exchange,
        repository: TradeRepository,
        clock: Clock,
        plan: OrderPlan,
    ) -> None:
        self.exchange = exchange
        self.repository = repository
        self.clock = clock
        self.order_type = plan.stoploss
        self.interval = plan.stoploss_on_exchange_interval
        self.limit_ratio = plan.stoploss_on_exchange_limit_ratio
        self._open: dict[int, OrderRecord] = {}
        #: awaited once a stop order is final with a fill (the strategy's order_filled)
        self.on_order_filled: Callable[[OrderRecord], Awaitable[None]] | None = None

    def open_stop(self, trade_id: int | None) -> OrderRecord | None:
        """The trade's stop order open on the exchange (as of the last ``update``)."""
        return None if trade_id is None else self._open.get(trade_id)

    async def update(self) -> list[Trade]:
        """Re-read every open stop order; return the trades their fills closed."""
        records = await asyncio.to_thread(self.repository.open_stop_orders)
        open_ids = {t.id for t in await asyncio.to_thread(self.repository.open_trades)}
        closed: list[Trade] = []
        still_open: dict[int, OrderRecord] = {}
        for record in records:
            try:
                if record.trade_id not in open_ids:  # the trade closed some other way
                    order = await self.exchange.cancel_stop_order(record.pair, record.order_id)
                else:
                    order = await self.exchange.fetch_stop_order(record.pair, record.order_id)
            except ExchangeError as exc:
                logger.warning("Stop order %s (%s): %s", record.order_id, record.pair, exc)
                still_open[record.trade_id] = record
                continue
            trade = await self._settle(record, order)
            if trade is not None:
                closed.append(trade)
            elif order.status == "open":
                still_open[record.trade_id] = record
            elif record.trade_id in open_ids:
                logger.warning(
                    "Stop order %s of %s was cancelled on the exchange; placing it again",
                    record.order_id,
                    record.pair,
                )
        self._open = still_open
        return closed

    async def _settle(self, record: OrderRecord, order: OrderState) -> Trade | None:
        closed = await asyncio.to_thread(
            self.repository.settle_exit, record, order, self.clock.now()
        )
        return await self._settled(record, order, closed)

    async def _settled(
        self, record: OrderRecord, order: OrderState, closed: Trade | None
    ) -> Trade | None:
        """What follows a stop order's stored progress: order_filled, the log line."""
        if order.status != "open" and order.filled > 0 and self.on_order_filled is not None:
            await self.on_order_filled(record)
        if closed is not None:
            self._open.pop(record.trade_id, None)
            logger.info(
                "Exited %s (%s) at %.10g: profit %.2f%%",
                closed.pair,
                closed.exit_reason,
                closed.close_rate or 0,
                (closed.close_profit or 0) * 100,
            )
        return closed

    async def place(self, trade: Trade) -> Trade | None:
        """Place the stop order of ``trade`` at its stop; return the trade if the order
        filled at once (the price was already below the stop) and closed it.

        Raises:
            InvalidOrderError: the exchange refused the order (the caller exits the trade).
        """
        assert trade.id is not None
        if trade.stop_loss is None or not trade.stop_loss > 0:
            return None
        sold = await asyncio.to_thread(self.repository.sold_amount, trade.id)
        amount = exact_difference(trade.amount, [sold])
        if amount <= 0:
            return None
        stop = trade.stop_loss
        limit = stop * self.limit_ratio if self.order_type == "limit" else None
        try:
            order = await self.exchange.create_stop_order(
                trade.pair, amount, stop, limit, self.order_type
            )
        except InvalidOrderError:
            raise
        except ExchangeError as exc:
            logger.warning(
                "Stop order of %s not placed (tried again next cycle): %s", trade.pair, exc
            )
            return None
        record, closed = await asyncio.to_thread(
            self.repository.add_stop_order, trade, order, stop, self.clock.now()
        )
        logger.info(
            "Placed stop-%s order %s: %.10g %s, stop %.10g",
            self.order_type,
            order.id,
            order.amount,
            trade.pair,
            stop,
        )
        if order.status == "open":
            self._open[trade.id] = record
            return None
        return await self._settled(record, order, closed)  # stored in one transaction

    async def cancel(self, trade_id: int | None) -> Cancelled:
        """Cancel the trade's open stop order, if it has one."""
        record = self.open_stop(trade_id)
        if record is None:
            return Cancelled(freed=True)
        try:
            order = await self.exchange.cancel_stop_order(record.pair, record.order_id)
        except ExchangeError as exc:
            logger.warning(
                "Stop order %s of %s not cancelled: %s", record.order_id, record.pair, exc
            )
            return Cancelled(freed=False)
        closed = await self._settle(record, order)
        if order.status == "open":  # the exchange would not cancel it
            return Cancelled(freed=False)
        self._open.pop(record.trade_id, None)
        return Cancelled(freed=closed is None, closed=closed)

    def is_due(self, trade: Trade) -> bool:
        """Whether ``trade``'s stop order is missing, or its stop rose above the order's
        and the order has waited ``stoploss_on_exchange_interval``."""
        record = self.open_stop(trade.id)
        if record is None:
            return True
        if trade.stop_loss is None or record.stop_price is None:
            return False
        moved = trade.stop_loss > record.stop_price * (1 + MOVE_EPSILON)
        age = (self.clock.now() - record.created_at).total_seconds()
        return moved and age >= self.interval

    async def maintain(self, trade: Trade, force: bool = False) -> Trade | None:
        """Place the stop order when it is missing; replace it when ``is_due`` (or
        ``force``: after an added entry changed the amount). Returns the trade if it
        closed (the old order had filled, or the new one filled at once)."""
        if not force and not self.is_due(trade):
            return None
        if self.open_stop(trade.id) is not None:
            cancelled = await self.cancel(trade.id)
            if cancelled.closed is not None or not cancelled.freed:
                return cancelled.closed
        return await self.place(trade)
